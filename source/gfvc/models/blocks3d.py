"""Volumetric (3-D) building blocks and head-pose estimator parts used by FV2V.

FV2V (face-vid2vid as packaged in the GFVC reference software) lifts 2-D image features to a
3-D feature volume (channels, depth, height, width). Depth is never resampled: 3-D down/up
blocks act on height and width only. Module and attribute names follow the reference so that
the published checkpoints load with ``strict=True``; the 2-D blocks come from
:mod:`gfvc.models.blocks`.

Tensors are (N, C, D, H, W); keypoints are (N, K, 3) with coordinates (x, y, z) in [-1, 1].
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from gfvc.models.blocks import DownBlock2d, Encoder, ResBlock2d


def make_coordinate_grid_3d(spatial_size: Sequence[int], dtype=torch.float32,
                            device=None) -> torch.Tensor:
    """(D, H, W, 3) grid of (x, y, z) coordinates spanning [-1, 1] on every axis."""
    d, h, w = (int(s) for s in spatial_size)
    x = 2 * (torch.arange(w, dtype=dtype, device=device) / (w - 1)) - 1
    y = 2 * (torch.arange(h, dtype=dtype, device=device) / (h - 1)) - 1
    z = 2 * (torch.arange(d, dtype=dtype, device=device) / (d - 1)) - 1
    xx = x.view(1, 1, w).expand(d, h, w)
    yy = y.view(1, h, 1).expand(d, h, w)
    zz = z.view(d, 1, 1).expand(d, h, w)
    return torch.stack([xx, yy, zz], dim=3)


def kp2gaussian_3d(kp_value: torch.Tensor, spatial_size: Sequence[int],
                   kp_variance: float) -> torch.Tensor:
    """Gaussian blob per keypoint: (N, K, 3) -> (N, K, D, H, W)."""
    grid = make_coordinate_grid_3d(spatial_size, kp_value.dtype, kp_value.device)
    lead = kp_value.shape[:-1]
    mean = kp_value.reshape(*lead, 1, 1, 1, 3)
    diff = grid.reshape((1,) * len(lead) + grid.shape) - mean
    return torch.exp(-0.5 * (diff ** 2).sum(-1) / kp_variance)


class ResBlock3d(ResBlock2d):
    """Pre-activation residual block (BN-ReLU-conv, twice) on 3-D feature volumes."""

    conv_type = nn.Conv3d
    norm_type = nn.BatchNorm3d


class UpBlock3d(nn.Module):
    """Trilinear x2 upsampling of height and width (depth kept), then conv-BN-ReLU."""

    def __init__(self, in_features: int, out_features: int, kernel_size=3, padding=1, groups=1):
        super().__init__()
        self.conv = nn.Conv3d(in_features, out_features, kernel_size=kernel_size,
                              padding=padding, groups=groups)
        self.norm = nn.BatchNorm3d(out_features, affine=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.interpolate(x, scale_factor=(1, 2, 2), mode="trilinear")
        return F.relu(self.norm(self.conv(out)))


class DownBlock3d(nn.Module):
    """Conv with stride (1, 2, 2) (depth kept), then BN-ReLU."""

    def __init__(self, in_features: int, out_features: int, kernel_size=3, padding=1, groups=1):
        super().__init__()
        self.conv = nn.Conv3d(in_features, out_features, kernel_size=kernel_size,
                              padding=padding, groups=groups, stride=(1, 2, 2))
        self.norm = nn.BatchNorm3d(out_features, affine=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.norm(self.conv(x)))


def _level_features(block_expansion: int, max_features: int, level: int) -> int:
    return min(max_features, block_expansion * (2 ** level))


class Encoder3d(Encoder):
    """Hourglass encoder on 3-D volumes; returns the input and every level's output (for the skips)."""

    down_block_type = DownBlock3d


class Decoder3d(nn.Module):
    """Hourglass decoder with skip concatenation and a final conv-BN-ReLU at full size."""

    def __init__(self, block_expansion: int, in_features: int, num_blocks: int = 3,
                 max_features: int = 256):
        super().__init__()
        blocks = []
        for i in reversed(range(num_blocks)):
            skip_factor = 1 if i == num_blocks - 1 else 2
            blocks.append(UpBlock3d(skip_factor * _level_features(block_expansion, max_features, i + 1),
                                    _level_features(block_expansion, max_features, i)))
        self.up_blocks = nn.ModuleList(blocks)
        self.out_filters = block_expansion + in_features
        self.conv = nn.Conv3d(self.out_filters, self.out_filters, kernel_size=3, padding=1)
        self.norm = nn.BatchNorm3d(self.out_filters, affine=True)

    def forward(self, skips: list[torch.Tensor]) -> torch.Tensor:
        skips = list(skips)
        out = skips.pop()
        for block in self.up_blocks:
            out = torch.cat([block(out), skips.pop()], dim=1)
        return F.relu(self.norm(self.conv(out)))


class Hourglass3d(nn.Module):
    """U-Net style 3-D hourglass; output has ``out_filters`` channels at input size."""

    def __init__(self, block_expansion: int, in_features: int, num_blocks: int = 3,
                 max_features: int = 256):
        super().__init__()
        self.encoder = Encoder3d(block_expansion, in_features, num_blocks, max_features)
        self.decoder = Decoder3d(block_expansion, in_features, num_blocks, max_features)
        self.out_filters = self.decoder.out_filters

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


class KPHourglass(nn.Module):
    """2-D encoder -> 1x1 conv -> reshape to a volume of ``reshape_depth`` -> 3-D decoder.

    No skip connections. Used by FV2V's canonical keypoint detector.
    """

    def __init__(self, block_expansion: int, in_features: int, reshape_features: int,
                 reshape_depth: int, num_blocks: int = 3, max_features: int = 256):
        super().__init__()
        self.down_blocks = nn.Sequential()
        for i in range(num_blocks):
            self.down_blocks.add_module(
                f"down{i}",
                DownBlock2d(in_features if i == 0 else _level_features(block_expansion, max_features, i),
                            _level_features(block_expansion, max_features, i + 1),
                            kernel_size=3, padding=1))
        self.conv = nn.Conv2d(_level_features(block_expansion, max_features, num_blocks),
                              reshape_features, kernel_size=1)
        self.up_blocks = nn.Sequential()
        for i in range(num_blocks):
            self.up_blocks.add_module(
                f"up{i}",
                UpBlock3d(_level_features(block_expansion, max_features, num_blocks - i),
                          _level_features(block_expansion, max_features, num_blocks - i - 1)))
        self.reshape_depth = reshape_depth
        self.out_filters = _level_features(block_expansion, max_features, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv(self.down_blocks(x))
        n, c, h, w = out.shape
        out = out.view(n, c // self.reshape_depth, self.reshape_depth, h, w)
        return self.up_blocks(out)


class ResBottleneck(nn.Module):
    """ResNet bottleneck (1x1 -> 3x3 (stride) -> 1x1, post-activation) of the head-pose
    estimator; a strided block projects the shortcut with a 1x1 conv + BN.
    """

    def __init__(self, in_features: int, stride: int):
        super().__init__()
        mid = in_features // 4
        self.conv1 = nn.Conv2d(in_features, mid, kernel_size=1)
        self.conv2 = nn.Conv2d(mid, mid, kernel_size=3, padding=1, stride=stride)
        self.conv3 = nn.Conv2d(mid, in_features, kernel_size=1)
        self.norm1 = nn.BatchNorm2d(mid, affine=True)
        self.norm2 = nn.BatchNorm2d(mid, affine=True)
        self.norm3 = nn.BatchNorm2d(in_features, affine=True)
        self.stride = stride
        if stride != 1:
            self.skip = nn.Conv2d(in_features, in_features, kernel_size=1, stride=stride)
            self.norm4 = nn.BatchNorm2d(in_features, affine=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.norm1(self.conv1(x)))
        out = F.relu(self.norm2(self.conv2(out)))
        out = self.norm3(self.conv3(out))
        if self.stride != 1:
            x = self.norm4(self.skip(x))
        return F.relu(out + x)
