"""CFTE: Compact Feature Temporal Evolution (Chen et al., "Beyond keypoint coding: temporal
evolution inference with compact feature representation", ICASSP 2022), as in the GFVC
reference software (source/GFVC/CFTE).

Face parameters (``CFTEModel.analyse``): one compact feature map per picture,
``{"feature": (N, num_kp, h/16, w/16)}`` where h, w is the keypoint detector's working
resolution (input x scale_factor): 1x4x4 = 16 numbers for the official 256x256 model.

Synthesis (reference picture S, compact features F_S and F_D of reference and target):

1. *Sparse motion*: both compact features are min-max normalised to [0, 255] (per picture),
   rounded to uint8, and OpenCV's Farneback dense optical flow is computed
   between them (``cv2.calcOpticalFlowFarneback``, pyr_scale 0.5, levels 2, winsize 15,
   iterations 3, poly_n 5, poly_sigma 1.2, flags 0). The flow is in pixels of the feature grid.
2. The reference picture is encoded to the feature-grid resolution, warped by that flow,
   decoded back ("sparse_deformed").
3. An hourglass sees the up-sampled feature difference up(F_D) - up(F_S) and the sparsely
   deformed picture and predicts a dense flow (pixels) and an occlusion map.
4. The generator warps its encoded reference features with the dense flow, masks them with
   the occlusion map and decodes the prediction.

Reference quirks reproduced on purpose (published checkpoints were trained with them):

* Farneback order: the reference generator passes (heatmap_source, heatmap_driving)
  positionally to a method whose parameters are named (heatmap_driving, heatmap_source), so
  the flow is computed with ``prev`` = the *target* (driving) feature and ``next`` = the
  *reference* (source) feature, not the other way round as the names suggest.
* The dense flow is in pixels of the dense-motion grid; when the grid is smaller than the
  picture (scale_factor < 1) it is resized bilinearly (align_corners=False) *without*
  rescaling the flow values.
* The optical flow runs on the CPU through NumPy/OpenCV whatever the device of the model.
"""
from __future__ import annotations

from typing import Mapping

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .base import FaceModel
from .blocks import (AntiAliasInterpolation2d, Hourglass, SameBlock2d, UpBlock2d, resize_like,
                     make_bottleneck, make_down_blocks, make_up_blocks)
from .gdn import GDN
from .registry import register_family

# cv2.calcOpticalFlowFarneback arguments of the reference (after prev, next, flow=None).
FARNEBACK_PARAMS = dict(pyr_scale=0.5, levels=2, winsize=15, iterations=3, poly_n=5,
                        poly_sigma=1.2, flags=0)
NUM_FEATURE_DOWNSAMPLINGS = 4   # four stride-2 5x5 convolutions: feature grid = input / 16


# --------------------------------------------------------------------------------------------- helpers
def warp_by_flow(x: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Backward-warp x (B, C, H, W) by a flow in pixels (B, H, W, 2), (dx, dy) per pixel:
    out(p) = x(p + flow(p)), bilinear, zeros outside."""
    b, _, h, w = x.shape
    xx = torch.arange(w, device=x.device).view(1, -1).repeat(h, 1)
    yy = torch.arange(h, device=x.device).view(-1, 1).repeat(1, w)
    grid = torch.stack([xx, yy], dim=0).float().unsqueeze(0).repeat(b, 1, 1, 1)
    vgrid = grid + flow.permute(0, 3, 1, 2).to(grid.dtype)
    # Same expression order as the reference so that the result is bit-identical.
    vx = 2.0 * vgrid[:, 0] / max(w - 1, 1) - 1.0
    vy = 2.0 * vgrid[:, 1] / max(h - 1, 1) - 1.0
    vgrid = torch.stack([vx, vy], dim=3)
    return F.grid_sample(x, vgrid.to(x.dtype), mode="bilinear", padding_mode="zeros",
                         align_corners=True)


def features_to_uint8(feature: torch.Tensor) -> np.ndarray:
    """Min-max normalise each picture's feature (C, h, w) to [0, 255], round, uint8.

    The reference normalises the whole batch tensor at once; its encoder and decoder always run
    with batch 1, where the two agree. Per picture, a picture's result does not depend on what
    else is in the batch."""
    values = feature.detach().float().cpu().numpy()
    out = np.zeros(values.shape, dtype=np.uint8)
    for i, picture in enumerate(values):
        low, high = np.min(picture), np.max(picture)
        # A constant feature makes the reference divide by zero (NaN, cast to 0): keep zeros.
        if high != low:
            out[i] = np.round((picture - low) / (high - low) * 255.0).astype(np.uint8)
    return out


def farneback_sparse_motion(feature_prev: torch.Tensor, feature_next: torch.Tensor) -> torch.Tensor:
    """Dense optical flow between two compact features (B, 1, h, w) -> (B, h, w, 2) float32,
    on the CPU, with the reference's normalisation and Farneback parameters."""
    if feature_prev.shape != feature_next.shape:
        raise ValueError(f"compact features differ in shape: {tuple(feature_prev.shape)} vs "
                         f"{tuple(feature_next.shape)}")
    if feature_prev.shape[1] != 1:
        raise ValueError("Farneback optical flow needs single-channel compact features (num_kp=1), "
                         f"got {feature_prev.shape[1]} channels")
    if feature_prev.device.type == "meta":  # shapes only (gfvc-complexity): a flow of the right shape
        b, _, h, w = feature_prev.shape
        return torch.empty(b, h, w, 2, dtype=torch.float32, device="meta")
    prev_u8 = features_to_uint8(feature_prev)
    next_u8 = features_to_uint8(feature_next)
    flows = [cv2.calcOpticalFlowFarneback(prev_u8[i, 0], next_u8[i, 0], None, **FARNEBACK_PARAMS)
             for i in range(prev_u8.shape[0])]
    return torch.from_numpy(np.stack(flows).astype(np.float32))


# --------------------------------------------------------------------------------------------- analysis
class CompactFeatureExtractor(nn.Module):
    """Picture -> compact feature (the reference's ``KPDetector``; checkpoint key ``kp_detector``).

    Hourglass features at ``scale_factor`` of the input, then four stride-2 5x5 convolutions,
    each followed by GDN, down to ``num_kp`` channels at 1/16 of that resolution.
    ``temperature``, ``estimate_jacobian``, ``single_jacobian_map`` and ``pad`` are accepted
    (FOMM-style parameter names the configs may carry) but play no role in CFTE.
    """

    def __init__(self, block_expansion: int, num_kp: int, num_channels: int, max_features: int,
                 num_blocks: int, temperature: float = 0.1, estimate_jacobian: bool = False,
                 scale_factor: float = 1, single_jacobian_map: bool = False, pad: int = 0):
        super().__init__()
        self.predictor = Hourglass(block_expansion, in_features=num_channels,
                                   max_features=max_features, num_blocks=num_blocks)
        self.temperature = temperature
        self.scale_factor = scale_factor
        if scale_factor != 1:
            self.down = AntiAliasInterpolation2d(num_channels, scale_factor)
        in_channels = self.predictor.out_filters
        for i in range(1, NUM_FEATURE_DOWNSAMPLINGS + 1):
            self.add_module(f"conv{i}", nn.Conv2d(in_channels, num_kp, kernel_size=5, stride=2,
                                                  padding=2))
            self.add_module(f"gdn{i}", GDN(num_kp))
            in_channels = num_kp

    def forward(self, x: torch.Tensor) -> dict:
        if self.scale_factor != 1:
            x = self.down(x)
        out = self.predictor(x)
        for i in range(1, NUM_FEATURE_DOWNSAMPLINGS + 1):
            out = getattr(self, f"gdn{i}")(getattr(self, f"conv{i}")(out))
        return {"value": out}


# --------------------------------------------------------------------------------------------- synthesis
class CFTEDenseMotionNetwork(nn.Module):
    """Dense motion from two compact features (the reference's CFTE ``DenseMotionNetwork``)."""

    def __init__(self, block_expansion: int = 64, num_blocks: int = 4, num_down_blocks: int = 4,
                 max_features: int = 512, num_kp: int = 1, num_channels: int = 3,
                 num_bottleneck_blocks: int = 4, estimate_occlusion_map: bool = False,
                 scale_factor: float = 1, kp_variance: float = 0.01):
        super().__init__()
        self.hourglass = Hourglass(block_expansion=block_expansion, in_features=num_channels + 1,
                                   max_features=max_features, num_blocks=num_blocks)
        self.flow = nn.Conv2d(self.hourglass.out_filters, 2, kernel_size=(7, 7), padding=(3, 3))
        self.occlusion = (nn.Conv2d(self.hourglass.out_filters, 1, kernel_size=(7, 7), padding=(3, 3))
                          if estimate_occlusion_map else None)
        self.num_kp = num_kp
        self.scale_factor = scale_factor
        self.kp_variance = kp_variance
        self.num_down_blocks = num_down_blocks
        if scale_factor != 1:
            self.down = AntiAliasInterpolation2d(num_channels, scale_factor)
        # Up-samplers of the compact-feature difference (feature grid -> dense-motion grid).
        self.up_blocks = nn.ModuleList(
            UpBlock2d(num_kp, num_kp, kernel_size=(3, 3), padding=(1, 1)) for _ in range(num_down_blocks))
        # Picture encoder / decoder around the sparse (Farneback) warp.
        self.first = SameBlock2d(num_channels, block_expansion, kernel_size=(7, 7), padding=(3, 3))
        self.motiondown_blocks = make_down_blocks(block_expansion, max_features, num_down_blocks)
        self.motionup_blocks = make_up_blocks(block_expansion, max_features, num_down_blocks)
        self.bottleneck = make_bottleneck(min(max_features, block_expansion * (2 ** num_down_blocks)),
                                          num_bottleneck_blocks)
        self.final = nn.Conv2d(block_expansion, num_channels, kernel_size=(7, 7), padding=(3, 3))

    def encode_picture(self, picture: torch.Tensor) -> torch.Tensor:
        out = self.first(picture)
        for block in self.motiondown_blocks:
            out = block(out)
        return out

    def decode_sparse_deformed(self, encoded: torch.Tensor, sparse_motion: torch.Tensor) -> torch.Tensor:
        out = self.bottleneck(warp_by_flow(encoded, sparse_motion))
        for block in self.motionup_blocks:
            out = block(out)
        return self.final(out)

    def upsample_feature(self, feature: torch.Tensor) -> torch.Tensor:
        for block in self.up_blocks:
            feature = block(feature)
        return feature

    def prepare_reference(self, source_image: torch.Tensor, heatmap_source: Mapping) -> dict:
        """The target-independent part: the down-scaled source, its encoding, its up-sampled compact
        feature and the feature itself (for the Farneback flow)."""
        if self.scale_factor != 1:
            source_image = self.down(source_image)
        return {"frame": source_image, "encoded": self.encode_picture(source_image),
                "feature": heatmap_source["value"], "up_feature": self.upsample_feature(heatmap_source["value"])}

    def forward(self, source_image: torch.Tensor, heatmap_source: Mapping,
                heatmap_driving: Mapping) -> dict:
        return self.forward_prepared(self.prepare_reference(source_image, heatmap_source), heatmap_driving)

    def forward_prepared(self, prepared: dict, heatmap_driving: Mapping) -> dict:
        """forward() from :meth:`prepare_reference`'s output; a batch-1 source serves B targets."""
        feature_target = heatmap_driving["value"]
        b = feature_target.shape[0]
        _, _, h, w = prepared["frame"].shape
        difference = self.upsample_feature(feature_target) - prepared["up_feature"]
        # Reference quirk (see module docstring): prev = driving (target), next = source.
        sparse_motion = farneback_sparse_motion(feature_target, prepared["feature"].expand(b, -1, -1, -1))
        sparse_motion = sparse_motion.to(prepared["frame"].device)
        sparse_deformed = self.decode_sparse_deformed(prepared["encoded"].expand(b, -1, -1, -1), sparse_motion)
        hourglass_input = torch.cat([difference.reshape(b, -1, h, w),
                                     sparse_deformed.reshape(b, -1, h, w)], dim=1)
        prediction = self.hourglass(hourglass_input)
        out = {"sparse_motion": sparse_motion, "sparse_deformed": sparse_deformed,
               "deformation": self.flow(prediction).permute(0, 2, 3, 1)}
        if self.occlusion is not None:
            out["occlusion_map"] = torch.sigmoid(self.occlusion(prediction))
        return out


class CFTEGenerator(nn.Module):
    """Reference picture + two compact features -> predicted picture (the reference's CFTE
    ``OcclusionAwareGenerator``; checkpoint key ``generator``)."""

    def __init__(self, num_channels: int, num_kp: int, block_expansion: int, max_features: int,
                 num_down_blocks: int, num_bottleneck_blocks: int, estimate_occlusion_map: bool = False,
                 dense_motion_params: Mapping | None = None, estimate_jacobian: bool = False):
        super().__init__()
        if dense_motion_params is None:
            raise ValueError("CFTE needs generator_params.dense_motion_params")
        self.dense_motion_network = CFTEDenseMotionNetwork(
            num_kp=num_kp, num_channels=num_channels, estimate_occlusion_map=estimate_occlusion_map,
            **dense_motion_params)
        self.first = SameBlock2d(num_channels, block_expansion, kernel_size=(7, 7), padding=(3, 3))
        self.down_blocks = make_down_blocks(block_expansion, max_features, num_down_blocks)
        self.up_blocks = make_up_blocks(block_expansion, max_features, num_down_blocks)
        self.bottleneck = make_bottleneck(min(max_features, block_expansion * (2 ** num_down_blocks)),
                                          num_bottleneck_blocks)
        self.final = nn.Conv2d(block_expansion, num_channels, kernel_size=(7, 7), padding=(3, 3))
        self.estimate_occlusion_map = estimate_occlusion_map
        self.num_channels = num_channels

    @staticmethod
    def deform_input(inp: torch.Tensor, deformation: torch.Tensor) -> torch.Tensor:
        """Warp by a pixel flow; a smaller flow field is resized (values kept, reference quirk)."""
        _, h_flow, w_flow, _ = deformation.shape
        _, _, h, w = inp.shape
        if (h_flow, w_flow) != (h, w):
            deformation = F.interpolate(deformation.permute(0, 3, 1, 2), size=(h, w), mode="bilinear",
                                        align_corners=False).permute(0, 2, 3, 1)
        return warp_by_flow(inp, deformation)

    def prepare_reference(self, source_image: torch.Tensor, heatmap_source: Mapping) -> dict:
        """The source's encoder features and the dense-motion network's source part."""
        out = self.first(source_image)
        for block in self.down_blocks:
            out = block(out)
        return {"picture": source_image, "features": out,
                "dense_motion": self.dense_motion_network.prepare_reference(source_image, heatmap_source)}

    def forward(self, source_image: torch.Tensor, heatmap_source: Mapping,
                heatmap_driving: Mapping) -> dict:
        return self.forward_prepared(self.prepare_reference(source_image, heatmap_source), heatmap_driving)

    def forward_prepared(self, prepared: dict, heatmap_driving: Mapping) -> dict:
        dense_motion = self.dense_motion_network.forward_prepared(prepared["dense_motion"], heatmap_driving)
        deformation = dense_motion["deformation"]
        b = deformation.shape[0]
        output = {"deformation": deformation,
                  "sparse_deformed": dense_motion["sparse_deformed"],
                  "sparse_motion": dense_motion["sparse_motion"],
                  "deformed": self.deform_input(prepared["picture"].expand(b, -1, -1, -1), deformation)}
        out = self.deform_input(prepared["features"].expand(b, -1, -1, -1), deformation)
        occlusion_map = dense_motion.get("occlusion_map")
        if occlusion_map is not None:
            output["occlusion_map"] = occlusion_map
            out = out * resize_like(occlusion_map, out, align_corners=False)
        out = self.bottleneck(out)
        for block in self.up_blocks:
            out = block(out)
        output["prediction"] = torch.sigmoid(self.final(out))
        return output


# --------------------------------------------------------------------------------------------- family
@register_family("cfte")
class CFTEModel(FaceModel):
    """CFTE family: analysis = compact feature extractor, synthesis = CFTE generator.

    analyse(frames (B, 3, H, W) in [0, 1]) -> {"feature": (B, num_kp, h, w)};
    synthesise(reference, {"feature": F_ref}, {"feature": F_target}) -> (B, 3, H, W) in [0, 1].
    """

    @classmethod
    def build_networks(cls, model_params: Mapping) -> dict[str, nn.Module]:
        common = model_params["common_params"]
        generator = CFTEGenerator(**model_params["generator_params"], **common)
        kp_detector = CompactFeatureExtractor(**model_params["kp_detector_params"], **common)
        return {"generator": generator, "kp_detector": kp_detector}

    def analyse(self, frames: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"feature": self.kp_detector(self.check_frames(frames))["value"]}

    def synthesise(self, reference: torch.Tensor, reference_params: Mapping[str, torch.Tensor],
                   target_params: Mapping[str, torch.Tensor], **side_info) -> torch.Tensor:
        if side_info:
            raise TypeError(f"CFTE takes no side information, got {sorted(side_info)}")
        self.check_frames(reference, "reference")
        out = self.generator(reference, heatmap_source={"value": reference_params["feature"]},
                             heatmap_driving={"value": target_params["feature"]})
        return out["prediction"]

    #: The public reference normalises the compact features of a whole batch together before
    #: Farneback; its coder always runs batch 1. Targets are synthesised one at a time (the prepared
    #: reference is still reused), so each generated picture equals the batch-1 reference's.
    forced_synthesis_batch = 1

    def _prepare(self, reference: torch.Tensor, reference_params: dict) -> dict:
        return self.generator.prepare_reference(reference, {"value": reference_params["feature"]})

    def _synthesise_batch(self, prepared, target_params: dict, **side_info) -> torch.Tensor:
        return self.generator.forward_prepared(prepared.cache, {"value": target_params["feature"]})["prediction"]
