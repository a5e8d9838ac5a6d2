"""Sample bit-depth conversions, defined once.

- 8 -> 10 bit (vvenc input): x << 2, exactly what VTM does with InputBitDepth 8 and
  InternalBitDepth 10 (the MSBs are extended with zeros; no rounding is involved).
- 10 -> 8 bit (VVC output): clip((x + 2) >> 2, 0, 255), the rounding right shift that VTM's
  DecoderApp applies when asked for an 8-bit output file (``-d 8``); the GFVC CTC compares the
  VVC anchor's 8-bit output, so pictures from every VVC decoder here are converted the same way.
"""
from __future__ import annotations

import numpy as np


def to_10bit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x)
    if x.dtype != np.uint8:
        raise ValueError(f"expected 8-bit samples, got {x.dtype}")
    return (x.astype(np.uint16) << 2)


def to_8bit(x: np.ndarray, bit_depth: int) -> np.ndarray:
    """Rounding right shift from ``bit_depth`` to 8 bits (identity for 8-bit input)."""
    x = np.asarray(x)
    if bit_depth == 8:
        return x.astype(np.uint8, copy=False)
    shift = bit_depth - 8
    return np.minimum((x.astype(np.uint32) + (1 << (shift - 1))) >> shift, 255).astype(np.uint8)
