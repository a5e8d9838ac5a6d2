"""Dense motion with occlusion, driven by sparse keypoints (FOMM Sec. 3, zero-order variant).

One module serves every keypoint family; the reference code bases differ only in
* the output heads: FOMM registers plain convolutions (``mask.weight``), the DAC family wraps them
  (``mask.conv.weight``) -> ``wrapped_heads``;
* the hourglass input: DAC/HDAC/RDAC/MRDAC feed the keypoint heatmap differences next to the sparsely
  deformed pictures; the public GFVC FOMM feeds zeros in place of the heatmaps -> ``heatmap_input``;
* the hourglass upsampling (nearest for FOMM, bilinear for the DAC family) -> ``up_mode``;
* the anti-aliased downscaling (decimation for FOMM/DAC/RDAC, bilinear for HDAC/MRDAC) -> ``down_resample``.
The sparse motions are translations only (no jacobians), as in all the GFVC reference models.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .blocks import AntiAliasInterpolation2d, ConvHead, Hourglass, kp2gaussian, make_coordinate_grid


class DenseMotionNetwork(nn.Module):
    """Predicts a dense backward deformation (B, h, w, 2) and an occlusion map (B, 1, h, w) at
    ``scale_factor`` of the reference resolution, from reference-frame and target keypoints.

    forward(reference_frame, kp_target, kp_reference) returns a dict with
    ``heatmap`` (B, K+1, 1, h, w) the heatmap input (zeros when ``heatmap_input`` is False),
    ``sparse_motion`` (B, K+1, h, w, 2), ``sparse_deformed`` (B, K+1, C, h, w), ``mask`` (B, K+1, h, w)
    (softmax over the K+1 motions), ``deformation`` (B, h, w, 2) and, when estimated, ``occlusion_map``."""

    def __init__(self, block_expansion: int, num_blocks: int, max_features: int, num_kp: int,
                 num_channels: int = 3, estimate_occlusion_map: bool = False, scale_factor: float = 1,
                 kp_variance: float = 0.01, *, wrapped_heads: bool = True, heatmap_input: bool = True,
                 up_mode: str = "bilinear", down_resample: str = "stride"):
        super().__init__()
        self.hourglass = Hourglass(block_expansion=block_expansion, in_features=(num_kp + 1) * (num_channels + 1),
                                   max_features=max_features, num_blocks=num_blocks, up_mode=up_mode)
        head = ConvHead if wrapped_heads else _plain_conv
        self.mask = head(self.hourglass.out_filters, num_kp + 1, kernel_size=(7, 7), padding=(3, 3))
        self.occlusion = (head(self.hourglass.out_filters, 1, kernel_size=(7, 7), padding=(3, 3))
                          if estimate_occlusion_map else None)
        self.num_kp = num_kp
        self.scale_factor = scale_factor
        self.kp_variance = kp_variance
        self.heatmap_input = heatmap_input
        if scale_factor != 1:
            self.down = AntiAliasInterpolation2d(num_channels, scale_factor, resample=down_resample)

    def sparse_motions(self, reference_frame: torch.Tensor, kp_target: torch.Tensor,
                       kp_reference: torch.Tensor) -> torch.Tensor:
        """Identity grid (background) followed by one translation per keypoint that moves the target
        keypoint onto the reference keypoint: (B, K+1, h, w, 2)."""
        b, _, h, w = reference_frame.shape
        identity = make_coordinate_grid((h, w), kp_reference.dtype, kp_reference.device).view(1, 1, h, w, 2)
        target_to_reference = (identity - kp_target.view(b, self.num_kp, 1, 1, 2)
                               + kp_reference.view(b, self.num_kp, 1, 1, 2))
        return torch.cat([identity.repeat(b, 1, 1, 1, 1), target_to_reference], dim=1)

    def sparse_deformed(self, reference_frame: torch.Tensor, sparse_motions: torch.Tensor) -> torch.Tensor:
        """The reference warped by each sparse motion: (B, K+1, C, h, w)."""
        b, c, h, w = reference_frame.shape
        k1 = self.num_kp + 1
        repeated = reference_frame.unsqueeze(1).expand(b, k1, c, h, w).reshape(b * k1, c, h, w)
        deformed = F.grid_sample(repeated, sparse_motions.reshape(b * k1, h, w, 2), align_corners=True)
        return deformed.view(b, k1, c, h, w)

    def prepare_reference(self, reference_frame: torch.Tensor, kp_reference: dict) -> dict:
        """The target-independent part: the (down-scaled) reference picture, its keypoints and their
        gaussian heatmaps."""
        if self.scale_factor != 1:
            reference_frame = self.down(reference_frame)
        kp_r = kp_reference["value"]
        prepared = {"frame": reference_frame, "kp": kp_r}
        if self.heatmap_input:
            prepared["gaussian"] = kp2gaussian(kp_r, reference_frame.shape[2:], self.kp_variance)
        return prepared

    def forward(self, reference_frame: torch.Tensor, kp_target: dict, kp_reference: dict) -> dict:
        return self.forward_prepared(self.prepare_reference(reference_frame, kp_reference), kp_target)

    def forward_prepared(self, prepared: dict, kp_target: dict) -> dict:
        """forward() from :meth:`prepare_reference`'s output; a batch-1 reference serves B targets."""
        kp_t = kp_target["value"]
        b = kp_t.shape[0]
        reference_frame = prepared["frame"].expand(b, -1, -1, -1)
        kp_r = prepared["kp"].expand(b, -1, -1)
        _, _, h, w = reference_frame.shape
        if self.heatmap_input:
            heatmap = kp2gaussian(kp_t, (h, w), self.kp_variance) - prepared["gaussian"]
            zeros = torch.zeros(b, 1, h, w, dtype=heatmap.dtype, device=heatmap.device)
            heatmap = torch.cat([zeros, heatmap], dim=1).unsqueeze(2)
        else:
            heatmap = reference_frame.new_zeros(b, self.num_kp + 1, 1, h, w)
        sparse_motion = self.sparse_motions(reference_frame, kp_t, kp_r)
        deformed = self.sparse_deformed(reference_frame, sparse_motion)

        prediction = self.hourglass(torch.cat([heatmap, deformed], dim=2).view(b, -1, h, w))
        mask = F.softmax(self.mask(prediction), dim=1)
        deformation = (sparse_motion.permute(0, 1, 4, 2, 3) * mask.unsqueeze(2)).sum(dim=1)
        out = {"heatmap": heatmap, "sparse_motion": sparse_motion, "sparse_deformed": deformed,
               "mask": mask, "deformation": deformation.permute(0, 2, 3, 1)}
        if self.occlusion is not None:
            out["occlusion_map"] = torch.sigmoid(self.occlusion(prediction))
        return out


def _plain_conv(in_features: int, out_features: int, kernel_size, padding) -> nn.Conv2d:
    return nn.Conv2d(in_features, out_features, kernel_size=kernel_size, padding=padding)
