"""Shared 2D building blocks of the keypoint-driven GFVC models (FOMM, DAC, HDAC, RDAC, MRDAC; CFTE reuses
the plain blocks).

Note for the other model-zoo modules (cfte, fv2v, rdac): everything a family needs to rebuild a reference
network with an identical ``state_dict`` lives here, defined once:

* geometry helpers: :func:`make_coordinate_grid`, :func:`kp2gaussian` (keypoints -> gaussian heatmaps),
  :func:`warp` (grid-sample warping with the deformation resized to the input), :func:`resize_like`,
  :func:`softmax_heatmap` and :func:`heatmap_to_kp` (keypoints as expected heatmap coordinates);
* layers with the reference sub-module names: :class:`ResBlock2d` (``conv1/conv2/norm1/norm2``),
  :class:`UpBlock2d`, :class:`DownBlock2d`, :class:`SameBlock2d` (``conv/norm``), :class:`ConvHead`
  (a convolution wrapped as ``<name>.conv``), :class:`AntiAliasInterpolation2d` (buffer ``weight``);
* the hourglass: :class:`Encoder` (``down_blocks``), :class:`Decoder` (``up_blocks``), :class:`Hourglass`;
* the generator skeleton: :func:`make_down_blocks`, :func:`make_up_blocks`, :func:`make_bottleneck` and
  :class:`WarpingGenerator` (reference encoder, motion compensation with occlusion, decoder).

The dense motion network lives in ``dense_motion.py`` and the keypoint detector in ``keypoints.py``.

Batch normalisation: the references use SynchronizedBatchNorm2d or nn.BatchNorm2d; both have the same
state_dict and, in eval mode, the same arithmetic, so nn.BatchNorm2d is used everywhere.

Upsampling differs between the code bases: the original FOMM blocks use nearest-neighbour
``F.interpolate(scale_factor=2)``, the DAC family uses bilinear with ``align_corners=True``. Blocks that
upsample take ``up_mode`` ("nearest" or "bilinear") so both are reproduced exactly; likewise the
anti-aliased downscaling decimates (FOMM, DAC, RDAC) or resizes bilinearly (HDAC, MRDAC): ``resample``.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

UP_MODES = ("nearest", "bilinear")


# --------------------------------------------------------------------------------------------- geometry
def make_coordinate_grid(spatial_size: Sequence[int], dtype: torch.dtype = torch.float32,
                         device: torch.device | str | None = None) -> torch.Tensor:
    """Grid of (x, y) coordinates in [-1, 1] x [-1, 1], shape (h, w, 2), last axis ordered x then y
    (the convention of ``F.grid_sample``)."""
    h, w = int(spatial_size[0]), int(spatial_size[1])
    x = torch.arange(w, device=device).to(dtype)
    y = torch.arange(h, device=device).to(dtype)
    # Same operation order as the reference so that the grid is bit-identical.
    x = 2 * (x / (w - 1)) - 1
    y = 2 * (y / (h - 1)) - 1
    xx = x.view(1, -1).repeat(h, 1)
    yy = y.view(-1, 1).repeat(1, w)
    return torch.stack([xx, yy], dim=2)


def kp2gaussian(kp_value: torch.Tensor, spatial_size: Sequence[int], kp_variance: float) -> torch.Tensor:
    """Keypoints (..., K, 2) -> isotropic gaussian heatmaps (..., K, h, w):
    exp(-0.5 * |grid - kp|^2 / kp_variance)."""
    grid = make_coordinate_grid(spatial_size, kp_value.dtype, kp_value.device)
    lead = kp_value.shape[:-1]
    grid = grid.view((1,) * len(lead) + grid.shape)
    mean = kp_value.view(lead + (1, 1, 2))
    diff = grid - mean
    return torch.exp(-0.5 * (diff ** 2).sum(-1) / kp_variance)


def softmax_heatmap(prediction: torch.Tensor, temperature: float) -> torch.Tensor:
    """Spatial softmax of (B, K, h, w) logits divided by ``temperature`` -> (B, K, h, w) heatmaps."""
    b, k, h, w = prediction.shape
    heatmap = F.softmax(prediction.view(b, k, -1) / temperature, dim=2)
    return heatmap.view(b, k, h, w)


def heatmap_to_kp(heatmap: torch.Tensor) -> torch.Tensor:
    """Expected coordinate of each heatmap (B, K, h, w) -> keypoints (B, K, 2)."""
    grid = make_coordinate_grid(heatmap.shape[2:], heatmap.dtype, heatmap.device)
    return (heatmap.unsqueeze(-1) * grid.unsqueeze(0).unsqueeze(0)).sum(dim=(2, 3))


def warp(inp: torch.Tensor, deformation: torch.Tensor, align_corners_resize: bool = True) -> torch.Tensor:
    """Backward-warp ``inp`` (B, C, H, W) with a sampling grid ``deformation`` (B, h, w, 2) in [-1, 1].

    When the grid is smaller than the input it is first resized bilinearly; the original FOMM code does
    that with ``align_corners=False`` (``align_corners_resize=False``), the DAC family with True."""
    _, h_old, w_old, _ = deformation.shape
    _, _, h, w = inp.shape
    if h_old != h or w_old != w:
        deformation = deformation.permute(0, 3, 1, 2)
        deformation = F.interpolate(deformation, size=(h, w), mode="bilinear",
                                    align_corners=align_corners_resize)
        deformation = deformation.permute(0, 2, 3, 1)
    return F.grid_sample(inp, deformation, align_corners=True)


def resize_like(x: torch.Tensor, reference: torch.Tensor, align_corners: bool = True) -> torch.Tensor:
    """Bilinear resize of ``x`` to the spatial size of ``reference`` (no-op when they already match)."""
    if x.shape[2:] == reference.shape[2:]:
        return x
    return F.interpolate(x, size=reference.shape[2:], mode="bilinear", align_corners=align_corners)


# --------------------------------------------------------------------------------------------- layers
class AntiAliasInterpolation2d(nn.Module):
    """Gaussian low-pass filter followed by downsampling by ``scale`` (band-limited downsampling).

    ``resample="stride"`` keeps every (1/scale)-th sample (FOMM, DAC, RDAC); ``resample="bilinear"``
    resizes the filtered picture bilinearly with aligned corners (the HDAC and MRDAC code bases).
    State: buffer ``weight`` (channels, 1, k, k), the normalised depthwise gaussian kernel."""

    RESAMPLE_MODES = ("stride", "bilinear")

    def __init__(self, channels: int, scale: float, resample: str = "stride"):
        super().__init__()
        if resample not in self.RESAMPLE_MODES:
            raise ValueError(f"resample must be one of {self.RESAMPLE_MODES}, not {resample!r}")
        self.resample = resample
        sigma = (1 / scale - 1) / 2
        kernel_size = 2 * round(sigma * 4) + 1
        self.ka = kernel_size // 2
        self.kb = self.ka - 1 if kernel_size % 2 == 0 else self.ka
        coords = torch.arange(kernel_size, dtype=torch.float32)
        mean = (kernel_size - 1) / 2
        # Separable gaussian; the kernel is the product of the two 1D profiles, built as the reference
        # builds it (2D meshgrid, factor by factor) so the buffer values are identical.
        grid_y, grid_x = torch.meshgrid(coords, coords, indexing="ij")
        kernel = torch.ones(())
        for g in (grid_y, grid_x):
            kernel = kernel * torch.exp(-(g - mean) ** 2 / (2 * sigma ** 2))
        kernel = kernel / torch.sum(kernel)
        kernel = kernel.view(1, 1, kernel_size, kernel_size).repeat(channels, 1, 1, 1)
        self.register_buffer("weight", kernel)
        self.groups = channels
        self.scale = scale
        self.int_inv_scale = int(1 / scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.scale == 1.0:
            return x
        out = F.pad(x, (self.ka, self.kb, self.ka, self.kb))
        out = F.conv2d(out, weight=self.weight, groups=self.groups)
        if self.resample == "bilinear":
            return F.interpolate(out, scale_factor=(self.scale, self.scale), mode="bilinear", align_corners=True)
        return out[:, :, ::self.int_inv_scale, ::self.int_inv_scale]


class ConvHead(nn.Module):
    """A single convolution registered as ``<name>.conv`` (the reference's OutputLayer / Mask / KP_Output
    wrappers). It returns raw logits; the caller applies its activation (sigmoid, softmax) explicitly."""

    def __init__(self, in_features: int, out_features: int, kernel_size=(7, 7), padding=(3, 3)):
        super().__init__()
        self.conv = nn.Conv2d(in_features, out_features, kernel_size=kernel_size, padding=padding)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class ResBlock2d(nn.Module):
    """Pre-activation residual block: x + conv2(relu(norm2(conv1(relu(norm1(x))))))."""

    # The 3-D variant (gfvc.models.blocks3d.ResBlock3d) only swaps these two layer types.
    conv_type = nn.Conv2d
    norm_type = nn.BatchNorm2d

    def __init__(self, in_features: int, kernel_size=3, padding=1):
        super().__init__()
        self.conv1 = self.conv_type(in_features, in_features, kernel_size=kernel_size, padding=padding)
        self.conv2 = self.conv_type(in_features, in_features, kernel_size=kernel_size, padding=padding)
        self.norm1 = self.norm_type(in_features, affine=True)
        self.norm2 = self.norm_type(in_features, affine=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1(F.relu(self.norm1(x)))
        out = self.conv2(F.relu(self.norm2(out)))
        return out + x


class SameBlock2d(nn.Module):
    """conv -> batch norm -> relu at constant resolution."""

    def __init__(self, in_features: int, out_features: int, groups: int = 1, kernel_size=3, padding=1):
        super().__init__()
        self.conv = nn.Conv2d(in_features, out_features, kernel_size=kernel_size, padding=padding,
                              groups=groups)
        self.norm = nn.BatchNorm2d(out_features, affine=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.norm(self.conv(x)))


class DownBlock2d(SameBlock2d):
    """conv -> batch norm -> relu -> 2x2 average pooling."""

    def __init__(self, in_features: int, out_features: int, kernel_size=3, padding=1, groups: int = 1):
        super().__init__(in_features, out_features, groups=groups, kernel_size=kernel_size, padding=padding)
        self.pool = nn.AvgPool2d(kernel_size=(2, 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(super().forward(x))


class UpBlock2d(SameBlock2d):
    """2x upsampling (nearest or bilinear with aligned corners) -> conv -> batch norm -> relu."""

    def __init__(self, in_features: int, out_features: int, kernel_size=3, padding=1, groups: int = 1,
                 up_mode: str = "nearest"):
        super().__init__(in_features, out_features, groups=groups, kernel_size=kernel_size, padding=padding)
        if up_mode not in UP_MODES:
            raise ValueError(f"up_mode must be one of {UP_MODES}, not {up_mode!r}")
        self.up_mode = up_mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.up_mode == "nearest":
            out = F.interpolate(x, scale_factor=2)
        else:
            out = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True)
        return super().forward(out)


# --------------------------------------------------------------------------------------------- hourglass
class Encoder(nn.Module):
    """Hourglass encoder; forward returns the list [x, d1, ..., dn] of all scales."""

    # The 3-D hourglass (gfvc.models.blocks3d.Encoder3d) only swaps the block type.
    down_block_type: type = DownBlock2d

    def __init__(self, block_expansion: int, in_features: int, num_blocks: int = 3, max_features: int = 256):
        super().__init__()
        self.down_blocks = nn.ModuleList(
            self.down_block_type(in_features if i == 0 else min(max_features, block_expansion * (2 ** i)),
                                 min(max_features, block_expansion * (2 ** (i + 1))), kernel_size=3, padding=1)
            for i in range(num_blocks))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outs = [x]
        for block in self.down_blocks:
            outs.append(block(outs[-1]))
        return outs


class Decoder(nn.Module):
    """Hourglass decoder with skip connections; output has ``out_filters`` = block_expansion + in_features
    channels."""

    def __init__(self, block_expansion: int, in_features: int, num_blocks: int = 3, max_features: int = 256,
                 up_mode: str = "nearest"):
        super().__init__()
        blocks = []
        for i in reversed(range(num_blocks)):
            in_filters = (1 if i == num_blocks - 1 else 2) * min(max_features, block_expansion * (2 ** (i + 1)))
            out_filters = min(max_features, block_expansion * (2 ** i))
            blocks.append(UpBlock2d(in_filters, out_filters, kernel_size=3, padding=1, up_mode=up_mode))
        self.up_blocks = nn.ModuleList(blocks)
        self.out_filters = block_expansion + in_features

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        skips = list(features)
        out = skips.pop()
        for block in self.up_blocks:
            out = torch.cat([block(out), skips.pop()], dim=1)
        return out


class Hourglass(nn.Module):
    """U-Net style encoder/decoder (``encoder.down_blocks``, ``decoder.up_blocks``)."""

    def __init__(self, block_expansion: int, in_features: int, num_blocks: int = 3, max_features: int = 256,
                 up_mode: str = "nearest"):
        super().__init__()
        self.encoder = Encoder(block_expansion, in_features, num_blocks, max_features)
        self.decoder = Decoder(block_expansion, in_features, num_blocks, max_features, up_mode=up_mode)
        self.out_filters = self.decoder.out_filters

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


# --------------------------------------------------------------------------------------------- generator skeleton
def make_down_blocks(block_expansion: int, max_features: int, num_down_blocks: int) -> nn.ModuleList:
    """Feature encoder of the generators: DownBlock2d i maps min(max, be*2^i) -> min(max, be*2^(i+1))."""
    return nn.ModuleList(
        DownBlock2d(min(max_features, block_expansion * (2 ** i)),
                    min(max_features, block_expansion * (2 ** (i + 1))), kernel_size=(3, 3), padding=(1, 1))
        for i in range(num_down_blocks))


def make_up_blocks(block_expansion: int, max_features: int, num_down_blocks: int,
                   up_mode: str = "nearest") -> nn.ModuleList:
    """Feature decoder of the generators, the mirror of :func:`make_down_blocks`."""
    n = num_down_blocks
    return nn.ModuleList(
        UpBlock2d(min(max_features, block_expansion * (2 ** (n - i))),
                  min(max_features, block_expansion * (2 ** (n - i - 1))), kernel_size=(3, 3), padding=(1, 1),
                  up_mode=up_mode)
        for i in range(n))


def make_bottleneck(features: int, num_blocks: int, prefix: str = "r") -> nn.Sequential:
    """Sequential of ``num_blocks`` ResBlock2d named ``<prefix>0``, ``<prefix>1``, ..."""
    bottleneck = nn.Sequential()
    for i in range(num_blocks):
        bottleneck.add_module(f"{prefix}{i}", ResBlock2d(features))
    return bottleneck


class WarpingGenerator(nn.Module):
    """Skeleton shared by the keypoint-driven generators (FOMM, DAC, HDAC, RDAC, MRDAC).

    Subclasses register, in the reference's order (the state_dict order follows it), at least
    ``dense_motion_network``, ``first`` (SameBlock2d 7x7), ``down_blocks``, ``up_blocks`` and ``final``
    (a plain Conv2d or a :class:`ConvHead`), and set ``align_corners_resize`` (False for the original FOMM
    code, True for the DAC family). The methods below are the reference's inference-time pieces."""

    align_corners_resize: bool = True

    def reference_ft_encoder(self, reference_frame: torch.Tensor) -> torch.Tensor:
        """Picture (B, 3, H, W) -> reference features (B, C, H/2^n, W/2^n)."""
        out = self.first(reference_frame)
        for block in self.down_blocks:
            out = block(out)
        return out

    def deform_input(self, inp: torch.Tensor, deformation: torch.Tensor) -> torch.Tensor:
        return warp(inp, deformation, align_corners_resize=self.align_corners_resize)

    def motion_prediction_and_compensation(self, reference_frame: torch.Tensor,
                                           reference_frame_features: torch.Tensor,
                                           kp_reference: dict, kp_target: dict):
        """Dense motion from the keypoints, then warp the reference features and apply the occlusion map.
        Returns (deformed features, dense-motion dict)."""
        dense_motion = self.dense_motion_network(reference_frame, kp_target=kp_target,
                                                 kp_reference=kp_reference)
        return self.compensate(reference_frame_features, dense_motion), dense_motion

    def compensate(self, features: torch.Tensor, dense_motion: dict) -> torch.Tensor:
        """Warp ``features`` (batch 1 or B) by the dense motion (batch B), then apply its occlusion map."""
        deformation = dense_motion["deformation"]
        out = self.deform_input(features.expand(deformation.shape[0], -1, -1, -1), deformation)
        occlusion_map = dense_motion.get("occlusion_map")
        if occlusion_map is not None:
            out = out * resize_like(occlusion_map, out, align_corners=self.align_corners_resize)
        return out

    # -- prepared reference (decoder): the target-independent part computed once per reference picture
    def prepare_animation(self, reference_frame: torch.Tensor, kp_reference: dict) -> dict:
        """Reference features and the dense-motion network's reference part."""
        dense_motion_network = getattr(self, "dense_motion_network", None)
        return {"features": self.reference_ft_encoder(reference_frame),
                "dense_motion": (dense_motion_network.prepare_reference(reference_frame, dict(kp_reference))
                                 if dense_motion_network is not None else None)}

    def prepared_motion_compensation(self, prepared: dict, kp_target: dict) -> torch.Tensor:
        """motion_prediction_and_compensation() from :meth:`prepare_animation`'s output, for B targets."""
        if prepared["dense_motion"] is None:
            b = kp_target["value"].shape[0]
            return prepared["features"].expand(b, -1, -1, -1)
        dense_motion = self.dense_motion_network.forward_prepared(prepared["dense_motion"], kp_target)
        return self.compensate(prepared["features"], dense_motion)

    def warp_prepared(self, prepared: dict, reference_frame: torch.Tensor, kp_target: dict) -> torch.Tensor:
        """The reference picture itself (1, 3, H, W) sampled along the dense motion field towards B
        targets: what the generator's features are warped by, applied to the samples (no occlusion
        map, no decoding). Differentiable in the target keypoints."""
        b = kp_target["value"].shape[0]
        reference_frame = reference_frame.expand(b, -1, -1, -1)
        if prepared["dense_motion"] is None:
            return reference_frame
        deformation = self.dense_motion_network.forward_prepared(prepared["dense_motion"], kp_target)["deformation"]
        return self.deform_input(reference_frame, deformation)

    def animate_prepared(self, prepared: dict, kp_target: dict) -> torch.Tensor:
        """The animation of a prepared reference towards B targets, for the generators that decode
        ``bottleneck(deformed features)`` (FOMM, DAC, RDAC; HDAC and MRDAC fuse before decoding)."""
        return self.animated_frame_decoder(self.bottleneck(self.prepared_motion_compensation(prepared, kp_target)))

    def animated_frame_decoder(self, features: torch.Tensor) -> torch.Tensor:
        """Decoder features -> picture in [0, 1] (up blocks, final 7x7 convolution, sigmoid)."""
        out = features
        for block in self.up_blocks:
            out = block(out)
        return torch.sigmoid(self.final(out))
