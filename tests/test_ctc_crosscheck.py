"""gfvc-crosscheck: a real tiny CTC run (HEVC and VVC anchors, DAC with the fixture model) is
decoded again in fresh processes and found identical; a flipped byte in one cell's bitstream,
an edited metric value or MD5 in a record is reported as exactly that cell's mismatch; an
exported package verifies with the same command where the sequences and the checkpoint lie
elsewhere; bad input gives one line and exit status 2."""
from __future__ import annotations

import csv
import fcntl
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ctc_helpers import REPO_ROOT, make_tiny_ctc, run_ctc
from gfvc.baselayer.annexb import split_nal_units
from gfvc.ctc import crosscheck


def xcheck(*args: str, env_extra: dict | None = None) -> subprocess.CompletedProcess:
    """gfvc-crosscheck in a new process (python -m: the same entry point as the console script)."""
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT / "source"))
    env.pop("GFVC_MODEL_PATH", None)  # models only from the run, the package and --models
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", "gfvc.ctc.crosscheck", *map(str, args)], capture_output=True,
                          text=True, timeout=600, env=env)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, fixtures_root):
    """A finished CTC run: hevc_anchor at 2 QPs, vvc_anchor at 1, dac at 1 (model files copied
    into the run's own folder so that a test can take them away)."""
    root = tmp_path_factory.mktemp("xc")
    models = root / "models"
    models.mkdir()
    for f in ("model_params.yaml", "checkpoint.pth.tar"):
        shutil.copyfile(fixtures_root / "DAC" / "tiny" / f, models / f)
    cfg_path = make_tiny_ctc(root, qps=(32, 42), n_seq=1, frames=4, size=64, metrics=("psnr_y", "psnr_rgb", "ssim"))
    cfg = yaml.safe_load(cfg_path.read_text())
    cfg["codecs"] += [{"name": "vvc_anchor", "rate_points": [37]},
                      {"name": "dac", "rate_points": [42],
                       "options": {"model_config": str(models / "model_params.yaml"),
                                   "checkpoint": str(models / "checkpoint.pth.tar"), "backend": "x265"}}]
    cfg_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    r = run_ctc(cfg_path, "-j", "2", "--no-report", "--keep-decoded")
    assert r.returncode == 0, r.stderr
    return root


def _records(run: Path) -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text()) for p in (run / "cells").glob("*.json")}


def _copy_run(tiny_run: Path, dest: Path) -> Path:
    shutil.copytree(tiny_run / "run", dest, ignore=shutil.ignore_patterns("crosscheck", ".lock"))
    return dest


def _mismatching(run: Path) -> dict[str, list[str]]:
    rows = list(csv.DictReader((run / "crosscheck" / "report.csv").open()))
    out: dict[str, list[str]] = {}
    for row in rows:
        if row["status"] == "mismatch":
            out.setdefault(row["digest"], []).append(row["what"])
    return out


def test_every_cell_of_a_real_run_matches(tiny_run):
    run = tiny_run / "run"
    recs = _records(run)
    assert len(recs) == 4
    for rec in recs.values():  # the runner records the decoded pictures' MD5s
        assert len(rec["md5_per_picture"]) == 4 and all(len(m) == 32 for m in rec["md5_per_picture"])
    r = xcheck(run, "-j", "2")
    assert r.returncode == 0, r.stderr
    assert "all 4 cells match" in r.stdout
    report = json.loads((run / "crosscheck" / "report.json").read_text())
    assert report["all_match"] and report["cells"] == 4 and report["mismatching"] == 0
    for res in report["results"]:
        assert res["status"] == "match"
        assert res["checked"]["pictures"] == 4 and res["checked"]["md5"] == "md5_per_picture"
        assert res["checked"]["decoder_md5"] == "codec_metadata.md5_per_picture"
        assert res["checked"]["metrics"] == ["psnr_rgb", "psnr_y", "ssim"]
        assert res["md5_per_picture"] == recs[res["digest"]]["md5_per_picture"]
        assert (run / recs[res["digest"]]["decoded_file"]).is_file() and not res["notes"]
    assert {res["codec"] for res in report["results"]} == {"hevc_anchor", "vvc_anchor", "dac"}
    md = (run / "crosscheck" / "report.md").read_text()
    assert "All cells match" in md and "4 of 4 cells match" in md


def test_a_flipped_byte_is_that_cells_mismatch(tiny_run, tmp_path):
    run = _copy_run(tiny_run, tmp_path / "run")
    recs = _records(run)
    digest = next(d for d, r in recs.items() if r["codec"] == "hevc_anchor" and r["rate_point"] == 32)
    path = run / "cells" / f"{digest}.bin"
    data = bytearray(path.read_bytes())
    last_slice = [u for u in split_nal_units(bytes(data), "hevc") if u.nal_unit_type < 32][-1]
    data[last_slice.offset + len(last_slice.data) // 2] ^= 0x5A  # inside the last slice's payload
    path.write_bytes(bytes(data))
    r = xcheck(run, "-j", "2", "--decoder-backend", "ffmpeg")
    assert r.returncode == 1
    err = r.stderr.strip().splitlines()
    assert len(err) == 1 and "1 of 4 cells differ" in err[0] and "hevc_anchor/32" in err[0]
    bad = _mismatching(run)
    assert list(bad) == [digest]
    assert "bitstream SHA-256" in bad[digest]
    # the corrupted slice either decodes to other pictures or does not decode: both are reported
    assert any(w.startswith("MD5: picture") or w == "decoding" for w in bad[digest])
    report = json.loads((run / "crosscheck" / "report.json").read_text())
    assert not report["all_match"] and report["mismatching"] == 1
    md = (run / "crosscheck" / "report.md").read_text()
    assert "## Mismatches" in md and digest[:12] in md.split("## Cells")[0]


def test_edited_record_values_are_named(tiny_run, tmp_path):
    """A metric value, an MD5 and the kbps that differ from the re-decoding are each named."""
    run = _copy_run(tiny_run, tmp_path / "run")
    recs = _records(run)
    for d, rec in recs.items():  # keep the two VVC/HEVC cells at QP 37/42 only: faster
        if rec["codec"] == "dac" or rec["rate_point"] == 32:
            (run / "cells" / f"{d}.json").unlink()
            (run / "cells" / f"{d}.bin").unlink()
    vvc = next(d for d, r in recs.items() if r["codec"] == "vvc_anchor")
    hevc = next(d for d, r in recs.items() if r["codec"] == "hevc_anchor" and r["rate_point"] == 42)
    rec = recs[vvc]
    rec["metrics"]["psnr_y"]["per_picture"][2] += 1e-9
    rec["md5_per_picture"][1] = "0" * 32
    (run / "cells" / f"{vvc}.json").write_text(json.dumps(rec))
    rec = recs[hevc]
    rec["kbps"] += 0.5
    (run / "cells" / f"{hevc}.json").write_text(json.dumps(rec))
    kept = run / rec["decoded_file"]  # the pictures the run kept: one sample of picture 3 changed
    data = bytearray(kept.read_bytes())
    data[3 * (3 * 64 * 64) + 100] ^= 1
    kept.write_bytes(bytes(data))
    r = xcheck(run)
    assert r.returncode == 1
    bad = _mismatching(run)
    assert sorted(bad[vvc]) == ["MD5: picture 1", "metric psnr_y: picture 2"]
    assert bad[hevc] == ["kbps (8 x bytes / duration)", "decoded file: picture 3"]
    # a tolerance accepts the tiny metric difference, never an MD5 difference
    r = xcheck(run, "--metric-tolerance", "1e-6", "--report-dir", tmp_path / "tol")
    assert r.returncode == 1
    rows = [row for row in csv.DictReader((tmp_path / "tol" / "report.csv").open()) if row["digest"] == vvc]
    assert [row["what"] for row in rows] == ["MD5: picture 1"]


def test_exported_package_verifies_with_the_same_command(tiny_run, tmp_path):
    pkg = tmp_path / "pkg"
    r = xcheck("--export", tiny_run / "run", pkg)
    assert r.returncode == 0, r.stderr
    manifest = json.loads((pkg / "package.json").read_text())
    assert manifest["format"] == crosscheck.PACKAGE_FORMAT and len(manifest["cells"]) == 4
    assert [c["family"] for c in manifest["checkpoints"]] == ["dac"]
    assert not list(pkg.rglob("*.pth*")), "the package must not hold weights"
    ckpt_sha = manifest["checkpoints"][0]["sha256"]
    assert ckpt_sha in (pkg / "README.md").read_text() and "gfvc-crosscheck pkg" in (pkg / "README.md").read_text()
    for c in manifest["cells"]:
        lines = (pkg / "md5" / f"{c['digest']}.md5").read_text().splitlines()
        assert sum(line.startswith("POC") for line in lines) >= 4
    assert (pkg / "run.yaml").is_file() and (pkg / "results" / "results.csv").is_file()
    assert (pkg / "config" / "ctc.yaml").is_file()
    assert len(list((pkg / "models").glob("*.yaml"))) == 1
    # the cross-checker's machine: the sequences and the checkpoint are elsewhere
    moved = tmp_path / "elsewhere"
    shutil.copytree(tiny_run / "seqs", moved / "seqs")
    shutil.copyfile(tiny_run / "models" / "checkpoint.pth.tar", moved / "weights.pth")
    hidden = tiny_run.parent / (tiny_run.name + "-hidden")
    tiny_run.rename(hidden)
    try:
        r = xcheck(pkg)
        assert r.returncode == 2 and "TINY_001" in r.stderr and "--sequences" in r.stderr
        assert len(r.stderr.strip().splitlines()) == 1
        r = xcheck(pkg, "--sequences", moved / "seqs", "-j", "2", "--models", moved)
        assert r.returncode == 0, r.stderr
        report = json.loads((pkg / "crosscheck" / "report.json").read_text())
        assert report["all_match"] and report["cells"] == 4
        # the package holds no decoded pictures: said, not a difference
        assert all("not compared" in " ".join(res["notes"]) for res in report["results"])
    finally:
        hidden.rename(tiny_run)


def test_a_missing_checkpoint_is_the_gfvc_cells_mismatch(tiny_run, tmp_path):
    run = _copy_run(tiny_run, tmp_path / "run")
    recs = _records(run)
    dac = next(d for d, r in recs.items() if r["codec"] == "dac")
    for d in recs:  # the DAC cell only
        if d != dac:
            (run / "cells" / f"{d}.json").unlink()
            (run / "cells" / f"{d}.bin").unlink()
    (run / "run.yaml").write_text((run / "run.yaml").read_text().replace(str(tiny_run / "models"), str(tmp_path / "gone")))
    r = xcheck(run, "--sequences", tiny_run / "seqs")
    assert r.returncode == 1
    rows = list(csv.DictReader((run / "crosscheck" / "report.csv").open()))
    assert [(row["digest"], row["what"]) for row in rows] == [(dac, "decoding")]
    assert "checkpoint" in rows[0]["got"]


def _one_line_error(capsys, argv, *words) -> None:
    rc = crosscheck.main([str(a) for a in argv])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and err[0].startswith("gfvc-crosscheck: error: "), err
    for w in words:
        assert w in err[0], err[0]


def test_bad_input_is_one_line(tiny_run, tmp_path, capsys, monkeypatch):
    _one_line_error(capsys, [tmp_path / "nope"], "no such folder")
    (tmp_path / "file").write_text("x")
    _one_line_error(capsys, [tmp_path / "file"], "not a folder")
    (tmp_path / "empty").mkdir()
    _one_line_error(capsys, [tmp_path / "empty"], "not a gfvc-ctc run folder", "cells/")
    (tmp_path / "empty" / "cells").mkdir()
    _one_line_error(capsys, [tmp_path / "empty"], "no finished cell")
    run = _copy_run(tiny_run, tmp_path / "run")
    recs = _records(run)
    d0, d1 = sorted(recs)[:2]
    _one_line_error(capsys, [run, "-j", "0"], "-j")
    _one_line_error(capsys, [run, "--sequences", tmp_path / "file"], "--sequences", "not a folder")
    _one_line_error(capsys, [run, "--decoder-backend", "hm"], "--decoder-backend hm cannot decode")
    _one_line_error(capsys, [run, "--device", "tpu"], "--device")
    hevc_only = _copy_run(tiny_run, tmp_path / "hevc_only")
    for d, rec in recs.items():
        if rec["codec"] != "hevc_anchor":
            (hevc_only / "cells" / f"{d}.json").unlink()
    monkeypatch.delenv("GFVC_HM_DECODER", raising=False)
    _one_line_error(capsys, [hevc_only, "--decoder-backend", "hm"], "--decoder-backend hm", "GFVC_HM_DECODER")
    monkeypatch.undo()
    _one_line_error(capsys, [run, "--sequences", tmp_path / "empty"], "TINY_001", "not found")
    _one_line_error(capsys, [run, tmp_path / "pkg"], "only for --export")
    _one_line_error(capsys, ["--export", run, tmp_path / "file"], "not an empty folder")
    _one_line_error(capsys, ["--export", run, run / "pkg"], "inside the run folder")
    # a gfvc-ctc process holding the run's lock
    lock = os.open(run / ".lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        _one_line_error(capsys, [run], "gfvc-ctc process is running")
    finally:
        os.close(lock)
    (run / "cells" / f"{d1}.bin").unlink()
    _one_line_error(capsys, [run], d1, "bitstream", "missing")
    (run / "cells" / f"{d0}.json").write_text('{"format": "gfvc-ctc-cell/1", "dig')
    _one_line_error(capsys, [run], d0, "not valid JSON")
    (run / "cells" / f"{d0}.json").write_text(json.dumps(dict(recs[d0], metrics=[])))
    _one_line_error(capsys, [run], d0, "damaged cell record")
