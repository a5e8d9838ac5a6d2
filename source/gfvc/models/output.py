"""8-bit output of the synthesised pictures, shared by the encoder (its reconstruction) and the decoder.

Two conversions of a picture in [0, 1] (values outside are clipped first):

* ``"truncate"``: ``floor(x * 255)``, what the public GFVC reference writes (``(x * 255).astype(uint8)``
  on the generator output). A value of 254.9999 becomes 254, so the output is biased down by about
  half a code value on average;
* ``"round"``: ``floor(x * 255 + 0.5)``, the nearest code value.

Both are exact functions of the float32 picture: the encoder and the decoder agree bit for bit as long
as their float pictures do.
"""
from __future__ import annotations

import numpy as np
import torch

UINT8_MODES = ("truncate", "round")


def to_uint8(pictures: torch.Tensor, mode: str = "truncate") -> np.ndarray:
    """(B, 3, H, W) float pictures in [0, 1] -> (B, H, W, 3) uint8 (RGB, interleaved)."""
    if mode not in UINT8_MODES:
        raise ValueError(f"8-bit conversion must be one of {', '.join(UINT8_MODES)}, not {mode!r}")
    if not isinstance(pictures, torch.Tensor) or pictures.dim() != 4 or pictures.shape[1] != 3:
        shape = list(pictures.shape) if isinstance(pictures, torch.Tensor) else type(pictures).__name__
        raise ValueError(f"pictures must be a (B, 3, H, W) tensor, got {shape}")
    if not pictures.is_floating_point():
        raise ValueError(f"pictures must be floating point in [0, 1], got {pictures.dtype}")
    if torch.isnan(pictures).any():
        raise ValueError("pictures contain NaN")
    values = pictures.detach().to("cpu", torch.float32).clamp(0.0, 1.0).permute(0, 2, 3, 1).numpy()
    scaled = values * np.float32(255.0)
    if mode == "round":
        scaled = np.floor(scaled + np.float32(0.5))
    return scaled.astype(np.uint8)
