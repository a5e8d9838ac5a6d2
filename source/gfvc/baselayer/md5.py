"""Per-picture MD5, the way the HM/VTM reference software prints decoded picture hashes.

HM computes an MD5 per colour component over the component's samples row by row (one byte a
sample up to 8 bits, two bytes little-endian above) and prints the three digests in hex,
separated by commas: ``[MD5:<Y>,<Cb>,<Cr>]``. For RGB 4:4:4 pictures the components are
taken in coding order G, B, R (the GBR order the reference software codes them in).
"""
from __future__ import annotations

import hashlib

import numpy as np


def plane_md5(plane: np.ndarray) -> str:
    plane = np.ascontiguousarray(plane)
    if plane.dtype == np.uint8:
        data = plane.tobytes()
    elif plane.dtype == np.uint16:
        data = plane.astype("<u2").tobytes()
    else:
        raise ValueError(f"unsupported sample type {plane.dtype}")
    return hashlib.md5(data).hexdigest()


def picture_md5(pictures, i: int) -> str:
    """``"<md5 Y>,<md5 U>,<md5 V>"`` of picture ``i`` of a Yuv420 (or an (N,H,W,3) RGB array)."""
    if isinstance(pictures, np.ndarray):
        rgb = pictures[i]
        planes = (rgb[..., 1], rgb[..., 2], rgb[..., 0])  # G, B, R
    else:
        planes = (pictures.y[i], pictures.u[i], pictures.v[i])
    return ",".join(plane_md5(p) for p in planes)


def picture_md5_list(pictures) -> list[str]:
    n = pictures.shape[0] if isinstance(pictures, np.ndarray) else pictures.num_frames
    return [picture_md5(pictures, i) for i in range(n)]


def hm_md5_line(poc: int, digest: str, nbytes: int | None = None) -> str:
    """One line in the style of HM's decoder output: ``POC    3 ( 1234 bytes) [MD5:...]``."""
    size = f" ({nbytes:6d} bytes)" if nbytes is not None else ""
    return f"POC {poc:4d}{size} [MD5:{digest}]"
