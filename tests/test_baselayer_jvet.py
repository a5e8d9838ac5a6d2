"""HM and VTM backends, run against tests/standins/jvet_standin.py.

Real HM/VTM binaries cannot be installed on these machines. The stand-in checks the command
line and the cfg files it receives the way the real apps need them and answers with a genuine
Annex-B stream (made by the static ffmpeg), so everything gfvc does around the apps runs for
real; the real binaries are checked separately (doc/baselayer.md).
"""
from __future__ import annotations

import os

import numpy as np
import pytest

from gfvc.baselayer import MissingBinaryError, PictureCountError, ToolFailedError, get_backend
from gfvc.baselayer.jvet import packaged_cfg_dir
from gfvc.io import Yuv420, rgb_to_yuv420
from standins.apps import install_jvet_standins
from standins.pictures import moving_face

N, SIZE = 3, 64


@pytest.fixture
def apps(tmp_path, monkeypatch):
    return install_jvet_standins(tmp_path, monkeypatch)


@pytest.fixture(scope="module")
def yuv():
    return Yuv420(*rgb_to_yuv420(moving_face(N, SIZE)))


def test_cfg_files_are_jvet_style_and_complete():
    for fam, files in (("hm", ("encoder_intra_main.cfg", "encoder_lowdelay_main.cfg", "encoder_lowdelay_P_main.cfg")),
                       ("vtm", ("encoder_intra_vtm.cfg", "encoder_lowdelay_vtm.cfg", "encoder_lowdelay_P_vtm.cfg"))):
        for name in files:
            text = (packaged_cfg_dir() / fam / name).read_text()
            cfg = dict((k.strip(), v.split("#")[0].strip()) for k, v in
                       (ln.split(":", 1) for ln in text.splitlines() if ln.strip() and not ln.startswith("#")))
            assert cfg["SEIDecodedPictureHash"] == "0"
            assert "ReconFile" not in cfg
            gop = int(cfg["GOPSize"])
            if "intra" in name:
                assert cfg["IntraPeriod"] == "1" and gop == 1
            else:
                assert cfg["IntraPeriod"] == "-1"
                kind = "P" if "_P_" in name else "B"
                assert [cfg[f"Frame{k}"].split()[0] for k in range(1, gop + 1)] == [kind] * gop
            assert cfg["InternalBitDepth"] == ("8" if fam == "hm" else "10")


@pytest.mark.parametrize("name,structure", [("hm", "lowdelay_B"), ("vtm", "intra")])
def test_encode_decode_through_the_apps(apps, yuv, name, structure):
    backend = get_backend(name)
    result = backend.encode(yuv, 37, structure)
    assert result.num_pictures == N and sum(result.bytes_per_picture) == len(result.bitstream)
    dec = backend.decode(result.bitstream, SIZE, SIZE, N)
    assert dec.pictures.num_frames == N
    assert 20 < 10 * np.log10(255 ** 2 / np.mean((dec.pictures.y.astype(float) - yuv.y) ** 2))
    enc_log, dec_log = apps()
    cfg = enc_log["cfg"]
    assert enc_log["cfg_files"][0].endswith(backend.structure_cfgs[structure])
    assert (cfg["SourceWidth"], cfg["SourceHeight"], cfg["FrameRate"], cfg["FramesToBeEncoded"]) == \
        (str(SIZE), str(SIZE), "25", str(N))
    assert cfg["InputBitDepth"] == "8" and cfg["QP"] == "37" and cfg["Level"] == "2"
    assert "-o" not in enc_log["argv"]  # no reconstruction file: pictures come from the decoder
    assert dec_log["opts"]["OutputBitDepth"] == "0"  # native depth; gfvc converts to 8 bits itself
    assert result.command.split()[0] == os.environ[f"GFVC_{name.upper()}_ENCODER"]


@pytest.mark.parametrize("name", ["hm", "vtm"])
def test_rgb_444_path_uses_gbr_and_converts_back(apps, name):
    rgb = moving_face(2, SIZE)
    backend = get_backend(name)
    result = backend.encode(rgb, 22, "intra")
    dec = backend.decode(result.bitstream, SIZE, SIZE, 2, rgb=True)
    assert dec.pictures.shape == rgb.shape
    err = np.abs(dec.pictures.astype(int) - rgb).mean()
    swapped = np.abs(dec.pictures[..., [1, 2, 0]].astype(int) - rgb).mean()
    assert err < (8 if name == "hm" else 15) and err < swapped / 2  # R, G, B planes come back in place
    enc_log, dec_log = apps()
    assert enc_log["cfg"]["InputColourSpaceConvert"] == "RGBtoGBR"
    assert enc_log["cfg"]["ChromaFormatIDC"] == "444"
    assert (enc_log["cfg"].get("ColorTransform") == "1") == (name == "vtm")
    assert enc_log["cfg"]["Profile"] == ("main-RExt" if name == "hm" else "auto")  # the sequence cfg overrides
    assert dec_log["opts"]["OutputColourSpaceConvert"] == "GBRtoRGB"


def test_missing_binary_names_the_variable(monkeypatch, yuv):
    monkeypatch.delenv("GFVC_VTM_ENCODER", raising=False)
    with pytest.raises(MissingBinaryError, match="set environment variable GFVC_VTM_ENCODER"):
        get_backend("vtm").encode(yuv, 37, "lowdelay_B")
    with pytest.raises(MissingBinaryError, match="does not exist"):
        get_backend("hm", decoder="/no/such/TAppDecoder").decode(b"\x00\x00\x01\x40\x01", SIZE, SIZE)


def test_app_failures_carry_the_apps_message_and_leave_nothing(apps, yuv, monkeypatch, tmp_path):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "scratch"))
    (tmp_path / "scratch").mkdir()
    monkeypatch.setenv("GFVC_STANDIN_FAIL", "hm-encoder")
    with pytest.raises(ToolFailedError, match="simulated encoder failure") as err:
        get_backend("hm").encode(yuv, 37, "lowdelay_P")
    assert "HM TAppEncoder encode failed (exit status 1)" in str(err.value)
    monkeypatch.setenv("GFVC_STANDIN_FAIL", "")
    stream = get_backend("hm").encode(yuv, 37, "lowdelay_P").bitstream
    monkeypatch.setenv("GFVC_STANDIN_FAIL", "hm-decoder")
    with pytest.raises(ToolFailedError, match="simulated decoder failure"):
        get_backend("hm").decode(stream, SIZE, SIZE, N)
    monkeypatch.setenv("GFVC_STANDIN_FAIL", "")
    monkeypatch.setenv("GFVC_STANDIN_DROP", "1")
    with pytest.raises(PictureCountError, match=f"returned {N - 1} pictures, expected {N}"):
        get_backend("hm").decode(stream, SIZE, SIZE, N)
    assert list((tmp_path / "scratch").iterdir()) == []  # no half-written files left behind
