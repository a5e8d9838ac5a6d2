"""Test pictures for the base-layer tests (the same generator the benchmark uses)."""
from __future__ import annotations

import numpy as np

from gfvc.baselayer.benchmark import astronaut_clip


def moving_face(frames: int = 4, size: int = 64) -> np.ndarray:
    """(frames, size, size, 3) uint8 RGB: the astronaut's face, shifted by (1, 2) pixels a frame."""
    return astronaut_clip(frames, size)
