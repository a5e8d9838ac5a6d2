"""Careless or hostile input to gfvc-ctc: every problem is found before any cell runs and told in
one line (exit 2), nothing is written outside the run folder, a damaged store is repaired by
computing the damaged cells again, and the gfvc folder is found without assuming where the
package is installed."""
from __future__ import annotations

import errno
import json
import os
import select
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ctc_helpers import CODEC, REPO_ROOT, cell_ids, make_tiny_ctc, run_ctc_cmd, run_ctc_here, table_bytes


def _errors(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("gfvc-ctc: error: ")]


def _edit(cfg: Path, **changes) -> Path:
    raw = yaml.safe_load(cfg.read_text())
    raw.update(changes)
    cfg.write_text(yaml.safe_dump(raw))
    return cfg


def _no_traceback(err: str) -> None:
    assert "Traceback" not in err, err


# -- labels become path components only after validation ------------------------------------

def test_a_label_that_climbs_out_of_the_run_folder_is_refused(tmp_path):
    work = tmp_path / "a" / "b" / "c"
    cfg = _edit(make_tiny_ctc(work, qps=(30,), n_seq=1), keep_decoded=True,
                codecs=[{"name": CODEC, "label": "../../../escaped_label", "rate_points": [30]}])
    rc, out, err = run_ctc_here(cfg, "-o", str(work / "run"))
    _no_traceback(err)
    assert rc == 2, err
    assert any("escaped_label" in e and "label" in e for e in _errors(err)), err
    assert not list(tmp_path.rglob("*escaped_label*")), "something was written under the label"
    assert not (work / "run").exists()


@pytest.mark.parametrize("label", ["bell\x07", ".hidden", "a/b", "", "x" * 101, "tab\there"])
def test_labels_that_cannot_be_a_file_name_are_refused_before_any_cell(tmp_path, label):
    cfg = _edit(make_tiny_ctc(tmp_path, qps=(30,), n_seq=1),
                codecs=[{"name": CODEC, "label": label, "rate_points": [30]}])
    rc, out, err = run_ctc_here(cfg, "-o", str(tmp_path / "run"))
    _no_traceback(err)
    assert rc == 2 and len(_errors(err)) == 1 and "codecs[0]: the label" in err, err
    assert not (tmp_path / "run").exists()


def test_run_name_and_rate_points_are_path_components_too(tmp_path):
    cfg = _edit(make_tiny_ctc(tmp_path, qps=(30,), n_seq=1), name="..", output=None)
    rc, out, err = run_ctc_here(cfg, "--plan")
    assert rc == 2 and any("name" in e and "starts with a dot" in e for e in _errors(err)), err
    cfg = _edit(make_tiny_ctc(tmp_path, qps=(30,), n_seq=1), codecs=[{"name": CODEC, "rate_points": [".."]}])
    rc, out, err = run_ctc_here(cfg, "--plan")
    assert rc == 2 and any("rate point '..'" in e for e in _errors(err)), err


# -- everything a run needs is checked before any cell runs ---------------------------------

@pytest.mark.parametrize("blocker", ["report", "decoded", "results", "results/results.csv"])
def test_a_file_or_folder_in_the_way_is_found_before_any_cell(tmp_path, blocker):
    cfg = make_tiny_ctc(tmp_path, qps=(30,), n_seq=1, extra={"keep_decoded": True})
    run = tmp_path / "run"
    (run / blocker).parent.mkdir(parents=True, exist_ok=True)
    if blocker.endswith(".csv"):
        (run / blocker).mkdir()
    else:
        (run / blocker).write_text("in the way")
    rc, out, err = run_ctc_here(cfg, "-o", str(run))
    _no_traceback(err)
    assert rc == 2 and len(_errors(err)) == 1 and str(run / blocker) in err, err
    assert not (run / "cells").exists(), "cells were computed although the run could not finish"


def test_a_codec_option_the_encoder_refuses_fails_the_plan_not_every_cell(tmp_path):
    cfg = _edit(make_tiny_ctc(tmp_path, qps=(30, 38), n_seq=2),
                codecs=[{"name": CODEC, "rate_points": [30, 38], "options": {"preset": "warp9"}}])
    for extra in (("--plan",), ()):
        rc, out, err = run_ctc_here(cfg, "-o", str(tmp_path / "run"), *extra)
        _no_traceback(err)
        errors = _errors(err)
        assert rc == 2 and len(errors) == 1, err
        assert "codec hevc_anchor" in errors[0] and "warp9" in errors[0], errors
        assert not (tmp_path / "run").exists()


# -- a damaged store is repaired, not a crash on every resume -------------------------------

@pytest.mark.parametrize("damage", ["metrics_list", "string_mean", "timings", "decoded_file", "not_object"])
def test_a_record_with_wrong_types_is_computed_again_with_a_warning(tmp_path, damage):
    cfg = make_tiny_ctc(tmp_path, qps=(30, 38), n_seq=1, metrics=("psnr_y",))
    run = tmp_path / "run"
    assert run_ctc_here(cfg, "-o", str(run))[0] == 0
    want = table_bytes(run)
    ids = cell_ids(run)
    victim = sorted(ids)[0]
    path = run / "cells" / f"{victim}.json"
    rec = json.loads(path.read_bytes())
    if damage == "metrics_list":
        rec["metrics"] = []
    elif damage == "string_mean":
        rec["metrics"]["psnr_y"]["mean"] = "40.1"
    elif damage == "timings":
        rec["timings"] = {"encode": "slow"}
    elif damage == "decoded_file":
        rec["decoded_file"] = "../../etc/passwd"
    else:
        rec = [rec]
    path.write_text(json.dumps(rec))
    rc, out, err = run_ctc_here(cfg, "-o", str(run))
    _no_traceback(err)
    assert rc == 0, err
    assert f"gfvc-ctc: warning: {path}: damaged cell record" in err and "computing the cell again" in err
    assert "1 finished, 1 to compute" in err
    after = cell_ids(run)
    assert after[victim] != ids[victim] and all(after[d] == i for d, i in ids.items() if d != victim)
    assert table_bytes(run)["results/results.csv"] == want["results/results.csv"]


def test_damaged_failure_record_and_hash_cache_do_not_stop_a_resume(tmp_path):
    cfg = make_tiny_ctc(tmp_path, qps=(30,), n_seq=1, metrics=("psnr_y",))
    run = tmp_path / "run"
    assert run_ctc_here(cfg, "-o", str(run))[0] == 0
    (digest,) = cell_ids(run)
    (run / "cells" / f"{digest}.json").unlink()
    (run / "failures" / f"{digest}.json").write_text("[1, 2]")  # parses, but is no failure record
    cache = run / ".input_hashes.json"
    cache.write_text(json.dumps({k: {kk: vv for kk, vv in v.items() if kk != "sha256"}
                                 for k, v in json.loads(cache.read_bytes()).items()}))
    rc, out, err = run_ctc_here(cfg, "-o", str(run))
    _no_traceback(err)
    assert rc == 0, err
    assert "warning" in err and ".input_hashes.json" in err


# -- tracebacks and hangs become one-line errors --------------------------------------------

def test_a_full_disk_during_the_run_is_one_line_and_the_store_stays_whole(tmp_path, monkeypatch):
    cfg = make_tiny_ctc(tmp_path, qps=(30, 38), n_seq=2, metrics=("psnr_y",))
    ref, run = tmp_path / "ref", tmp_path / "run"
    assert run_ctc_here(cfg, "-o", str(ref))[0] == 0
    import gfvc.files

    real_fsync, calls = os.fsync, []

    def fsync(fd):  # the disk fills up after the first cell's files
        calls.append(fd)
        if len(calls) > 3:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_fsync(fd)

    monkeypatch.setattr(gfvc.files.os, "fsync", fsync)
    rc, out, err = run_ctc_here(cfg, "-o", str(run))
    monkeypatch.undo()
    _no_traceback(err)
    errors = _errors(err)
    assert rc == 2 and len(errors) == 1 and "No space left on device" in errors[0], err
    assert "finished cells are kept" in errors[0]
    from gfvc.ctc.store import RunStore

    store = RunStore(run)
    assert all(store.load_record(d) is not None for d in cell_ids(run)) and not store.warnings
    assert not list(run.rglob(".*.part")), "a temporary file of the failed write was left"
    rc, out, err = run_ctc_here(cfg, "-o", str(run))  # space again: the run goes on
    assert rc == 0, err
    assert table_bytes(run) == table_bytes(ref)


def test_non_utf8_yaml_is_one_line(tmp_path):
    cfg = make_tiny_ctc(tmp_path, qps=(30,), n_seq=1)
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(cfg.read_bytes() + b"# caf\xe9\n")
    rc, out, err = run_ctc_here(bad, "--plan")
    _no_traceback(err)
    assert rc == 2 and len(_errors(err)) == 1 and "not UTF-8" in err and str(bad) in err, err
    lst = tmp_path / "list.yaml"
    lst.write_bytes(lst.read_bytes() + b"# caf\xe9\n")
    rc, out, err = run_ctc_here(cfg, "--plan", "--sequence-list", str(lst))
    _no_traceback(err)
    assert rc == 2 and len(_errors(err)) == 1 and "not UTF-8" in err and str(lst) in err, err


def test_a_fifo_or_folder_as_configuration_is_refused_without_reading(tmp_path):
    fifo = tmp_path / "cfg.fifo"
    os.mkfifo(fifo)  # reading it would block forever: nobody writes
    rc, out, err = run_ctc_here(fifo, "--plan")
    assert rc == 2 and "FIFO" in err and len(_errors(err)) == 1, err
    rc, out, err = run_ctc_here(tmp_path, "--plan")
    assert rc == 2 and "directory" in err and len(_errors(err)) == 1, err
    cfg = make_tiny_ctc(tmp_path / "t", qps=(30,), n_seq=1)
    rc, out, err = run_ctc_here(cfg, "--plan", "--sequence-list", str(fifo))
    assert rc == 2 and "FIFO" in err and len(_errors(err)) == 1, err


def test_a_yaml_alias_bomb_is_refused(tmp_path):
    bomb = tmp_path / "bomb.yaml"
    lines = ['a0: &a0 ["x","x","x","x","x","x","x","x","x"]']
    lines += [f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 9)]
    bomb.write_text("\n".join(lines) + "\ncodecs: *a8\n")
    assert bomb.stat().st_size < 1000
    rc, out, err = run_ctc_here(bomb, "--plan")
    assert rc == 2 and "aliases" in err and len(_errors(err)) == 1, err


def test_ctrl_c_while_planning_is_one_line_and_exit_130(tmp_path):
    """SIGINT reaches the driver while it is inside the planner (held there by the gated test
    codec: no timing involved); the run stops with one line and exit status 130."""
    gate = tmp_path / "gate"
    gate.mkdir()
    cfg = make_tiny_ctc(tmp_path, qps=(30,), n_seq=1, extra={
        "codecs": [{"name": "ctc_test_gated", "rate_points": [30], "options": {"gate": str(gate)}}],
        "plugins": ["ctc_gated_codec"]})
    os.mkfifo(gate / "events")
    (gate / "hold-plan").touch()
    events = os.open(gate / "events", os.O_RDWR | os.O_NONBLOCK)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO_ROOT / "source"), str(REPO_ROOT / "tests")]))
    p = None
    try:
        with open(tmp_path / "err", "wb") as errf:
            # SIGINT's default action in the child, as in a terminal: a test run started in the
            # background by a non-interactive shell (`cmd &`) has SIGINT ignored, and a child
            # inherits that, so the signal below would then be lost and the test would hang
            p = subprocess.Popen(run_ctc_cmd(cfg, "-o", str(tmp_path / "run")), env=env,
                                 stdout=subprocess.DEVNULL, stderr=errf,
                                 preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        pidfd = os.pidfd_open(p.pid)
        ready, _, _ = select.select([events, pidfd], [], [], 300)
        assert events in ready, (p.poll(), (tmp_path / "err").read_text())
        ev = json.loads(os.read(events, 65536).splitlines()[0])
        assert ev["where"] == "plan" and ev["pid"] == p.pid
        p.send_signal(signal.SIGINT)
        rc = p.wait(timeout=300)
        os.close(pidfd)
    finally:
        if p is not None and p.poll() is None:  # a failed check: leave nothing running
            p.kill()
            p.wait()
        os.close(events)
    err = (tmp_path / "err").read_text()
    assert rc == 130, err
    assert err.strip().splitlines() == ["gfvc-ctc: interrupted while planning; nothing was run"], err
    assert not (tmp_path / "run").exists()


# -- messages name the place a value came from ----------------------------------------------

def test_command_line_values_are_named_as_such(tmp_path):
    cfg = make_tiny_ctc(tmp_path, qps=(30,), n_seq=1)
    for args, needle in ((("--frames", "-3"), "--frames on the command line must be a positive whole number, got -3"),
                         (("-j", "0"), "-j on the command line must be a positive whole number, got 0"),
                         (("--only", ""), "--only on the command line names no sequence"),
                         (("--only", " , "), "--only on the command line names no sequence"),
                         (("--codecs", ""), "--codecs on the command line: name at least one codec"),
                         (("--metrics", ""), "--metrics on the command line: name at least one metric")):
        rc, out, err = run_ctc_here(cfg, "--plan", *args)
        _no_traceback(err)
        errors = _errors(err)
        assert rc == 2 and errors == [f"gfvc-ctc: error: {needle}"], (args, err)
        assert str(cfg) not in err
    raw = yaml.safe_load(cfg.read_text())
    raw["sequences"]["frames"] = -3  # the same value from the file names the file
    cfg.write_text(yaml.safe_dump(raw))
    rc, out, err = run_ctc_here(cfg, "--plan")
    assert _errors(err) == [f"gfvc-ctc: error: {cfg}: sequences.frames must be a positive whole number, got -3"]


# -- the gfvc folder is found from the outside, not from the package's location ------------

def test_gfvc_folder_from_env_or_working_folder(tmp_path, monkeypatch):
    from gfvc.ctc.config import default_config, project_root
    from gfvc.ctc.errors import CtcError

    monkeypatch.delenv("GFVC_ROOT", raising=False)
    monkeypatch.chdir(REPO_ROOT / "doc")
    assert project_root() == REPO_ROOT and default_config() == REPO_ROOT / "cfg" / "ctc" / "builtin.yaml"
    monkeypatch.chdir(tmp_path)
    with pytest.raises(CtcError, match="cannot find the gfvc folder .* set GFVC_ROOT"):
        project_root()
    monkeypatch.setenv("GFVC_ROOT", str(REPO_ROOT))
    assert project_root() == REPO_ROOT
    monkeypatch.setenv("GFVC_ROOT", str(tmp_path))
    with pytest.raises(CtcError, match="is not a gfvc folder"):
        project_root()
    rc, out, err = run_ctc_here(tmp_path / "x.yaml")  # an explicit config needs no gfvc folder
    assert rc == 2 and "no such file" in err
    monkeypatch.delenv("GFVC_ROOT")
    from gfvc.ctc.cli import main

    assert main(["--plan"]) == 2  # the default configuration needs one: one line, no traceback


def test_an_installed_copy_of_the_package_finds_the_working_folder(tmp_path):
    """gfvc copied elsewhere (as a non-editable install puts it) reads cfg/ and test_sequences/
    of the folder it is run in, and says so clearly when run elsewhere."""
    site = tmp_path / "site"
    shutil.copytree(REPO_ROOT / "source" / "gfvc", site / "gfvc",
                    ignore=shutil.ignore_patterns("__pycache__"))
    env = {k: v for k, v in os.environ.items() if k != "GFVC_ROOT"}
    env["PYTHONPATH"] = str(site)
    work = tmp_path / "work"
    cfg = make_tiny_ctc(work, qps=(30,), n_seq=1)
    raw = yaml.safe_load(cfg.read_text())
    raw["sequences"].pop("list")  # the default list: test_sequences/jvet_ah0114.yaml of the gfvc folder
    cfg.write_text(yaml.safe_dump(raw))
    cmd = [sys.executable, "-m", "gfvc.ctc.cli", "-c", str(cfg), "--plan", "--only", "TINY_001"]
    inside = subprocess.run(cmd, cwd=REPO_ROOT / "cfg", env=env, capture_output=True, text=True, timeout=300)
    # found the gfvc folder's CTC list (which does not list the tiny sequences)
    assert inside.returncode == 2 and "no sequence named TINY_001" in inside.stderr, inside.stderr
    assert str(REPO_ROOT / "test_sequences" / "jvet_ah0114.yaml") in inside.stderr, inside.stderr
    outside = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert outside.returncode == 2 and "cannot find the gfvc folder" in outside.stderr, outside.stderr
    _no_traceback(outside.stderr + inside.stderr)
