"""Stored anchors (gfvc.ctc.anchors): exported from a run, they hold exactly the rows that run
computed, and a run that uses them gives the BD tables of a run that codes the anchor."""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from ctc_helpers import make_tiny_ctc
from gfvc.ctc.anchors import export_anchor, load_stored_anchor
from gfvc.ctc.cli import main as ctc_main
from gfvc.ctc.config import load_config
from gfvc.ctc.errors import ConfigError
from gfvc.ctc.plan import build_plan

QPS = [26, 32, 38, 44]
CODECS = [{"name": "hevc_anchor", "label": "anchor", "rate_points": QPS},
          {"name": "hevc_anchor", "label": "fast", "rate_points": QPS, "options": {"preset": "ultrafast"}}]


def _csv_rows(path: Path, codec: str) -> list[list[str]]:
    rows = list(csv.reader(io.StringIO(path.read_text())))
    return [rows[0]] + [r for r in rows[1:] if r[2] == codec]


@pytest.fixture(scope="module")
def full_run(tmp_path_factory):
    """A tiny run that codes both the anchor and the test codec, and the anchor exported from it."""
    root = tmp_path_factory.mktemp("anchor")
    cfg = make_tiny_ctc(root, n_seq=1, frames=4, size=64, metrics=("psnr_y", "ssim"),
                        extra={"codecs": CODECS, "bdrate": {"anchors": ["anchor"], "tests": ["fast"]}})
    assert ctc_main(["-c", str(cfg), "--executor", "serial", "--no-progress"]) == 0
    export_anchor(root / "run", "anchor", root / "stored" / "anchor", command="run_ctc.py -c ctc.yaml")
    return root, cfg


def test_a_stored_anchor_holds_the_rows_the_run_computed(full_run):
    root, _ = full_run
    stored = root / "stored" / "anchor"
    assert _csv_rows(stored / "results.csv", "anchor") == _csv_rows(root / "run" / "results" / "results.csv",
                                                                    "anchor")
    prov = json.loads((stored / "provenance.json").read_text())
    assert prov["anchor"] == "anchor" and prov["regenerate"] == "run_ctc.py -c ctc.yaml"
    assert [c["label"] for c in prov["codecs"]] == ["anchor"] and prov["codecs"][0]["settings"]["backend"]
    assert len(prov["cells"]) == len(QPS) and all(c["encoder_command"] for c in prov["cells"])
    assert prov["software"]["version"]


def test_a_run_with_the_stored_anchor_gives_the_same_bd_tables(full_run):
    root, _ = full_run
    cfg = make_tiny_ctc(root / "second", n_seq=1, frames=4, size=64, metrics=("psnr_y", "ssim"),
                        extra={"codecs": CODECS[1:], "stored_anchors": [str(root / "stored" / "anchor")],
                               "bdrate": {"anchors": ["anchor"], "tests": ["fast"]}})
    assert ctc_main(["-c", str(cfg), "--executor", "serial", "--no-progress"]) == 0
    for name in ("bdrate.csv", "bdquality.csv", "bdrate.md"):
        assert (root / "second" / "run" / "report" / name).read_bytes() == (root / "run" / "report" / name).read_bytes()
    # only the test codec was coded; the anchor's rows are not in the run's own result table
    assert {r[2] for r in _csv_rows(root / "second" / "run" / "results" / "results.csv", "fast")[1:]} == {"fast"}
    assert "anchor" not in (root / "second" / "run" / "results" / "results.csv").read_text()


def test_a_stored_anchor_that_does_not_fit_the_run_is_refused_up_front(full_run, tmp_path):
    root, _ = full_run
    anchor = str(root / "stored" / "anchor")
    # other frames: the stored RD points are not those of this run
    cfg = make_tiny_ctc(tmp_path / "a", n_seq=2, frames=3, size=64, metrics=("psnr_y",),
                        extra={"codecs": CODECS[1:], "stored_anchors": [anchor],
                               "bdrate": {"anchors": ["anchor"], "tests": ["fast"]}})
    c, problems = load_config(cfg)
    assert problems == []
    with pytest.raises(ConfigError) as e:
        build_plan(c, preflight=False)
    assert any("coded 4 frames of TINY_001, this run codes 3" in p for p in e.value.problems)
    # other content under the same name
    cfg = make_tiny_ctc(tmp_path / "b", n_seq=2, frames=4, size=32, metrics=("psnr_y",),
                        extra={"codecs": CODECS[1:], "stored_anchors": [anchor],
                               "bdrate": {"anchors": ["anchor"], "tests": ["fast"]}})
    with pytest.raises(ConfigError) as e:
        build_plan(load_config(cfg)[0], preflight=False)
    assert any("was computed on another TINY_001" in p for p in e.value.problems)
    # a folder that is no result store; a codec both stored and coded is taken from the run
    cfg = make_tiny_ctc(tmp_path / "c", n_seq=1, frames=4, size=64, metrics=("psnr_y",),
                        extra={"codecs": CODECS, "stored_anchors": [anchor, str(tmp_path / "none")]})
    c, problems = load_config(cfg)
    assert len(problems) == 1 and "none: no such folder" in problems[0]
    c, problems = load_config(make_tiny_ctc(tmp_path / "d", n_seq=1, frames=4, size=64, metrics=("psnr_y",),
                                            extra={"codecs": CODECS, "stored_anchors": [anchor]}))
    assert problems == [] and c.stored_anchors == []
    assert load_stored_anchor(Path(anchor)).codecs == ["anchor"]


def test_a_metric_with_another_definition_is_left_out_of_the_stored_rows(full_run, tmp_path):
    root, _ = full_run
    stored = tmp_path / "anchor"
    stored.mkdir()
    (stored / "results.csv").write_bytes((root / "stored" / "anchor" / "results.csv").read_bytes())
    prov = json.loads((root / "stored" / "anchor" / "provenance.json").read_text())
    prov["metrics"]["ssim"]["version"] = "0"
    (stored / "provenance.json").write_text(json.dumps(prov))
    cfg = make_tiny_ctc(tmp_path / "run", n_seq=1, frames=4, size=64, metrics=("psnr_y", "ssim"),
                        extra={"codecs": CODECS[1:], "stored_anchors": [str(stored)],
                               "bdrate": {"anchors": ["anchor"], "tests": ["fast"]}})
    plan = build_plan(load_config(cfg)[0], preflight=False)
    assert plan.stored_rows and all(r.metrics["ssim"] is None and r.metrics["psnr_y"] for r in plan.stored_rows)
    assert len(plan.notes) == 1 and "metric ssim" in plan.notes[0]

