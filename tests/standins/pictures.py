"""Test pictures for the base-layer tests: a real face (scikit-image's astronaut) with a little motion."""
from __future__ import annotations

import numpy as np


def moving_face(frames: int = 4, size: int = 64) -> np.ndarray:
    """(frames, size, size, 3) uint8 RGB: the astronaut's face, shifted by one pixel per frame."""
    from skimage import data

    img = data.astronaut()  # 512x512, face around rows 30..230, cols 150..350
    crop = img[20:276, 140:396]  # 256x256 around the face
    step = 256 // size
    small = crop[::step, ::step][:size, :size]
    return np.stack([np.roll(small, (k, 2 * k), axis=(0, 1)) for k in range(frames)]).astype(np.uint8)
