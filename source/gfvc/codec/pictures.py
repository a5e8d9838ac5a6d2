"""Pictures between the base layer, the models and the output: one definition each.

- Key-picture formats (``mi_key_picture_format_idc`` of the model-identity payload): how RGB
  input becomes base-layer pictures and how decoded base pictures become the RGB pictures the
  model animates and the decoder outputs.
- Model input: uint8 RGB -> float32 (B, 3, H, W) in [0, 1] as ``x / 255`` (what the public
  software feeds its networks, reference_codecs 1.1).
- Model output -> 8-bit: gfvc.models.output.to_uint8 (truncation as the public software, or
  rounding; both clip to [0, 1] first).
"""
from __future__ import annotations

import numpy as np
import torch

from ..bitstream.payloads.model_identity import KEY_PICTURE_FORMATS
from ..io import Yuv420, rgb_to_yuv420, yuv420_to_rgb
from ..models.output import UINT8_MODES, to_uint8  # noqa: F401 - the one 8-bit conversion

#: key_format setting -> (mi_key_picture_format_idc, colour matrix or None for GBR 4:4:4)
KEY_FORMATS = {
    "yuv420_bt601_limited": (0, "bt601_limited"),
    "yuv420_bt709_full": (1, "bt709_full"),
    "gbr444": (2, None),
}
assert tuple(KEY_FORMATS) == KEY_PICTURE_FORMATS
OUTPUT_ROUNDING = UINT8_MODES


def key_format_name(idc: int) -> str:
    return KEY_PICTURE_FORMATS[idc]


def to_base_layer(frames: np.ndarray, key_format: str):
    """RGB (N, H, W, 3) uint8 -> what the base-layer backend codes (Yuv420 or GBR RGB array)."""
    _, matrix = KEY_FORMATS[key_format]
    if matrix is None:
        return np.ascontiguousarray(frames)
    return Yuv420(*rgb_to_yuv420(frames, matrix))


def from_base_layer(pictures, key_format: str) -> np.ndarray:
    """Decoded base-layer pictures -> RGB (N, H, W, 3) uint8."""
    _, matrix = KEY_FORMATS[key_format]
    if isinstance(pictures, np.ndarray):
        if matrix is not None:
            raise ValueError(f"key format {key_format} expects YUV 4:2:0 pictures, the decoder gave RGB")
        return pictures
    if matrix is None:
        raise ValueError("key format gbr444 expects GBR 4:4:4 pictures, the decoder gave YUV 4:2:0")
    return yuv420_to_rgb(pictures.y, pictures.u, pictures.v, matrix)


def to_model(frames: np.ndarray) -> torch.Tensor:
    """uint8 RGB (N, H, W, 3) -> float32 (N, 3, H, W) in [0, 1]."""
    t = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).to(torch.float32)
    return t / 255.0
