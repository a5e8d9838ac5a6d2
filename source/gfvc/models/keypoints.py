"""Keypoint detector (analysis network) of the keypoint families: an hourglass on a downscaled picture,
a 7x7 convolution giving one logit map per keypoint, a spatial softmax, and the expected coordinate.

Reference variants, selected by arguments:
* FOMM (KPDetector): plain ``kp`` convolution, ``pad`` 0 by default, optional first-order jacobians from a
  ``jacobian`` convolution weighted by the heatmaps (``jacobian="conv"``), nearest upsampling;
* DAC/HDAC/RDAC (KPD): ``kp.conv`` wrapper, ``pad`` 3, bilinear upsampling; its ``estimate_jacobian`` flag
  gives the heatmap covariance (``jacobian="covariance"``); all published configurations leave it off;
* MRDAC (MRDAC_KPD): plain ``kp`` convolution, ``pad`` 3, bilinear upsampling.
HDAC and MRDAC downscale the input with bilinear resampling after the anti-alias filter
(``down_resample="bilinear"``), the others by decimation.
"""
from __future__ import annotations

import torch
from torch import nn

from .blocks import AntiAliasInterpolation2d, ConvHead, Hourglass, heatmap_to_kp, make_coordinate_grid, \
    softmax_heatmap

JACOBIAN_KINDS = (None, "conv", "covariance")


class KeypointDetector(nn.Module):
    """forward(x (B, C, H, W)) -> {"value": (B, K, 2), "heatmap": (B, K, h, w)[, "jacobian": (B, K, 2, 2)]}."""

    def __init__(self, block_expansion: int, num_kp: int, num_channels: int, max_features: int, num_blocks: int,
                 temperature: float, scale_factor: float = 1, pad: int = 3, *, wrapped_head: bool = True,
                 jacobian: str | None = None, single_jacobian_map: bool = False, up_mode: str = "bilinear",
                 down_resample: str = "stride"):
        super().__init__()
        if jacobian not in JACOBIAN_KINDS:
            raise ValueError(f"jacobian must be one of {JACOBIAN_KINDS}, not {jacobian!r}")
        self.predictor = Hourglass(block_expansion, in_features=num_channels, max_features=max_features,
                                   num_blocks=num_blocks, up_mode=up_mode)
        head = ConvHead if wrapped_head else nn.Conv2d
        self.kp = head(self.predictor.out_filters, num_kp, kernel_size=(7, 7), padding=pad)
        self.jacobian_kind = jacobian
        if jacobian == "conv":
            self.num_jacobian_maps = 1 if single_jacobian_map else num_kp
            self.jacobian = nn.Conv2d(self.predictor.out_filters, 4 * self.num_jacobian_maps,
                                      kernel_size=(7, 7), padding=pad)
            # Identity jacobians at initialisation, as in the reference (matters only for training).
            with torch.no_grad():
                self.jacobian.weight.zero_()
                self.jacobian.bias.copy_(torch.tensor([1.0, 0.0, 0.0, 1.0] * self.num_jacobian_maps))
        self.num_kp = num_kp
        self.temperature = temperature
        self.scale_factor = scale_factor
        if scale_factor != 1:
            self.down = AntiAliasInterpolation2d(num_channels, scale_factor, resample=down_resample)

    def forward(self, x: torch.Tensor) -> dict:
        if self.scale_factor != 1:
            x = self.down(x)
        feature_map = self.predictor(x)
        heatmap = softmax_heatmap(self.kp(feature_map), self.temperature)
        out = {"value": heatmap_to_kp(heatmap), "heatmap": heatmap}
        if self.jacobian_kind == "conv":
            out["jacobian"] = self._conv_jacobian(feature_map, heatmap)
        elif self.jacobian_kind == "covariance":
            out["jacobian"] = self._heatmap_covariance(heatmap, out["value"])
        return out

    def _conv_jacobian(self, feature_map: torch.Tensor, heatmap: torch.Tensor) -> torch.Tensor:
        b, k, h, w = heatmap.shape
        jacobian_map = self.jacobian(feature_map).reshape(b, self.num_jacobian_maps, 4, h, w)
        jacobian = (heatmap.unsqueeze(2) * jacobian_map).view(b, k, 4, -1).sum(dim=-1)
        return jacobian.view(b, k, 2, 2)

    @staticmethod
    def _heatmap_covariance(heatmap: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
        grid = make_coordinate_grid(heatmap.shape[2:], heatmap.dtype, heatmap.device).unsqueeze(0).unsqueeze(0)
        centred = grid - value.unsqueeze(-2).unsqueeze(-2)
        covar = torch.matmul(centred.unsqueeze(-1), centred.unsqueeze(-2))
        return (covar * heatmap.unsqueeze(-1).unsqueeze(-1)).sum(dim=(2, 3))
