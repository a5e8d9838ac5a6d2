"""A failed cell records its error, does not stop the others, and is retried by the next run."""
from __future__ import annotations

import json
import sys

import pytest

from ctc_helpers import cell_ids, current_digests, make_tiny_ctc, run_ctc_here

PLUGIN = "ctc_failing_codecs"


@pytest.fixture(autouse=True)
def scoped_failing_codecs():
    """The failing codecs exist only during a test of this file (no other test sees them)."""
    yield
    from gfvc.codec.registry import _REGISTRY

    for name in ("ctc_test_raising", "ctc_test_crashing"):
        _REGISTRY.pop(name, None)
    sys.modules.pop(PLUGIN, None)


def _cfg(tmp_path, codec: str, executor: str):
    flag = tmp_path / "fail.flag"
    flag.write_text("fail")
    cfg = make_tiny_ctc(tmp_path, qps=(30, 38), n_seq=2, extra={
        "codecs": [{"name": codec, "rate_points": [30, 38], "options": {"fail_flag": str(flag), "fail_at": 38}}],
        "plugins": [PLUGIN], "executor": executor, "workers": 2})
    return cfg, flag


def test_a_raising_cell_is_recorded_and_retried(tmp_path):
    cfg, flag = _cfg(tmp_path, "ctc_test_raising", "serial")
    run_dir = tmp_path / "run"
    rc, out, err = run_ctc_here(cfg, "-o", str(run_dir), "--executor", "serial")
    assert rc == 1
    failures = sorted((run_dir / "failures").glob("*.json"))
    assert len(failures) == 2  # rate point 38 of both sequences
    rec = json.loads(failures[0].read_bytes())
    assert "told to fail at this rate point" in rec["error"] and rec["rate_point"] == 38
    assert "told to fail" in (run_dir / "logs" / f"{rec['digest']}.log").read_text()
    assert len(cell_ids(run_dir)) == 2  # the other cells finished
    assert err.count("failed: RuntimeError") == 2 and "2 of 4 cells failed" in err
    table = (run_dir / "results" / "results.csv").read_text().splitlines()
    assert len(table) == 1 + 2  # the finished cells are in the table, the failed ones not
    index = current_digests(run_dir)
    assert sorted(v[2] for v in index.values()) == ["30", "30", "38", "38"]

    first = cell_ids(run_dir)
    flag.unlink()  # the cause is gone: the rerun retries exactly the failed cells
    rc, out, err = run_ctc_here(cfg, "-o", str(run_dir), "--executor", "serial")
    assert rc == 0, err
    assert "2 finished, 2 to compute (2 failed before, retried)" in err
    ids = cell_ids(run_dir)
    assert len(ids) == 4 and all(ids[d] == i for d, i in first.items())
    assert not list((run_dir / "failures").glob("*.json"))
    assert len((run_dir / "results" / "results.csv").read_text().splitlines()) == 1 + 4


def test_a_dying_worker_fails_its_cell_and_the_pool_goes_on(tmp_path):
    cfg, flag = _cfg(tmp_path, "ctc_test_crashing", "local")
    run_dir = tmp_path / "run"
    rc, out, err = run_ctc_here(cfg, "-o", str(run_dir), "--executor", "local", "-j", "2")
    assert rc == 1, err
    failures = [json.loads(p.read_bytes()) for p in (run_dir / "failures").glob("*.json")]
    assert sorted(f["rate_point"] for f in failures) == [38, 38]
    assert all("worker process died" in f["error"] for f in failures)
    assert len(cell_ids(run_dir)) == 2
