"""The GFVC codec end to end: gfvc-encode -> one Annex-B file -> gfvc-decode in another process.

For each family (tiny fixture checkpoints), both carriages and both built-in base codecs: the
decoder's per-picture MD5s equal the encoder's reconstruction, the static ffmpeg and PyAV
decode the file to the same base pictures, gfvc-seidump lists one GFV message per generated
picture with the right gfv_cnt, and the rate breakdown sums to the file size. Then adaptive
refresh, and the decoder's refusals (wrong checkpoint, truncated or corrupted stream, no
checkpoint).
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from gfvc.baselayer.decoders import decode_stream
from gfvc.codec.apps import encode_main
from gfvc.codec.stream import rate_breakdown, read_stream

REPO = Path(__file__).resolve().parent.parent
FRAMES = 16
FIXTURE = {"dac": "DAC", "hdac": "HDAC", "fomm": "FOMM", "cfte": "CFTE", "fv2v": "FV2V"}
CLIP = "BUILTIN_FRANCK_001_256x256_25_8bit_444.rgb"
SMALL = 64   # the tiny fixture models are built for 64x64 pictures
MD5_LINE = re.compile(r"^POC\s+(\d+)\s+(key|gen)\s+\[MD5:([0-9a-f]{32})\]$", re.M)


def _env():
    return dict(os.environ, PYTHONPATH=str(REPO / "source"), OMP_NUM_THREADS="1")


def model_files(fixtures_root: Path, family: str):
    case = fixtures_root / FIXTURE[family] / "tiny"
    ckpt = case / ("checkpoint.pth.tar.xz" if family == "fv2v" else "checkpoint.pth.tar")
    return case / "model_params.yaml", ckpt


def codec_yaml(tmp: Path, family: str, fixtures_root: Path, **options) -> Path:
    config, ckpt = model_files(fixtures_root, family)
    opts = {"model_config": str(config), "checkpoint": str(ckpt), **options}
    path = tmp / f"{family}.yaml"
    path.write_text(yaml.safe_dump({"codec": family, "options": opts}))
    return path


def encode(tmp: Path, cfg: Path, clip: Path, frames: int = FRAMES, *extra: str):
    stream, recon = tmp / "out.bin", tmp / "recon.rgb"
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = encode_main(["-c", str(cfg), "-i", str(clip), "-b", str(stream), "-o", str(recon),
                          "-f", str(frames), *extra])
    assert rc == 0, out.getvalue()
    return stream, recon, out.getvalue()


def decode_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gfvc.codec.apps_decode", *args], capture_output=True,
                          text=True, env=_env(), timeout=600)


def assert_decodes_like_the_encoder(tmp: Path, stream: Path, recon: Path, enc_md5, config: Path, ckpt: Path,
                                    frames: int):
    """gfvc-decode in another process: the encoder's MD5 lines, its reconstruction file, hash checked."""
    out = tmp / "dec.rgb"
    dec = decode_cli("-b", str(stream), "-o", str(out), "--checkpoint", str(ckpt), "--model-config", str(config))
    assert dec.returncode == 0, dec.stderr
    assert md5_lines(dec.stdout) == enc_md5
    assert out.read_bytes() == recon.read_bytes()
    assert f"picture hash OK for {frames} pictures" in dec.stdout
    return dec


def seidump(stream: Path):
    """Every SEI message of gfvc-seidump --json (run in another process), in stream order."""
    dump = subprocess.run([sys.executable, "-m", "gfvc.bitstream.seidump", "--json", str(stream)],
                          capture_output=True, text=True, env=_env(), timeout=300)
    assert dump.returncode == 0, dump.stderr
    return [m for nal in json.loads(dump.stdout) for m in nal.get("sei_messages", [])]


def md5_lines(text: str):
    return [(int(i), kind, md5) for i, kind, md5 in MD5_LINE.findall(text)]


@pytest.fixture(scope="session")
def clip(tmp_path_factory, builtin_dir) -> Path:
    """The first 16 pictures of a built-in clip at 64x64 (JVET-named), for the tiny models."""
    from gfvc.io import read_rgb, write_rgb
    from gfvc.io.resample import resize_frames

    frames = read_rgb(builtin_dir / CLIP, 256, 256, FRAMES)
    path = tmp_path_factory.mktemp("clip") / f"BUILTIN_FRANCK_001_{SMALL}x{SMALL}_25_8bit_444.rgb"
    write_rgb(path, resize_frames(frames, SMALL, SMALL))
    return path


COMBOS = [(f, c, b) for f in ("dac", "hdac", "fomm", "cfte", "fv2v")
          for c in ("sei_only", "per_picture") for b in ("x265", "vvenc")
          if not (f == "hdac" and c == "sei_only")]   # HDAC's drive pictures need one AU per picture


@pytest.mark.parametrize("family,carriage,backend", COMBOS)
def test_encode_then_decode_in_another_process(tmp_path, fixtures_root, clip, family, carriage, backend):
    cfg = codec_yaml(tmp_path, family, fixtures_root, carriage=carriage, backend=backend, key_qp=37, bl_qp=47)
    stream, recon, enc_out = encode(tmp_path, cfg, clip)
    enc_md5 = md5_lines(enc_out)
    assert len(enc_md5) == FRAMES and enc_md5[0][1] == "key"
    config, ckpt = model_files(fixtures_root, family)
    assert_decodes_like_the_encoder(tmp_path, stream, recon, enc_md5, config, ckpt, FRAMES)

    data = stream.read_bytes()
    codec = "hevc" if backend == "x265" else "vvc"
    parsed = read_stream(data, codec)
    n_base = 1 if carriage == "sei_only" else FRAMES
    assert len(parsed.pictures) == n_base
    # any HEVC/VVC decoder: the static ffmpeg and PyAV give the same base pictures
    a = decode_stream(data, codec, "pyav", expected_frames=n_base).pictures
    b = decode_stream(data, codec, "ffmpeg", expected_frames=n_base).pictures
    assert np.array_equal(a.y, b.y) and np.array_equal(a.u, b.u) and np.array_equal(a.v, b.v)
    # the rate breakdown sums to the file size, and the apps print the same one
    rate = rate_breakdown(data, codec, [0], parsed)
    assert sum(rate.values()) == len(data)
    assert f"total{len(data):>27} bytes".replace(" ", "") in enc_out.replace(" ", "")
    # gfvc-seidump --json: one GFV message per picture, gfv_cnt 0 (base) then 1..N-1
    dump = subprocess.run([sys.executable, "-m", "gfvc.bitstream.seidump", "--json", str(stream)],
                          capture_output=True, text=True, env=_env(), timeout=300)
    assert dump.returncode == 0, dump.stderr
    gfv = [m["elements"] for nal in json.loads(dump.stdout) for m in nal.get("sei_messages", [])
           if m["payloadType"] == 223]
    assert [m["gfv_cnt"] for m in gfv] == list(range(FRAMES))
    assert gfv[0]["gfv_base_picture_flag"] == 1
    assert all(m.get("gfv_drive_picture_fusion_flag", 0) == (family == "hdac") for m in gfv[1:])


@pytest.mark.parametrize("carriage", ["sei_only", "per_picture"])
def test_adaptive_refresh_codes_more_key_pictures_and_decodes_bit_exactly(tmp_path, fixtures_root, clip, carriage):
    # a threshold no synthesis reaches: every full window of 3 generated pictures ends a segment
    cfg = codec_yaml(tmp_path, "dac", fixtures_root, carriage=carriage, backend="x265", key_qp=37,
                     refresh={"threshold": 99.0, "window": 3})
    stream, recon, enc_out = encode(tmp_path, cfg, clip, 12)
    keys = [i for i, kind, _ in md5_lines(enc_out) if kind == "key"]
    assert keys == [0, 3, 6, 9]
    config, ckpt = model_files(fixtures_root, "dac")
    dec = decode_cli("-b", str(stream), "--checkpoint", str(ckpt), "--model-config", str(config))
    assert dec.returncode == 0, dec.stderr
    assert md5_lines(dec.stdout) == md5_lines(enc_out)
    parsed = read_stream(stream.read_bytes(), "hevc")
    assert sum(p.irap for p in parsed.pictures) == 4          # each refresh is a new IRAP


@pytest.fixture(scope="module")
def dac_stream(tmp_path_factory, fixtures_root, clip):
    tmp = tmp_path_factory.mktemp("dac")
    cfg = codec_yaml(tmp, "dac", fixtures_root, backend="x265", key_qp=37)
    stream, recon, out = encode(tmp, cfg, clip, 8)
    return tmp, stream


def _refused(tmp: Path, args, pattern: str):
    out = tmp / "refused.rgb"
    dec = decode_cli(*args, "-o", str(out))
    assert dec.returncode == 2, (dec.stdout, dec.stderr)
    lines = dec.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in dec.stderr, dec.stderr
    assert re.search(pattern, lines[0]), lines[0]
    assert not out.exists()


def test_decoder_refuses_a_wrong_checkpoint(dac_stream, fixtures_root, tmp_path):
    import torch

    tmp, stream = dac_stream
    config, ckpt = model_files(fixtures_root, "dac")
    state = torch.load(ckpt, map_location="cpu", weights_only=False)
    first = next(iter(state["generator"]))
    state["generator"][first] = state["generator"][first] + 1e-3
    other = tmp_path / "other.pth.tar"
    torch.save(state, other)
    _refused(tmp_path, ["-b", str(stream), "--checkpoint", str(other), "--model-config", str(config)],
             r"another dac model.*checkpoint with sha256")


def test_decoder_refuses_without_checkpoint(dac_stream, tmp_path, monkeypatch):
    tmp, stream = dac_stream
    _refused(tmp_path, ["-b", str(stream)], r"needs a dac checkpoint.*--checkpoint")


def test_decoder_reports_a_truncated_stream(dac_stream, fixtures_root, tmp_path):
    tmp, stream = dac_stream
    config, ckpt = model_files(fixtures_root, "dac")
    data = stream.read_bytes()
    cut = tmp_path / "cut.bin"
    cut.write_bytes(data[:len(data) - 40])
    _refused(tmp_path, ["-b", str(cut), "--checkpoint", str(ckpt), "--model-config", str(config)],
             r"truncat|runs past|exceeds|rbsp_trailing")


def test_decoder_reports_a_corrupted_gfv_message(dac_stream, fixtures_root, tmp_path):
    tmp, stream = dac_stream
    config, ckpt = model_files(fixtures_root, "dac")
    data = bytearray(stream.read_bytes())
    parsed = read_stream(bytes(data), "hevc")
    gfv = [m for p in parsed.pictures for m in p.messages if m.payload_type == 223]
    target = gfv[3].offset + 4                      # inside the payload of a generated picture's message
    data[target] ^= 0x24
    bad = tmp_path / "bad.bin"
    bad.write_bytes(bytes(data))
    _refused(tmp_path, ["-b", str(bad), "--checkpoint", str(ckpt), "--model-config", str(config)],
             r"hash mismatch|gfv_|sei|GFV")


def test_full_size_clip_round_trip(tmp_path, fixtures_root, builtin_dir):
    """The real picture size of the CTC (256x256), once: DAC, sei_only, x265, 16 pictures."""
    cfg = codec_yaml(tmp_path, "dac", fixtures_root, backend="x265", key_qp=32)
    stream, recon, enc_out = encode(tmp_path, cfg, builtin_dir / CLIP)
    config, ckpt = model_files(fixtures_root, "dac")
    dec = decode_cli("-b", str(stream), "--checkpoint", str(ckpt), "--model-config", str(config))
    assert dec.returncode == 0, dec.stderr
    assert md5_lines(dec.stdout) == md5_lines(enc_out) and len(md5_lines(enc_out)) == FRAMES


@pytest.mark.parametrize("family", ["dac", "fv2v"])
def test_entropy_coded_parameter_payload_decodes_identically_and_costs_less(tmp_path, fixtures_root, clip, family):
    """parameter_payload entropy_coded: the generated pictures' parameters in one
    gfvc_entropy_coded_parameters payload per key picture, same pictures as with GFV messages."""
    config, ckpt = model_files(fixtures_root, family)
    results = {}
    for payload in ("gfv", "entropy_coded"):
        sub = tmp_path / payload
        sub.mkdir()
        cfg = codec_yaml(sub, family, fixtures_root, backend="x265", key_qp=37, parameter_payload=payload)
        stream, recon, enc_out = encode(sub, cfg, clip)
        dec = decode_cli("-b", str(stream), "--checkpoint", str(ckpt), "--model-config", str(config))
        assert dec.returncode == 0, dec.stderr
        assert md5_lines(dec.stdout) == md5_lines(enc_out)
        parsed = read_stream(stream.read_bytes(), "hevc")
        rate = rate_breakdown(stream.read_bytes(), "hevc", [0], parsed)
        results[payload] = (md5_lines(enc_out), rate)
    assert results["gfv"][0] == results["entropy_coded"][0]
    gfv_bytes = results["gfv"][1]["gfv_sei"] + results["gfv"][1]["sei_framing"]
    ecp = results["entropy_coded"][1]
    assert ecp["entropy_coded_parameters"] > 0 and ecp["gfv_sei"] < results["gfv"][1]["gfv_sei"]
    assert ecp["gfv_sei"] + ecp["entropy_coded_parameters"] + ecp["sei_framing"] < gfv_bytes
