"""gfvc-baselayer against careless and hostile use: outputs that would destroy inputs or devices,
wrong sizes, truncated streams, bad numbers, non-regular files; and the HM/VTM conformance
details (native-depth MD5, GBR colour description)."""
from __future__ import annotations

import os
import re
import stat
import threading
from dataclasses import astuple
from pathlib import Path

import numpy as np
import pytest

from gfvc.baselayer import PictureFormatError, StreamTruncatedError, get_backend
from gfvc.baselayer import cli
from gfvc.baselayer.cli import main
from gfvc.baselayer.annexb import split_nal_units
from gfvc.baselayer.decoders import decode_stream
from gfvc.baselayer.jvet import sequence_cfg
from gfvc.baselayer.sps import read_sequence_info
from gfvc.io import Yuv420, rgb_to_yuv420, write_rgb
from standins.apps import install_jvet_standins
from standins.pictures import moving_face

N, SIZE = 3, 64


@pytest.fixture(scope="module")
def hevc_stream() -> bytes:
    yuv = Yuv420(*rgb_to_yuv420(moving_face(N, SIZE)))
    return get_backend("x265", preset="ultrafast").encode(yuv, 32, "lowdelay_P").bitstream


@pytest.fixture(scope="module")
def vvc_stream() -> bytes:
    yuv = Yuv420(*rgb_to_yuv420(moving_face(N, SIZE)))
    return get_backend("vvenc", preset="faster").encode(yuv, 32, "lowdelay_B").bitstream


@pytest.fixture
def seq(tmp_path) -> Path:
    path = tmp_path / f"FACE_{SIZE}x{SIZE}_25_8bit_444.rgb"
    write_rgb(path, moving_face(N, SIZE))
    return path


def _one_line_error(capsys, *needles: str) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("gfvc-baselayer: error:") and "\n" not in err, err
    for needle in needles:
        assert needle in err, err
    return err


# -- outputs ------------------------------------------------------------------------------
def test_output_equal_to_input_is_refused_before_any_work(seq, tmp_path, capsys, monkeypatch):
    before = seq.read_bytes()

    def no_work(*args, **kwargs):
        raise AssertionError("the encoder ran although the output was refused")

    monkeypatch.setattr(cli, "get_backend", no_work)
    assert main(["encode", str(seq), "-o", str(seq), "--qp", "37"]) == 1
    _one_line_error(capsys, "also an input", "refusing to overwrite")
    link = tmp_path / "same.rgb"
    link.symlink_to(seq)  # another name for the same file
    assert main(["encode", str(seq), "-o", str(link), "--qp", "37"]) == 1
    _one_line_error(capsys, "also an input")
    assert seq.read_bytes() == before and stat.S_ISREG(os.lstat(seq).st_mode)


def test_decode_output_equal_to_input_is_refused(hevc_stream, tmp_path, capsys):
    stream = tmp_path / "in.265"
    stream.write_bytes(hevc_stream)
    assert main(["decode", str(stream), "-o", str(stream)]) == 1
    _one_line_error(capsys, "also an input")
    assert stream.read_bytes() == hevc_stream


def test_device_and_fifo_outputs_are_written_not_replaced(seq, tmp_path, capsys):
    reference = tmp_path / "ref.265"
    args = ["--qp", "37", "--preset", "ultrafast"]
    assert main(["encode", str(seq), "-o", str(reference)] + args) == 0
    assert main(["encode", str(seq), "-o", os.devnull] + args) == 0
    assert stat.S_ISCHR(os.stat(os.devnull).st_mode)
    fifo = tmp_path / "out.fifo"
    os.mkfifo(fifo)
    received = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))  # blocks until the writer opens
    reader.start()
    try:
        assert main(["encode", str(seq), "-o", str(fifo)] + args) == 0
    finally:
        if reader.is_alive() and not received:
            with open(fifo, "wb"):  # let the reader finish even if the encode failed before opening
                pass
        reader.join()
    assert received == [reference.read_bytes()]
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    capsys.readouterr()


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full on this system")
def test_full_device_gives_one_line_and_stays_a_device(seq, capsys):
    assert main(["encode", str(seq), "-o", "/dev/full", "--qp", "37", "--preset", "ultrafast"]) == 1
    _one_line_error(capsys, "/dev/full", "No space left")
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)


def test_benchmark_refuses_to_overwrite_its_clip_before_measuring(seq, capsys):
    from gfvc.baselayer import benchmark

    before = seq.read_bytes()
    assert benchmark.main(["--clip", str(seq), "--frames", "1", "--out", str(seq)]) == 1
    assert "also an input" in capsys.readouterr().err
    assert seq.read_bytes() == before


# -- decoded size -------------------------------------------------------------------------
def test_sps_gives_the_output_format(hevc_stream, vvc_stream):
    assert astuple(read_sequence_info(hevc_stream, "hevc"))[1:] == (SIZE, SIZE, 1, 8, 8)
    assert astuple(read_sequence_info(vvc_stream, "vvc"))[1:] == (SIZE, SIZE, 1, 10, 10)
    odd = Yuv420(*rgb_to_yuv420(moving_face(1, 256)[:, :138, :200]))  # not a multiple of the CU size
    for backend, codec in (("x265", "hevc"), ("vvenc", "vvc")):
        stream = get_backend(backend, preset="ultrafast" if backend == "x265" else "faster").encode(odd, 40, "intra")
        info = read_sequence_info(stream.bitstream, codec)
        assert (info.width, info.height) == (200, 138)  # the conformance window is applied


@pytest.mark.parametrize("decoder", ["pyav", "ffmpeg", "dec265", "hm"])
def test_a_wrong_requested_size_is_an_error_for_every_decoder(decoder, hevc_stream, tmp_path, monkeypatch, capsys):
    install_jvet_standins(tmp_path, monkeypatch)
    stream = tmp_path / "in.265"
    stream.write_bytes(hevc_stream)
    half = str(SIZE // 2)
    assert main(["decode", str(stream), "--decoder", decoder, "--width", half, "--height", half]) == 1
    _one_line_error(capsys, f"{SIZE}x{SIZE}, not the requested {half}x{half}")
    assert main(["decode", str(stream), "--decoder", decoder, "--frames", str(N)]) == 0  # no size needed
    assert len([ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("POC")]) == N


# -- truncated streams ----------------------------------------------------------------------
@pytest.mark.parametrize("decoder", ["pyav", "ffmpeg", "dec265", "hm"])
@pytest.mark.parametrize("cut", [20, 60])
def test_a_stream_cut_inside_its_last_picture_is_reported(decoder, cut, hevc_stream, tmp_path, monkeypatch, capsys):
    install_jvet_standins(tmp_path, monkeypatch)
    stream = tmp_path / "cut.265"
    stream.write_bytes(hevc_stream[:-cut])
    assert main(["decode", str(stream), "--decoder", decoder, "--width", str(SIZE), "--height", str(SIZE)]) == 1
    _one_line_error(capsys, "stream truncated")


def test_truncation_checks_on_the_library_level(hevc_stream, vvc_stream):
    with pytest.raises(StreamTruncatedError, match="stream truncated"):
        decode_stream(vvc_stream[:-20], "vvc", "ffmpeg")
    # a stream that ends with the parameter sets of a picture that is not there
    first_slice = next(u for u in split_nal_units(hevc_stream, "hevc") if u.is_vcl)
    parameter_sets = hevc_stream[:first_slice.start]
    with pytest.raises(StreamTruncatedError, match="ends with VPS_NUT, SPS_NUT, PPS_NUT"):
        decode_stream(hevc_stream + parameter_sets, "hevc")
    for decoder in ("pyav", "ffmpeg", "dec265"):  # complete streams pass
        assert decode_stream(hevc_stream, "hevc", decoder).num_pictures == N


# -- numbers and input files ----------------------------------------------------------------
@pytest.mark.parametrize("option,value", [("--frames", "0"), ("--frames", "-2"), ("--width", "-64"),
                                          ("--height", "0")])
def test_non_positive_numbers_never_reach_a_decoder(option, value, hevc_stream, tmp_path, capsys, monkeypatch):
    stream = tmp_path / "in.265"
    stream.write_bytes(hevc_stream)
    monkeypatch.setattr("gfvc.baselayer.decoders.decode_pyav", None)  # a decoder call would be a TypeError
    assert main(["decode", str(stream), option, value]) == 1
    _one_line_error(capsys, f"{option} must be a positive integer, got {value}")
    with pytest.raises(ValueError, match="width must be a positive integer"):
        decode_stream(hevc_stream, "hevc", width=-1, height=64)


def test_encode_refuses_non_positive_numbers(seq, capsys):
    for option, value, needle in (("--frames", "0", "--frames must be a positive integer"),
                                  ("--start", "-1", "--start must be 0 or more"),
                                  ("--fps", "-25", "--fps must be positive"),
                                  ("--fps", "nan", "--fps must be positive and finite")):
        assert main(["encode", str(seq), "-o", str(seq.with_suffix(".265")), "--qp", "37", option, value]) == 1
        _one_line_error(capsys, needle)


def test_non_regular_inputs_are_named_as_what_they_are(tmp_path, capsys):
    folder = tmp_path / "FACE_64x64_25_8bit_444.rgb"
    folder.mkdir()
    assert main(["encode", str(folder), "-o", str(tmp_path / "x.265"), "--qp", "37"]) == 1
    _one_line_error(capsys, "is a directory")
    assert main(["decode", str(folder)]) == 1
    _one_line_error(capsys, "is a directory")
    fifo = tmp_path / "stream.265"
    os.mkfifo(fifo)
    assert main(["decode", str(fifo)]) == 1  # never opened: it would block
    _one_line_error(capsys, "FIFO")
    assert main(["decode", "/dev/zero", "--codec", "hevc"]) == 1
    _one_line_error(capsys, "character device")
    assert main(["decode", str(tmp_path / "missing.265")]) == 1
    _one_line_error(capsys, "no such file")


# -- HM/VTM conformance details ---------------------------------------------------------------
def test_vtm_prints_the_native_10_bit_md5_like_pyav(vvc_stream, tmp_path, monkeypatch, capsys):
    install_jvet_standins(tmp_path, monkeypatch)
    stream = tmp_path / "face.266"
    stream.write_bytes(vvc_stream)
    printed = {}
    for decoder in ("pyav", "vtm"):
        assert main(["decode", str(stream), "--decoder", decoder, "--frames", str(N), "--width", str(SIZE),
                     "--height", str(SIZE)]) == 0
        printed[decoder] = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("POC")]
    assert printed["vtm"] == printed["pyav"] and len(printed["vtm"]) == N
    assert re.search(r"\[MD5:[0-9a-f,]+\] \[8-bit output MD5:[0-9a-f,]+\]", printed["vtm"][0])
    result = get_backend("vtm").decode(vvc_stream, SIZE, SIZE, N)
    assert result.bit_depth == 10 and len(result.native_md5) == N
    pyav = decode_stream(vvc_stream, "vvc")
    assert result.native_md5 == pyav.native_md5
    assert np.array_equal(result.pictures.y, pyav.pictures.y)


def test_rgb_sequence_cfg_carries_a_gbr_colour_description():
    for vtm in (False, True):
        cfg = dict((k.strip(), v.split("#")[0].strip()) for k, v in
                   (ln.split(":", 1) for ln in sequence_cfg(64, 64, 25, 2, True, vtm).splitlines()
                    if ln.strip() and not ln.startswith("#")))
        assert cfg["VuiParametersPresent"] == "1" and cfg["ColourDescriptionPresent"] == "1"
        assert cfg["MatrixCoefficients"] == "0"  # GBR (identity): decoders output RGB, not "yuv444p"
        assert cfg["VideoSignalTypePresent"] == "1" and cfg["VideoFullRange"] == "1"
    assert "MatrixCoefficients" not in sequence_cfg(64, 64, 25, 2, False, False)  # YUV: left to the encoder


def test_hm_rgb_stream_decodes_with_the_default_decoder(tmp_path, monkeypatch):
    install_jvet_standins(tmp_path, monkeypatch)
    rgb = moving_face(2, SIZE)
    stream = get_backend("hm").encode(rgb, 22, "intra").bitstream
    dec = decode_stream(stream, "hevc")  # PyAV: would refuse "yuv444p" without the colour description
    assert isinstance(dec.pictures, np.ndarray) and dec.pictures.shape == rgb.shape
    with pytest.raises(PictureFormatError, match="4:4:4; decode it as RGB"):
        get_backend("hm").decode(stream, SIZE, SIZE)


def test_binaries_and_cfg_folders_that_are_not_files_are_named(tmp_path, monkeypatch):
    from gfvc.baselayer import BaseLayerError, MissingBinaryError

    folder = tmp_path / "TAppDecoder"
    folder.mkdir()
    with pytest.raises(MissingBinaryError, match="is a directory"):
        get_backend("hm", decoder=str(folder)).decode(b"\x00\x00\x01\x40\x01", SIZE, SIZE)
    (tmp_path / "cfg" / "hm" / "encoder_intra_main.cfg").mkdir(parents=True)
    monkeypatch.setenv("GFVC_CFG_DIR", str(tmp_path / "cfg"))
    with pytest.raises(BaseLayerError, match="encoder_intra_main.cfg is a directory"):
        get_backend("hm").structure_cfg("intra")
    with pytest.raises(BaseLayerError, match="no such file"):
        get_backend("vtm").structure_cfg("intra")
