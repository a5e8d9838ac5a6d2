"""Generalized Divisive Normalization (GDN), Ballé et al., ICLR 2016.

    y[i] = x[i] / sqrt(beta[i] + sum_j gamma[i, j] * x[j]^2)        (GDN)
    y[i] = x[i] * sqrt(beta[i] + sum_j gamma[i, j] * x[j]^2)        (inverse GDN, IGDN)

State-dict layout: exactly two parameters, ``beta`` (C,) and ``gamma`` (C, C), stored in the
re-parametrised form used by compressai and by the GFVC reference (CFTE's keypoint detector):
the stored value ``p`` maps to ``max(p, bound)**2 - pedestal`` with ``pedestal = 2**-36``.
The lower bounds and the pedestal are constants, not buffers, so a published checkpoint that
holds only ``beta``/``gamma`` loads with ``strict=True``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

REPARAM_OFFSET = 2.0 ** -18
PEDESTAL = REPARAM_OFFSET ** 2


def _lower_bounded_square(stored: torch.Tensor, bound: float) -> torch.Tensor:
    """Undo the re-parametrisation: max(stored, bound)^2 - pedestal."""
    return torch.clamp(stored, min=bound) ** 2 - PEDESTAL


class GDN(nn.Module):
    """GDN / IGDN over the channel axis of an (N, C, H, W) tensor.

    A 5-D input (N, C, D, H, W) is normalised per voxel as well (depth folded into height).
    """

    def __init__(self, in_channels: int, inverse: bool = False, beta_min: float = 1e-6,
                 gamma_init: float = 0.1):
        super().__init__()
        self.inverse = bool(inverse)
        self.beta_bound = (float(beta_min) + PEDESTAL) ** 0.5
        self.gamma_bound = REPARAM_OFFSET
        # Initial values in stored form: beta = 1, gamma = gamma_init * identity.
        self.beta = nn.Parameter(torch.sqrt(torch.ones(in_channels) + PEDESTAL))
        self.gamma = nn.Parameter(torch.sqrt(float(gamma_init) * torch.eye(in_channels) + PEDESTAL))

    def effective_beta(self) -> torch.Tensor:
        return _lower_bounded_square(self.beta, self.beta_bound)

    def effective_gamma(self) -> torch.Tensor:
        return _lower_bounded_square(self.gamma, self.gamma_bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        folded_shape = None
        if x.dim() == 5:
            folded_shape = x.shape
            x = x.reshape(x.shape[0], x.shape[1], x.shape[2] * x.shape[3], x.shape[4])
        channels = x.shape[1]
        gamma = self.effective_gamma().reshape(channels, channels, 1, 1)
        norm = F.conv2d(x * x, gamma, self.effective_beta())
        out = x * (torch.sqrt(norm) if self.inverse else torch.rsqrt(norm))
        if folded_shape is not None:
            out = out.reshape(folded_shape)
        return out

    def extra_repr(self) -> str:
        return f"{self.beta.shape[0]}, inverse={self.inverse}"
