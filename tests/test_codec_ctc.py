"""The CTC runs the GFVC codecs: dac and hdac (tiny checkpoints) beside an anchor, resumes, and
produces BD-rate tables with them; codec files of cfg/codec are valid; missing checkpoints are
reported before any cell runs."""
from __future__ import annotations

import csv
from pathlib import Path

import pytest
import yaml

from ctc_helpers import make_tiny_ctc, run_ctc_here

REPO = Path(__file__).resolve().parent.parent


def _tiny(fixtures_root: Path, name: str):
    case = fixtures_root / name / "tiny"
    return {"model_config": str(case / "model_params.yaml"), "checkpoint": str(case / "checkpoint.pth.tar"),
            "backend": "x265"}


def test_ctc_codes_dac_and_hdac_beside_an_anchor_and_resumes(tmp_path, fixtures_root):
    cfg_path = make_tiny_ctc(tmp_path, qps=(32, 37, 42, 47), n_seq=1, frames=4, size=64,
                             metrics=("psnr_rgb", "ssim"))
    cfg = yaml.safe_load(cfg_path.read_text())
    cfg["codecs"] += [
        {"name": "dac", "rate_points": [22, 32, 42, 51], "options": _tiny(fixtures_root, "DAC")},
        {"name": "hdac", "rate_points": [37, 42, 47, 51], "options": dict(_tiny(fixtures_root, "HDAC"), key_qp=22)},
    ]
    cfg["bdrate"] = {"anchors": ["hevc_anchor"], "tests": ["dac", "hdac"]}
    cfg_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    rc, out, err = run_ctc_here(cfg_path)
    assert rc == 0, err
    run = tmp_path / "run"
    rows = list(csv.DictReader((run / "results" / "results.csv").open()))
    codecs = {r["codec"] for r in rows}
    assert {"dac", "hdac", "hevc_anchor"} <= codecs
    gfvc_rows = [r for r in rows if r["codec"] in ("dac", "hdac")]
    assert len(gfvc_rows) == 8
    rates = list(csv.DictReader((run / "results" / "rates.csv").open()))
    for r in rates:
        parts = sum(int(r[c]) for c in r if c not in ("sequence", "codec", "rate_point", "bytes", "kbps",
                                                      "reference_style_bytes", "reference_style_kbps") and r[c])
        assert parts == int(r["bytes"])
        if r["codec"] in ("dac", "hdac"):
            assert 0 < int(r["reference_style_bytes"]) < int(r["bytes"])
    bd = (run / "report" / "bdrate.csv").read_text()
    assert "dac" in bd and "hdac" in bd
    tables = {p.name: p.read_bytes() for p in (run / "report").glob("bdrate.*")}
    # a rerun finds every cell finished and writes byte-identical tables
    rc, out2, err2 = run_ctc_here(cfg_path)
    assert rc == 0, err2
    assert {p.name: p.read_bytes() for p in (run / "report").glob("bdrate.*")} == tables


def test_cfg_codec_files_are_valid_settings():
    from gfvc.codec.face_codecs import codec_settings
    from gfvc.codec.settings import read_codec_file

    for family in ("fomm", "cfte", "fv2v", "dac", "hdac"):
        name, options, rate_points = read_codec_file(REPO / "cfg" / "codec" / f"{family}.yaml")
        settings = codec_settings(name, options)
        assert name == family and len(rate_points) == 4
        assert Path(settings.model_config).is_file()


def test_hdac_key_picture_is_at_qp_22_unless_set():
    # JVET-AH0114: the CTC's rate point of HDAC is the base-layer QP; its key picture is at QP 22
    from gfvc.codec.face_codecs import codec_settings

    assert codec_settings("hdac", {"bl_qp": 47}).key_qp == 22
    assert codec_settings("hdac", {"bl_qp": 47, "key_qp": 27}).key_qp == 27
    assert codec_settings("dac", {}).key_qp == 32


def test_missing_checkpoint_is_one_line_before_any_work(tmp_path, capsys, fixtures_root):
    from gfvc.codec.apps import encode_main

    clip = tmp_path / "X_64x64_25_8bit_444.rgb"
    clip.write_bytes(bytes(64 * 64 * 3 * 2))
    rc = encode_main(["-c", str(REPO / "cfg" / "codec" / "dac.yaml"), "-i", str(clip), "-b", str(tmp_path / "o.bin")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "checkpoint" in err[0] and "no such file" in err[0]
    assert not (tmp_path / "o.bin").exists()


@pytest.mark.parametrize("bad,pattern", [
    (["--set", "carriage=sideways"], "carriage 'sideways'"),
    (["--set", "key_qp=99"], "key_qp must be"),
    (["--set", "nonsense=1"], "unknown setting 'nonsense'"),
])
def test_bad_settings_are_one_line(tmp_path, capsys, fixtures_root, bad, pattern):
    from gfvc.codec.apps import encode_main

    case = fixtures_root / "DAC" / "tiny"
    clip = tmp_path / "X_64x64_25_8bit_444.rgb"
    clip.write_bytes(bytes(64 * 64 * 3 * 2))
    rc = encode_main(["-c", str(REPO / "cfg" / "codec" / "dac.yaml"), "-i", str(clip), "-b", str(tmp_path / "o.bin"),
                      "--model-config", str(case / "model_params.yaml"),
                      "--checkpoint", str(case / "checkpoint.pth.tar"), *bad])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and pattern in err[0], err
