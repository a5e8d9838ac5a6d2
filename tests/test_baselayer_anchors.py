"""hevc_anchor / vvc_anchor as codecs of the harness: whole sequences, few processes, decoder output."""
from __future__ import annotations

import subprocess

import numpy as np
import pytest

from gfvc.baselayer import picture_md5_list
from gfvc.baselayer.ffmpeg import ffmpeg_version, library_version
from gfvc.codec.registry import CodingResult, available_codecs, get_codec
from gfvc.io import Yuv420, rgb_to_yuv420, yuv420_to_rgb
from standins.pictures import moving_face

N, SIZE = 5, 64


@pytest.fixture(scope="module")
def frames():
    return moving_face(N, SIZE)


def test_registered():
    assert {"hevc_anchor", "vvc_anchor"} <= set(available_codecs())
    assert get_codec("vvc_anchor").default_rate_points == (37, 42, 47, 52)
    assert get_codec("hevc_anchor").default_rate_points == (37, 42, 47, 51)


@pytest.mark.parametrize("name", ["hevc_anchor", "vvc_anchor"])
def test_code_a_sequence_with_few_processes(name, frames, tmp_path, monkeypatch):
    ffmpeg_version.cache_clear()
    library_version.cache_clear()
    calls = []
    real_run = subprocess.run

    def counting_run(*args, **kwargs):
        calls.append(args[0])
        return real_run(*args, **kwargs)

    monkeypatch.setattr(subprocess, "run", counting_run)
    codec = get_codec(name, preset="faster")
    result = codec.code(frames, 25, 42, tmp_path)
    assert isinstance(result, CodingResult)
    # one encoder process for the whole sequence (+ the one-off version probes); decoding is in-process
    assert len(calls) <= 3, calls
    assert result.decoded.shape == frames.shape and result.decoded.dtype == np.uint8
    meta = result.metadata
    assert sum(meta["bytes_per_picture"]) == len(result.bitstream) and len(meta["bytes_per_picture"]) == N
    assert meta["md5_per_picture"] == picture_md5_list(result.decoded_yuv)
    assert meta["structure"] == ("lowdelay_P" if name == "hevc_anchor" else "lowdelay_B")
    assert "-qp" in meta["encoder_command"] or "qp=42" in meta["encoder_command"]
    assert set(result.timings) >= {"encode", "decode"}
    # the decoded RGB is the decoder's YUV converted with the same matrix
    yuv = result.decoded_yuv
    assert np.array_equal(result.decoded, yuv420_to_rgb(yuv.y, yuv.u, yuv.v, "bt601_limited"))
    # and it is a real coding of the input
    src = Yuv420(*rgb_to_yuv420(frames))
    psnr = 10 * np.log10(255 ** 2 / np.mean((yuv.y.astype(float) - src.y) ** 2))
    assert 18 < psnr < 45  # QP 42 (B pictures ~QP 47) on 64x64 pictures


def test_settings_and_rate_points():
    hevc, vvc = get_codec("hevc_anchor", preset="fast"), get_codec("vvc_anchor")
    s = vvc.settings()
    assert s["structure"] == "lowdelay_B" and s["matrix"] == "bt601_limited"
    assert s["backend"]["preset"] == "medium" and s["backend"]["ffmpeg"].startswith("ffmpeg version")
    assert hevc.settings()["backend"]["preset"] == "fast"
    assert hevc.settings() != get_codec("hevc_anchor", matrix="bt709_full").settings()
    vvc.validate_rate_point(52)
    with pytest.raises(ValueError, match="QP 52 of the GFVC CTC is a VVC QP"):
        hevc.validate_rate_point(52)
    for bad in (37.5, "37", True, -1):
        with pytest.raises(ValueError):
            vvc.validate_rate_point(bad)
    with pytest.raises(ValueError, match="outside 0..63"):
        vvc.validate_rate_point(64)
    with pytest.raises(ValueError, match="needs a HEVC backend"):
        get_codec("hevc_anchor", backend="vvenc")


def test_codec_configs_name_valid_options_and_rate_points():
    import yaml
    from pathlib import Path

    cfg_dir = Path(__file__).resolve().parent.parent / "cfg" / "codec"
    for name in ("hevc_anchor", "vvc_anchor"):
        cfg = yaml.safe_load((cfg_dir / f"{name}.yaml").read_text())
        codec = get_codec(cfg["codec"], **cfg["options"])
        assert tuple(cfg["rate_points"]) == codec.default_rate_points
        for qp in cfg["rate_points"]:
            codec.validate_rate_point(qp)
