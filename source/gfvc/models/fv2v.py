"""FV2V: face-vid2vid (Wang et al., "One-shot free-view neural talking-head synthesis for video
conferencing", CVPR 2021), as in the GFVC reference software (source/GFVC/FV2V, itself the
public re-implementation with a ResNet-50-like head-pose estimator).

Face parameters (``FV2VModel.analyse``), per picture:

* ``kp_canonical`` (N, K, 3): canonical 3-D keypoints (x, y, z in [-1, 1]) from the keypoint
  detector (identity/geometry; the decoder takes them from the reference picture);
* ``yaw``, ``pitch``, ``roll`` (N,): head pose in degrees, the expectation of 66 bins of 3
  degrees (softmax(logits) . [0..65] * 3 - 99);
* ``rot_mat`` (N, 3, 3): the rotation R = R_roll R_pitch R_yaw built from those angles;
* ``t`` (N, 3): translation; ``exp`` (N, 3K): expression deformation of each keypoint.

Synthesis: the keypoints of a picture are ``R kp_canonical + t + exp``; the generator warps a
3-D feature volume of the reference picture from the reference keypoints to the target ones
and decodes it. The target needs only ``rot_mat``, ``t`` and ``exp`` (what the public FV2V
decoder receives); the reference also needs ``kp_canonical``.

Reference behaviour reproduced on purpose:

* degrees -> radians uses 3.14, not pi (``deg / 180 * 3.14``);
* the head-pose estimator's fully-connected heads are crossed: the reported ``yaw`` comes
  from ``fc_roll`` and ``roll`` from ``fc_yaw`` (``pitch`` from ``fc_pitch``);
* the estimator's trunk has hard-coded widths 256..2048 (about 30.2M parameters whatever
  ``he_estimator_params.max_features`` says; only ``block_expansion`` sets the stem width).
"""
from __future__ import annotations

from typing import Mapping

import torch
import torch.nn.functional as F
from torch import nn

from .base import FaceModel, ModelConfigError, batch_size_of
from .blocks import AntiAliasInterpolation2d, ResBlock2d, SameBlock2d, make_down_blocks, make_up_blocks, resize_like
from .blocks3d import (Hourglass3d, KPHourglass, ResBlock3d, ResBottleneck, kp2gaussian_3d,
                       make_coordinate_grid_3d)
from .registry import register_family

KP_VARIANCE = 0.01
HEAD_POSE_BIN_DEGREES = 3.0
HEAD_POSE_OFFSET_DEGREES = 99.0
REFERENCE_PI = 3.14   # the reference's approximation of pi in degrees -> radians


# --------------------------------------------------------------------------------------------- head pose
def headpose_bins_to_degrees(logits: torch.Tensor) -> torch.Tensor:
    """Bin logits (N, bins) -> angle in degrees (N,): E[bin index] * 3 - 99."""
    index = torch.arange(logits.shape[1], dtype=logits.dtype, device=logits.device)
    probabilities = F.softmax(logits, dim=1)
    return torch.sum(probabilities * index, dim=1) * HEAD_POSE_BIN_DEGREES - HEAD_POSE_OFFSET_DEGREES


def rotation_matrix(yaw: torch.Tensor, pitch: torch.Tensor, roll: torch.Tensor) -> torch.Tensor:
    """Angles in degrees (N,) -> R = R_roll(x axis) R_pitch(y axis) R_yaw(z axis), (N, 3, 3)."""
    yaw, pitch, roll = (a / 180 * REFERENCE_PI for a in (yaw, pitch, roll))
    one, zero = torch.ones_like(roll), torch.zeros_like(roll)

    def matrix(*rows):
        return torch.stack(rows, dim=1).view(-1, 3, 3)

    roll_mat = matrix(one, zero, zero, zero, torch.cos(roll), -torch.sin(roll),
                      zero, torch.sin(roll), torch.cos(roll))
    pitch_mat = matrix(torch.cos(pitch), zero, torch.sin(pitch), zero, one, zero,
                       -torch.sin(pitch), zero, torch.cos(pitch))
    yaw_mat = matrix(torch.cos(yaw), -torch.sin(yaw), zero, torch.sin(yaw), torch.cos(yaw), zero,
                     zero, zero, one)
    return torch.einsum("bij,bjk,bkm->bim", roll_mat, pitch_mat, yaw_mat)


def transform_keypoints(kp_canonical: torch.Tensor, rot_mat: torch.Tensor, t: torch.Tensor,
                        exp: torch.Tensor) -> torch.Tensor:
    """Canonical keypoints (N, K, 3) -> posed keypoints R kp + t + exp, (N, K, 3)."""
    rotated = torch.einsum("bmp,bkp->bkm", rot_mat, kp_canonical)
    translated = rotated + t.reshape(t.shape[0], 1, 3).repeat(1, kp_canonical.shape[1], 1)
    return translated + exp.reshape(exp.shape[0], -1, 3)


# --------------------------------------------------------------------------------------------- analysis
class CanonicalKeypointDetector(nn.Module):
    """Picture -> canonical 3-D keypoints (the reference's FV2V ``KPDetector``, checkpoint key
    ``kp_detector``): KPHourglass volume, 3x3x3 conv to K logit volumes, spatial softmax with
    ``temperature``, expected (x, y, z)."""

    def __init__(self, block_expansion: int, feature_channel: int, num_kp: int, image_channel: int,
                 max_features: int, reshape_channel: int, reshape_depth: int, num_blocks: int,
                 temperature: float, estimate_jacobian: bool = False, scale_factor: float = 1,
                 single_jacobian_map: bool = False):
        super().__init__()
        if estimate_jacobian:
            raise ModelConfigError("FV2V: estimate_jacobian=True is not supported (the published "
                                   "FV2V models do not use keypoint jacobians)")
        self.predictor = KPHourglass(block_expansion, in_features=image_channel,
                                     max_features=max_features, reshape_features=reshape_channel,
                                     reshape_depth=reshape_depth, num_blocks=num_blocks)
        self.kp = nn.Conv3d(self.predictor.out_filters, num_kp, kernel_size=3, padding=1)
        self.temperature = temperature
        self.scale_factor = scale_factor
        if scale_factor != 1:
            self.down = AntiAliasInterpolation2d(image_channel, scale_factor)

    def forward(self, x: torch.Tensor) -> dict:
        if self.scale_factor != 1:
            x = self.down(x)
        prediction = self.kp(self.predictor(x))
        shape = prediction.shape
        heatmap = F.softmax(prediction.view(shape[0], shape[1], -1) / self.temperature, dim=2)
        heatmap = heatmap.view(*shape).unsqueeze(-1)
        grid = make_coordinate_grid_3d(shape[2:], heatmap.dtype, heatmap.device)
        value = (heatmap * grid.unsqueeze(0).unsqueeze(0)).sum(dim=(2, 3, 4))
        return {"value": value}


class HeadExpressionEstimator(nn.Module):
    """Picture -> head pose bin logits, translation, expression (the reference's ``HEEstimator``,
    checkpoint key ``he_estimator``). ResNet-50-like trunk with hard-coded widths;
    ``feature_channel``, ``max_features`` and ``estimate_jacobian`` are accepted (the reference
    signature) but unused."""

    TRUNK = (  # (stage name, width, number of stride-1 bottlenecks), each after a widening 1x1 conv
        ("block1", 256, 3), ("block3", 512, 3), ("block5", 1024, 5), ("block7", 2048, 2))

    def __init__(self, block_expansion: int, feature_channel: int, num_kp: int, image_channel: int,
                 max_features: int, num_bins: int = 66, estimate_jacobian: bool = True):
        super().__init__()
        self.conv1 = nn.Conv2d(image_channel, block_expansion, kernel_size=7, padding=3, stride=2)
        self.norm1 = nn.BatchNorm2d(block_expansion, affine=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        # Registration order = the reference's state_dict order:
        # conv2 norm2 block1 | conv3 norm3 block2 block3 | conv4 norm4 block4 block5 | conv5 ...
        in_width = block_expansion
        for stage, (name, width, repeats) in enumerate(self.TRUNK):
            index = stage + 2
            self.add_module(f"conv{index}", nn.Conv2d(in_width, width, kernel_size=1))
            self.add_module(f"norm{index}", nn.BatchNorm2d(width, affine=True))
            if stage > 0:   # every stage but the first starts with a strided bottleneck
                self.add_module(f"block{2 * stage}", ResBottleneck(width, stride=2))
            blocks = nn.Sequential()
            prefix = name.replace("block", "b")
            for i in range(repeats):
                blocks.add_module(f"{prefix}_{i}", ResBottleneck(width, stride=1))
            self.add_module(name, blocks)
            in_width = width
        self.fc_roll = nn.Linear(in_width, num_bins)
        self.fc_pitch = nn.Linear(in_width, num_bins)
        self.fc_yaw = nn.Linear(in_width, num_bins)
        self.fc_t = nn.Linear(in_width, 3)
        self.fc_exp = nn.Linear(in_width, 3 * num_kp)

    def forward(self, x: torch.Tensor) -> dict:
        out = self.maxpool(F.relu(self.norm1(self.conv1(x))))
        for stage, (name, _, _) in enumerate(self.TRUNK):
            index = stage + 2
            out = F.relu(getattr(self, f"norm{index}")(getattr(self, f"conv{index}")(out)))
            if stage > 0:
                out = getattr(self, f"block{2 * stage}")(out)
            out = getattr(self, name)(out)
        out = F.adaptive_avg_pool2d(out, 1).flatten(1)
        # Crossed heads, as in the reference (see module docstring).
        return {"yaw": self.fc_roll(out), "pitch": self.fc_pitch(out), "roll": self.fc_yaw(out),
                "t": self.fc_t(out), "exp": self.fc_exp(out)}


# --------------------------------------------------------------------------------------------- synthesis
class LeakySameBlock2d(SameBlock2d):
    """SameBlock2d with LeakyReLU (slope 0.01) instead of ReLU (the reference's ``lrelu=True``)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(self.norm(self.conv(x)))


class FV2VDenseMotionNetwork(nn.Module):
    """3-D dense motion from source/driving keypoints on a compressed feature volume."""

    def __init__(self, block_expansion: int, num_blocks: int, max_features: int, num_kp: int,
                 feature_channel: int, reshape_depth: int, compress: int,
                 estimate_occlusion_map: bool = False):
        super().__init__()
        self.hourglass = Hourglass3d(block_expansion=block_expansion,
                                     in_features=(num_kp + 1) * (compress + 1),
                                     max_features=max_features, num_blocks=num_blocks)
        self.mask = nn.Conv3d(self.hourglass.out_filters, num_kp + 1, kernel_size=7, padding=3)
        self.compress = nn.Conv3d(feature_channel, compress, kernel_size=1)
        self.norm = nn.BatchNorm3d(compress, affine=True)
        self.occlusion = (nn.Conv2d(self.hourglass.out_filters * reshape_depth, 1, kernel_size=7, padding=3)
                          if estimate_occlusion_map else None)
        self.num_kp = num_kp

    def sparse_motions(self, feature: torch.Tensor, kp_driving: torch.Tensor,
                       kp_source: torch.Tensor) -> torch.Tensor:
        """(N, K+1, D, H, W, 3): identity (background) then per-keypoint translations."""
        n, _, d, h, w = feature.shape
        identity = make_coordinate_grid_3d((d, h, w), kp_source.dtype, kp_source.device).view(1, 1, d, h, w, 3)
        driving_to_source = (identity - kp_driving.view(n, self.num_kp, 1, 1, 1, 3)
                             + kp_source.view(n, self.num_kp, 1, 1, 1, 3))
        return torch.cat([identity.repeat(n, 1, 1, 1, 1, 1), driving_to_source], dim=1)

    def deformed_features(self, feature: torch.Tensor, sparse_motions: torch.Tensor) -> torch.Tensor:
        """(N, K+1, C, D, H, W): the feature volume warped by each sparse motion."""
        n, _, d, h, w = feature.shape
        k1 = self.num_kp + 1
        repeated = feature.unsqueeze(1).repeat(1, k1, 1, 1, 1, 1).view(n * k1, -1, d, h, w)
        deformed = F.grid_sample(repeated, sparse_motions.view(n * k1, d, h, w, 3), align_corners=True)
        return deformed.view(n, k1, -1, d, h, w)

    def prepare_reference(self, feature: torch.Tensor, kp_source: Mapping) -> dict:
        """The target-independent part: the compressed source volume, the source keypoints and their
        gaussians."""
        _, _, d, h, w = feature.shape
        kp_s = kp_source["value"]
        return {"feature": F.relu(self.norm(self.compress(feature))), "kp": kp_s,
                "gaussian": kp2gaussian_3d(kp_s, (d, h, w), KP_VARIANCE)}

    def forward(self, feature: torch.Tensor, kp_driving: Mapping, kp_source: Mapping) -> dict:
        return self.forward_prepared(self.prepare_reference(feature, kp_source), kp_driving)

    def forward_prepared(self, prepared: dict, kp_driving: Mapping) -> dict:
        """forward() from :meth:`prepare_reference`'s output; a batch-1 source serves N targets."""
        kp_d = kp_driving["value"]
        n = kp_d.shape[0]
        feature = prepared["feature"].expand(n, -1, -1, -1, -1)
        _, _, d, h, w = feature.shape
        sparse_motion = self.sparse_motions(feature, kp_d, prepared["kp"].expand(n, -1, -1))
        deformed = self.deformed_features(feature, sparse_motion)
        # gaussian(driving) - gaussian(source), zero background first: (N, K+1, 1, D, H, W)
        heatmap = kp2gaussian_3d(kp_d, (d, h, w), KP_VARIANCE) - prepared["gaussian"]
        zeros = torch.zeros(n, 1, d, h, w, dtype=heatmap.dtype, device=heatmap.device)
        heatmap = torch.cat([zeros, heatmap], dim=1).unsqueeze(2)
        prediction = self.hourglass(torch.cat([heatmap, deformed], dim=2).view(n, -1, d, h, w))
        mask = F.softmax(self.mask(prediction), dim=1)
        deformation = (sparse_motion.permute(0, 1, 5, 2, 3, 4) * mask.unsqueeze(2)).sum(dim=1)
        out = {"mask": mask, "deformation": deformation.permute(0, 2, 3, 4, 1)}
        if self.occlusion is not None:
            out["occlusion_map"] = torch.sigmoid(self.occlusion(prediction.view(n, -1, h, w)))
        return out


class FV2VGenerator(nn.Module):
    """Reference picture + source/driving keypoints -> picture (the reference's FV2V
    ``OcclusionAwareGenerator``, checkpoint key ``generator``)."""

    def __init__(self, image_channel: int, feature_channel: int, num_kp: int, block_expansion: int,
                 max_features: int, num_down_blocks: int, reshape_channel: int, reshape_depth: int,
                 num_resblocks: int, estimate_occlusion_map: bool = False,
                 dense_motion_params: Mapping | None = None, estimate_jacobian: bool = False):
        super().__init__()
        if dense_motion_params is None:
            raise ModelConfigError("FV2V needs generator_params.dense_motion_params")
        if reshape_channel * reshape_depth != max_features:
            raise ModelConfigError(f"FV2V: reshape_channel * reshape_depth ({reshape_channel} * "
                                   f"{reshape_depth}) must equal max_features ({max_features})")
        self.dense_motion_network = FV2VDenseMotionNetwork(
            num_kp=num_kp, feature_channel=feature_channel,
            estimate_occlusion_map=estimate_occlusion_map, **dense_motion_params)
        self.first = SameBlock2d(image_channel, block_expansion, kernel_size=(7, 7), padding=(3, 3))
        self.down_blocks = make_down_blocks(block_expansion, max_features, num_down_blocks)
        encoded = min(max_features, block_expansion * (2 ** num_down_blocks))
        self.second = nn.Conv2d(encoded, max_features, kernel_size=1, stride=1)
        self.reshape_channel = reshape_channel
        self.reshape_depth = reshape_depth
        self.resblocks_3d = nn.Sequential()
        for i in range(num_resblocks):
            self.resblocks_3d.add_module(f"3dr{i}", ResBlock3d(reshape_channel, kernel_size=3, padding=1))
        decoded = block_expansion * (2 ** num_down_blocks)
        self.third = LeakySameBlock2d(max_features, decoded, kernel_size=(3, 3), padding=(1, 1))
        self.fourth = nn.Conv2d(decoded, decoded, kernel_size=1, stride=1)
        self.resblocks_2d = nn.Sequential()
        for i in range(num_resblocks):
            self.resblocks_2d.add_module(f"2dr{i}", ResBlock2d(decoded))
        # The reference's decoder widths are max(block_expansion, ...), i.e. never capped by
        # max_features; identical to make_up_blocks with an unbounded cap.
        self.up_blocks = make_up_blocks(block_expansion, decoded, num_down_blocks)
        self.final = nn.Conv2d(block_expansion, image_channel, kernel_size=(7, 7), padding=(3, 3))
        self.estimate_occlusion_map = estimate_occlusion_map
        self.image_channel = image_channel

    @staticmethod
    def deform_input(inp: torch.Tensor, deformation: torch.Tensor) -> torch.Tensor:
        if deformation.shape[1:4] != inp.shape[2:]:
            deformation = F.interpolate(deformation.permute(0, 4, 1, 2, 3), size=inp.shape[2:],
                                        mode="trilinear", align_corners=False).permute(0, 2, 3, 4, 1)
        return F.grid_sample(inp, deformation, align_corners=True)

    def prepare_reference(self, source_image: torch.Tensor, kp_source: Mapping) -> dict:
        """The source's 3-D feature volume and the dense-motion network's source part."""
        out = self.first(source_image)
        for block in self.down_blocks:
            out = block(out)
        out = self.second(out)
        n, _, h, w = out.shape
        feature_3d = self.resblocks_3d(out.view(n, self.reshape_channel, self.reshape_depth, h, w))
        return {"feature_3d": feature_3d,
                "dense_motion": self.dense_motion_network.prepare_reference(feature_3d, kp_source)}

    def forward(self, source_image: torch.Tensor, kp_driving: Mapping, kp_source: Mapping) -> dict:
        return self.forward_prepared(self.prepare_reference(source_image, kp_source), kp_driving)

    def forward_prepared(self, prepared: dict, kp_driving: Mapping) -> dict:
        dense_motion = self.dense_motion_network.forward_prepared(prepared["dense_motion"], kp_driving)
        output = {"mask": dense_motion["mask"]}
        feature_3d = prepared["feature_3d"].expand(kp_driving["value"].shape[0], -1, -1, -1, -1)
        out = self.deform_input(feature_3d, dense_motion["deformation"])
        n, c, d, h, w = out.shape
        out = self.fourth(self.third(out.view(n, c * d, h, w)))
        occlusion_map = dense_motion.get("occlusion_map")
        if occlusion_map is not None:
            output["occlusion_map"] = occlusion_map
            out = out * resize_like(occlusion_map, out, align_corners=False)
        out = self.resblocks_2d(out)
        for block in self.up_blocks:
            out = block(out)
        output["prediction"] = torch.sigmoid(self.final(out))
        return output


# --------------------------------------------------------------------------------------------- family
@register_family("fv2v")
class FV2VModel(FaceModel):
    """FV2V family. analyse(frames) -> kp_canonical, yaw/pitch/roll (degrees), rot_mat, t, exp;
    synthesise(reference, reference_params, target_params) -> picture, where the target needs
    rot_mat, t, exp and the reference additionally kp_canonical (computed from the reference
    picture when absent)."""

    synthesis_threads = 1   # its 3-D convolutions round differently with 1 and 2 threads (measured)

    @classmethod
    def build_networks(cls, model_params: Mapping) -> dict[str, nn.Module]:
        common = model_params["common_params"]
        generator = FV2VGenerator(**model_params["generator_params"], **common)
        kp_detector = CanonicalKeypointDetector(**model_params["kp_detector_params"], **common)
        he_estimator = HeadExpressionEstimator(**model_params["he_estimator_params"], **common)
        return {"generator": generator, "kp_detector": kp_detector, "he_estimator": he_estimator}

    def estimate_head_pose(self, frames: torch.Tensor) -> dict[str, torch.Tensor]:
        he = self.he_estimator(self.check_frames(frames))
        yaw, pitch, roll = (headpose_bins_to_degrees(he[k]) for k in ("yaw", "pitch", "roll"))
        return {"yaw": yaw, "pitch": pitch, "roll": roll, "rot_mat": rotation_matrix(yaw, pitch, roll),
                "t": he["t"], "exp": he["exp"]}

    def analyse(self, frames: torch.Tensor, canonical_keypoints: bool = True) -> dict[str, torch.Tensor]:
        """Face parameters of each frame. The canonical keypoint detector is by far the costliest
        network (~300 G multiply-accumulates per 256x256 picture) and only the reference's
        keypoints are used (as in the public FV2V encoder): pass ``canonical_keypoints=False``
        for pictures that are only ever targets."""
        params = self.estimate_head_pose(frames)
        if canonical_keypoints:
            params["kp_canonical"] = self.kp_detector(frames)["value"]
        return params

    @staticmethod
    def posed_keypoints(kp_canonical: torch.Tensor, params: Mapping[str, torch.Tensor]) -> torch.Tensor:
        missing = [k for k in ("rot_mat", "t", "exp") if k not in params]
        if missing:
            raise KeyError(f"FV2V face parameters lack {missing}")
        return transform_keypoints(kp_canonical, params["rot_mat"], params["t"], params["exp"])

    def synthesise(self, reference: torch.Tensor, reference_params: Mapping[str, torch.Tensor],
                   target_params: Mapping[str, torch.Tensor], **side_info) -> torch.Tensor:
        if side_info:
            raise TypeError(f"FV2V takes no side information, got {sorted(side_info)}")
        self.check_frames(reference, "reference")
        kp_canonical = reference_params.get("kp_canonical")
        if kp_canonical is None:
            kp_canonical = self.kp_detector(reference)["value"]
        kp_source = self.posed_keypoints(kp_canonical, reference_params)
        kp_driving = self.posed_keypoints(kp_canonical, target_params)
        out = self.generator(reference, kp_driving={"value": kp_driving}, kp_source={"value": kp_source})
        return out["prediction"]

    def _prepare(self, reference: torch.Tensor, reference_params: dict) -> dict:
        """Canonical keypoints (from the parameters, else detected once), the posed source keypoints and
        the generator's source part."""
        kp_canonical = reference_params.get("kp_canonical")
        if kp_canonical is None:
            kp_canonical = self.kp_detector(reference)["value"]
        kp_source = self.posed_keypoints(kp_canonical, reference_params)
        return {"kp_canonical": kp_canonical,
                "generator": self.generator.prepare_reference(reference, {"value": kp_source})}

    def _synthesise_batch(self, prepared, target_params: dict, **side_info) -> torch.Tensor:
        kp_canonical = prepared.cache["kp_canonical"]
        b = batch_size_of({k: target_params[k] for k in ("rot_mat", "t", "exp") if k in target_params},
                          "FV2V target parameters")
        kp_driving = self.posed_keypoints(kp_canonical.expand(b, -1, -1), target_params)
        return self.generator.forward_prepared(prepared.cache["generator"], {"value": kp_driving})["prediction"]
