"""RGB <-> YUV 4:2:0 conversion with named matrices, each defined exactly once.

Which tool uses which matrix:
- ``bt601_limited`` (default everywhere a GFVC tool converts RGB to YUV): BT.601 coefficients,
  limited ("video") range, Y in [16, 235], Cb/Cr in [16, 240]. This is what the public GFVC
  software gets from OpenCV's ``COLOR_RGB2YUV_I420`` / ``COLOR_YUV2RGB_I420``.
- ``bt709_full``: BT.709 coefficients, full range (all of 0..255), for users whose material
  is full-range HD video.
Chroma subsampling (``chroma_sampling``) is separate from the matrix:
- ``"topleft"`` (default): each 2x2 block takes the chroma of its top-left pixel, exactly as
  OpenCV's I420 conversion does (measured: OpenCV does not average), so our float conversion
  agrees with OpenCV's fixed-point one to within 1 code value;
- ``"average"``: chroma of the mean RGB of each 2x2 block (less aliasing).
Upsampling repeats each chroma sample 2x2, as OpenCV's ``COLOR_YUV2RGB_I420`` does.
The base-layer codecs are fed YUV 4:2:0 made with the matrix named in the codec config
(default bt601_limited); metrics on YUV (PSNR-Y, PSNR-YUV 6:1:1, VMAF) use the same matrix.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ColourMatrix:
    name: str
    kr: float
    kb: float
    full_range: bool

    @property
    def kg(self) -> float:
        return 1.0 - self.kr - self.kb

    # Scale/offset of the quantised signal (8-bit).
    @property
    def y_range(self) -> tuple[float, float]:
        return (0.0, 255.0) if self.full_range else (16.0, 219.0)

    @property
    def c_scale(self) -> float:
        return 255.0 if self.full_range else 224.0


MATRICES: dict[str, ColourMatrix] = {
    "bt601_limited": ColourMatrix("bt601_limited", kr=0.299, kb=0.114, full_range=False),
    "bt709_full": ColourMatrix("bt709_full", kr=0.2126, kb=0.0722, full_range=True),
}
DEFAULT_MATRIX = "bt601_limited"


def get_matrix(name: str) -> ColourMatrix:
    try:
        return MATRICES[name]
    except KeyError:
        raise ValueError(f"unknown colour matrix {name!r}; known: {', '.join(MATRICES)}") from None


def _rgb_to_ycbcr_float(rgb: np.ndarray, m: ColourMatrix) -> np.ndarray:
    """rgb float64 in 0..255 (..., 3) -> (..., 3) float Y, Cb, Cr in code values (unrounded)."""
    r, g, b = rgb[..., 0] / 255.0, rgb[..., 1] / 255.0, rgb[..., 2] / 255.0
    y = m.kr * r + m.kg * g + m.kb * b
    cb = (b - y) / (2.0 * (1.0 - m.kb))
    cr = (r - y) / (2.0 * (1.0 - m.kr))
    y_off, y_scale = m.y_range
    return np.stack([y_off + y_scale * y, 128.0 + m.c_scale * cb, 128.0 + m.c_scale * cr], axis=-1)


def _ycbcr_to_rgb_float(y: np.ndarray, cb: np.ndarray, cr: np.ndarray, m: ColourMatrix) -> np.ndarray:
    y_off, y_scale = m.y_range
    yn = (y - y_off) / y_scale
    cbn = (cb - 128.0) / m.c_scale
    crn = (cr - 128.0) / m.c_scale
    r = yn + 2.0 * (1.0 - m.kr) * crn
    b = yn + 2.0 * (1.0 - m.kb) * cbn
    g = (yn - m.kr * r - m.kb * b) / m.kg
    return np.stack([r, g, b], axis=-1) * 255.0


def _to_u8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.floor(x + 0.5), 0, 255).astype(np.uint8)


CHROMA_SAMPLINGS = ("topleft", "average")


def rgb_to_yuv420(rgb: np.ndarray, matrix: str = DEFAULT_MATRIX,
                  chroma_sampling: str = "topleft") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """uint8 RGB (..., H, W, 3) with even H, W -> (Y (..., H, W), U (..., H/2, W/2), V) uint8."""
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8 or rgb.shape[-1] != 3:
        raise ValueError(f"expected uint8 RGB (..., H, W, 3), got {rgb.dtype} {rgb.shape}")
    h, w = rgb.shape[-3], rgb.shape[-2]
    if h % 2 or w % 2:
        raise ValueError(f"4:2:0 needs even width and height, got {w}x{h}")
    m = get_matrix(matrix)
    f = rgb.astype(np.float64)
    y = _rgb_to_ycbcr_float(f, m)[..., 0]
    if chroma_sampling == "topleft":
        sub = f[..., 0::2, 0::2, :]
    elif chroma_sampling == "average":
        sub = f.reshape(*f.shape[:-3], h // 2, 2, w // 2, 2, 3).mean(axis=(-4, -2))
    else:
        raise ValueError(f"unknown chroma sampling {chroma_sampling!r}; known: {', '.join(CHROMA_SAMPLINGS)}")
    c = _rgb_to_ycbcr_float(sub, m)
    return _to_u8(y), _to_u8(c[..., 1]), _to_u8(c[..., 2])


def yuv420_to_rgb(y: np.ndarray, u: np.ndarray, v: np.ndarray, matrix: str = DEFAULT_MATRIX) -> np.ndarray:
    """uint8 planes (..., H, W), (..., H/2, W/2) x2 -> uint8 RGB (..., H, W, 3); chroma repeated 2x2."""
    m = get_matrix(matrix)
    y = np.asarray(y)
    h, w = y.shape[-2], y.shape[-1]
    if u.shape[-2:] != (h // 2, w // 2) or v.shape[-2:] != (h // 2, w // 2):
        raise ValueError(f"chroma planes {u.shape}/{v.shape} do not match luma {y.shape} for 4:2:0")
    up_u = np.repeat(np.repeat(np.asarray(u, np.float64), 2, axis=-2), 2, axis=-1)
    up_v = np.repeat(np.repeat(np.asarray(v, np.float64), 2, axis=-2), 2, axis=-1)
    return _to_u8(_ycbcr_to_rgb_float(y.astype(np.float64), up_u, up_v, m))
