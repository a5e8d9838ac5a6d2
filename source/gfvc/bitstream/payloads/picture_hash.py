"""gfvc_picture_hash( ): MD5 of output pictures, per picture or over a run of pictures.

Syntax and semantics: doc/sei_payloads.md section 4.
"""
from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from typing import Iterable

import numpy as np

PICTURE_HASH_UUID = uuid.UUID("f35051c7-edf3-456c-9c35-5940c0fa9170").bytes
SAMPLE_FORMAT_RGB444_8BIT = 0
SAMPLE_FORMAT_YUV420_8BIT = 1


def picture_md5(pictures: Iterable[np.ndarray]) -> bytes:
    """MD5 over pictures in output order; each an (H, W, 3) uint8 RGB array hashed as planar
    R, G, B planes, rows top to bottom (the sample order of doc/sei_payloads.md, format 0)."""
    h = hashlib.md5()
    for pic in pictures:
        arr = np.asarray(pic)
        if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3:
            raise ValueError(f"picture_md5 needs (H, W, 3) uint8 pictures, got {arr.dtype} {arr.shape}")
        h.update(np.ascontiguousarray(arr.transpose(2, 0, 1)).tobytes())
    return h.digest()


@dataclass
class PictureHash:
    gph_first_output_idx: int = 0
    gph_num_pictures_minus1: int = 0          # 0: the hash covers one picture
    gph_sample_format: int = SAMPLE_FORMAT_RGB444_8BIT
    gph_md5: bytes = bytes(16)


def gfvc_picture_hash(rw, m: PictureHash, context=None) -> PictureHash:
    m.gph_first_output_idx = rw.ue("gph_first_output_idx", m.gph_first_output_idx)
    m.gph_num_pictures_minus1 = rw.ue("gph_num_pictures_minus1", m.gph_num_pictures_minus1)
    m.gph_sample_format = rw.u("gph_sample_format", 2, m.gph_sample_format)
    rw.check(m.gph_sample_format <= SAMPLE_FORMAT_YUV420_8BIT,
             f"gph_sample_format {m.gph_sample_format} is reserved")
    rw.align_zero("gph_alignment_zero_bit")
    m.gph_md5 = rw.byte_string("gph_md5", 16, m.gph_md5)
    return m
