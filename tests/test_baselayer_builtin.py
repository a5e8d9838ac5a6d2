"""The built-in backends (x265 and vvenc in the static ffmpeg): determinism, independent
decoders, structures, and clear errors on bad input."""
from __future__ import annotations

import numpy as np
import pytest

from gfvc.baselayer import (
    BaseLayerError, MissingBinaryError, PictureCountError, PictureFormatError, ToolFailedError,
    UnsupportedStructureError, get_backend, picture_md5_list,
)
from gfvc.baselayer.annexb import irap_picture_count, split_nal_units
from gfvc.baselayer.decoders import decode_stream, find_dec265
from gfvc.io import Yuv420, rgb_to_yuv420
from standins.pictures import moving_face

N = 4
SIZE = 64


@pytest.fixture(scope="module")
def yuv():
    return Yuv420(*rgb_to_yuv420(moving_face(N, SIZE)))


def _fast(name):
    return get_backend(name, preset="ultrafast" if name == "x265" else "faster")


@pytest.mark.parametrize("name,structure", [("x265", "intra"), ("x265", "lowdelay_P"),
                                            ("vvenc", "intra"), ("vvenc", "lowdelay_B")])
def test_repeatable_streams_and_identical_md5_in_independent_decoders(yuv, name, structure):
    backend = _fast(name)
    first = backend.encode(yuv, 32, structure)
    second = backend.encode(yuv, 32, structure)
    assert first.bitstream == second.bitstream  # byte-identical repeat (single-threaded encoders)
    assert sum(first.bytes_per_picture) == len(first.bitstream)
    assert first.num_pictures == N
    decoders = ["pyav", "ffmpeg"] + (["dec265"] if name == "x265" else [])
    if name == "x265":
        assert find_dec265() is not None, "dec265 (Debian libde265-examples) is part of the setup"
    md5s = {d: picture_md5_list(backend.decode(first.bitstream, SIZE, SIZE, N, decoder=d).pictures) for d in decoders}
    assert len({tuple(m) for m in md5s.values()}) == 1, md5s
    assert len(set(md5s["pyav"])) == N  # the pictures differ (the face moves)
    # Structure: intra = every picture IRAP; low delay = only the first one.
    codec = backend.codec
    assert irap_picture_count(first.bitstream, codec) == (N if structure == "intra" else 1)
    decoded = backend.decode(first.bitstream, SIZE, SIZE, N).pictures
    mse = np.mean((decoded.y.astype(float) - yuv.y) ** 2)
    assert 25 < 10 * np.log10(255 ** 2 / mse) < 50  # a real lossy coding at QP 32


def test_no_info_sei_and_qp_moves_rate(yuv):
    x265 = _fast("x265")
    low, high = x265.encode(yuv.frame(0), 22, "intra"), x265.encode(yuv.frame(0), 42, "intra")
    assert len(low.bitstream) > len(high.bitstream)
    # x265's settings SEI (user_data_unregistered text "x265 (build ...") is switched off
    assert b"x265 (build" not in low.bitstream
    sei = [n for n in split_nal_units(low.bitstream, "hevc") if n.nal_unit_type in (39, 40)]
    assert sei == []


def test_vvenc_uses_10bit_and_output_is_back_to_8bit(yuv):
    vvenc = _fast("vvenc")
    result = vvenc.encode(yuv.frame(0), 22, "intra")
    dec = vvenc.decode(result.bitstream, SIZE, SIZE, 1)
    assert dec.bit_depth == 10 and dec.pictures.y.dtype == np.uint8
    assert "yuv420p10le" in result.command and "-qpa 0" in result.command
    settings = vvenc.settings()
    assert settings["encoder_version"] != "unknown" and settings["ffmpeg"].startswith("ffmpeg version")


def test_rgb_444_through_x265(yuv):
    rgb = moving_face(2, SIZE)
    x265 = _fast("x265")
    result = x265.encode(rgb, 12, "intra")
    dec = x265.decode(result.bitstream, SIZE, SIZE, 2)
    assert dec.pictures.shape == rgb.shape
    assert np.abs(dec.pictures.astype(int) - rgb).mean() < 3
    with pytest.raises(PictureFormatError, match="4:2:0 only"):
        _fast("vvenc").encode(rgb, 30, "intra")


def test_unsupported_structures_and_bad_qp(yuv):
    with pytest.raises(UnsupportedStructureError, match="x265 cannot code structure 'lowdelay_B'"):
        _fast("x265").encode(yuv, 30, "lowdelay_B")
    with pytest.raises(UnsupportedStructureError, match="vvenc cannot code structure 'lowdelay_P'"):
        _fast("vvenc").encode(yuv, 30, "lowdelay_P")
    with pytest.raises(UnsupportedStructureError, match="known structures"):
        _fast("x265").encode(yuv, 30, "random_access")
    with pytest.raises(ValueError, match="outside 0..51"):
        _fast("x265").encode(yuv, 52, "intra")
    with pytest.raises(ValueError, match="must be an integer"):
        _fast("vvenc").encode(yuv, 30.5, "intra")
    with pytest.raises(ValueError, match="unknown base-layer backend"):
        get_backend("x264")


def test_odd_sizes_and_wrong_types_are_refused_before_encoding():
    odd = Yuv420(np.zeros((1, 63, 64), np.uint8), np.zeros((1, 31, 32), np.uint8), np.zeros((1, 31, 32), np.uint8))
    with pytest.raises(PictureFormatError, match="64x63 is not codable"):
        _fast("x265").encode(odd, 30, "intra")
    with pytest.raises(PictureFormatError, match="uint8"):
        _fast("x265").encode(np.zeros((1, 64, 64, 3), np.float32), 30, "intra")


def test_encoder_failure_carries_the_tools_message(yuv):
    with pytest.raises(ToolFailedError) as err:
        get_backend("x265", preset="no-such-preset").encode(yuv.frame(0), 30, "intra")
    assert "ffmpeg/libx265 encode failed" in str(err.value) and "said:" in str(err.value)
    assert err.value.stderr_tail


def test_missing_ffmpeg_binary():
    with pytest.raises(MissingBinaryError, match="not found"):
        get_backend("x265", ffmpeg="/nonexistent/ffmpeg").encode(
            Yuv420(np.zeros((1, 16, 16), np.uint8), np.zeros((1, 8, 8), np.uint8), np.zeros((1, 8, 8), np.uint8)),
            30, "intra")


def test_fewer_pictures_than_expected_and_broken_streams(yuv):
    x265 = _fast("x265")
    stream = x265.encode(yuv, 30, "lowdelay_P").bitstream
    for decoder in ("pyav", "ffmpeg"):
        with pytest.raises(PictureCountError, match=f"returned {N} pictures, expected {N + 1}"):
            x265.decode(stream, SIZE, SIZE, N + 1, decoder=decoder)
    with pytest.raises(BaseLayerError):
        decode_stream(b"\x00\x00\x01\x40\x01garbage", "hevc", "pyav")
    with pytest.raises(ToolFailedError, match="ffmpeg hevc decode failed"):
        decode_stream(b"not a stream at all", "hevc", "ffmpeg")
