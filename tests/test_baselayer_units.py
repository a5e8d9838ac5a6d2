"""Annex-B access-unit accounting, HM-style MD5 and bit-depth conversions (no codec runs)."""
from __future__ import annotations

import hashlib

import numpy as np
import pytest

from gfvc.baselayer import BaseLayerError, picture_md5
from gfvc.baselayer.annexb import access_unit_sizes, split_nal_units
from gfvc.baselayer.md5 import hm_md5_line
from gfvc.baselayer.samples import to_8bit, to_10bit
from gfvc.io import Yuv420


def hevc_nal(nut: int, payload: bytes, long_sc: bool = False) -> bytes:
    return (b"\x00\x00\x00\x01" if long_sc else b"\x00\x00\x01") + bytes([nut << 1, 1]) + payload


def vvc_nal(nut: int, payload: bytes) -> bytes:
    return b"\x00\x00\x01" + bytes([0, (nut << 3) | 1]) + payload


def test_hevc_access_units_follow_first_slice_flag_and_prefix_nals():
    au0 = hevc_nal(32, b"\x0c", True) + hevc_nal(33, b"\x01\x02") + hevc_nal(34, b"\x03") + hevc_nal(19, b"\x80\x11\x22")
    au1 = hevc_nal(39, b"\x05\x06") + hevc_nal(1, b"\x80\x33") + hevc_nal(1, b"\x00\x44") + hevc_nal(40, b"\x07")
    au2 = hevc_nal(35, b"\x50") + hevc_nal(1, b"\x80\x55\x66\x77")
    sizes = access_unit_sizes(au0 + au1 + au2, "hevc")
    assert sizes == [len(au0), len(au1), len(au2)]


def test_vvc_access_units_with_picture_header_nal_and_in_slice_header():
    au0 = vvc_nal(20, b"\x10") + vvc_nal(15, b"\x01\x02") + vvc_nal(16, b"\x03") + vvc_nal(8, b"\x80\x11")
    au1 = vvc_nal(20, b"\x10") + vvc_nal(19, b"\x55") + vvc_nal(0, b"\x00\x22") + vvc_nal(0, b"\x00\x23")
    au2 = vvc_nal(17, b"\x01") + vvc_nal(0, b"\x80\x33") + vvc_nal(24, b"\x44")
    assert access_unit_sizes(au0 + au1 + au2, "vvc") == [len(au0), len(au1), len(au2)]
    types = [n.nal_unit_type for n in split_nal_units(au0 + au1 + au2, "vvc")]
    assert types == [20, 15, 16, 8, 20, 19, 0, 0, 17, 0, 24]


def test_not_annexb_is_an_error():
    with pytest.raises(BaseLayerError, match="start code"):
        access_unit_sizes(b"\x12\x34\x56\x78", "hevc")
    with pytest.raises(BaseLayerError, match="no coded picture"):
        access_unit_sizes(hevc_nal(32, b"\x0c"), "hevc")


def test_picture_md5_is_per_plane_hex_like_hm():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 256, (2, 8, 8), dtype=np.uint8)
    u = rng.integers(0, 256, (2, 4, 4), dtype=np.uint8)
    v = rng.integers(0, 256, (2, 4, 4), dtype=np.uint8)
    digest = picture_md5(Yuv420(y, u, v), 1)
    want = ",".join(hashlib.md5(p[1].tobytes()).hexdigest() for p in (y, u, v))
    assert digest == want
    assert hm_md5_line(7, digest, 123) == f"POC    7 (   123 bytes) [MD5:{want}]"
    rgb = rng.integers(0, 256, (1, 8, 8, 3), dtype=np.uint8)  # coded as G, B, R
    assert picture_md5(rgb, 0).split(",")[0] == hashlib.md5(rgb[0, ..., 1].tobytes()).hexdigest()


def test_bit_depth_conversion_is_exact_and_rounds_like_vtm_output():
    x = np.arange(256, dtype=np.uint8)
    assert np.array_equal(to_8bit(to_10bit(x), 10), x)  # 8 -> 10 -> 8 is lossless
    ten = np.array([0, 1, 2, 3, 4, 5, 6, 1021, 1022, 1023], dtype=np.uint16)
    assert to_8bit(ten, 10).tolist() == [0, 0, 1, 1, 1, 1, 2, 255, 255, 255]
