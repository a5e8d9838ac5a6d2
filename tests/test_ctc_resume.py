"""The CTC runner survives SIGKILL at any moment: a resumed run skips finished cells, redoes the
rest and ends with tables byte-identical to an uninterrupted run. Also: changed settings redo
exactly the affected cells; a failed cell is recorded, does not stop the others, and is retried."""
from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ctc_helpers import (REPO_ROOT, cell_ids, current_digests, make_tiny_ctc, run_ctc, run_ctc_cmd, run_ctc_here,
                         table_bytes)
from gfvc.ctc.store import RunStore


GATE_PLUGIN = "ctc_gated_codec"
#: bound on any one wait for the run under test; reaching it is a failure, never a synchronisation
SAFETY_S = 300.0


@pytest.fixture
def scoped_gated_codec():
    """The gated codec exists only during the test that uses it (no other test sees it)."""
    yield
    from gfvc.codec.registry import _REGISTRY

    _REGISTRY.pop("ctc_test_gated", None)
    sys.modules.pop(GATE_PLUGIN, None)


class GatedRun:
    """One start of run_ctc.py (local executor, 2 workers) whose cells wait at the test's gate.

    Every wait is on file descriptors: the gate's ``events`` FIFO (a line per process reaching a
    checkpoint) and a pidfd of the driver (readable when it exits). A run that exits early fails
    the test with its exit status and stderr; SAFETY_S only bounds a hang."""

    def __init__(self, cfg: Path, out: Path, gate: Path, events_fd: int, log: Path):
        self.gate, self.events_fd, self.log = gate, events_fd, log
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO_ROOT / "source"), str(REPO_ROOT / "tests")]))
        with open(log, "wb") as err:
            self.proc = subprocess.Popen(run_ctc_cmd(cfg, "-o", str(out), "-j", "2", "--executor", "local"),
                                         env=env, stdout=subprocess.DEVNULL, stderr=err)
        self.pidfd = os.pidfd_open(self.proc.pid)
        self.buf = b""
        self.waiting: list[dict] = []  # processes stopped at a checkpoint, oldest first
        self.workers: dict[int, int] = {}  # worker pid (as the worker wrote it) -> its pidfd

    def report(self) -> str:
        rc = self.proc.poll()
        state = f"exit status {rc}" if rc is not None else "still running"
        return f"run_ctc.py {state}; stderr:\n{self.log.read_text(errors='replace')}"

    def next_event(self) -> dict:
        while b"\n" not in self.buf:
            ready, _, _ = select.select([self.events_fd, self.pidfd], [], [], SAFETY_S)
            if self.events_fd in ready:
                self.buf += os.read(self.events_fd, 65536)
            elif self.pidfd in ready:
                self.proc.wait()
                pytest.fail("the run ended before reaching the gate: " + self.report())
            else:
                pytest.fail(f"no process reached the gate in {SAFETY_S:.0f} s: " + self.report())
        line, self.buf = self.buf.split(b"\n", 1)
        ev = json.loads(line)
        if ev["where"] == "code":
            assert ev["pid"] != self.proc.pid, "a cell was coded in the driver, not in a worker"
            if ev["pid"] not in self.workers:  # it waits for us, so this pid is the live worker
                self.workers[ev["pid"]] = os.pidfd_open(ev["pid"])
        self.waiting.append(ev)
        return ev

    def release_oldest(self) -> None:
        ev = self.waiting.pop(0)
        fd = os.open(self.gate / f"release-{ev['token']}", os.O_WRONLY | os.O_NONBLOCK)  # ENXIO: it died
        try:
            os.write(fd, b"go")
        finally:
            os.close(fd)

    def kill(self) -> None:
        """SIGKILL the driver; every worker must die with it (PR_SET_PDEATHSIG)."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        for pid, fd in self.workers.items():
            ready, _, _ = select.select([fd], [], [], SAFETY_S)
            assert ready, f"worker {pid} outlived the killed driver"
        self.close()

    def close(self) -> None:
        for fd in [self.pidfd, *self.workers.values()]:
            os.close(fd)
        self.workers = {}
        self.pidfd = -1


def test_sigkill_at_random_points_then_resume_gives_identical_tables(tmp_path, scoped_gated_codec):
    """Kill the driver at controlled points, then resume: finished cells are kept as they are,
    and the tables are byte-identical to those of an uninterrupted run.

    The kill points are fixed by a handshake, not by time: during planning; after exactly
    k = 0, 1, 2, 1 cells were committed while both workers are inside ``code()``; and while
    the driver stores a cell, between its bitstream and its record. A worker reaching
    ``code()`` for a new cell proves that the driver committed the cell released before (the
    local executor submits the next cell only after the driver stored the outcome), so each
    kill lands after exactly k commits whatever the load on the machine."""
    gate = tmp_path / "gate"
    gate.mkdir()
    cfg = make_tiny_ctc(tmp_path, qps=(25, 30, 35, 40), extra={
        "codecs": [{"name": "ctc_test_gated", "rate_points": [25, 30, 35, 40], "options": {"gate": str(gate)}}],
        "plugins": [GATE_PLUGIN]})
    ref_dir, run_dir = tmp_path / "ref", tmp_path / "killed"
    rc, _, err = run_ctc_here(cfg, "-o", str(ref_dir))  # the reference: uninterrupted, no gate
    assert rc == 0, err
    n_cells = len(cell_ids(ref_dir))
    assert n_cells == 8

    os.mkfifo(gate / "events")
    events_fd = os.open(gate / "events", os.O_RDWR | os.O_NONBLOCK)  # read-write: never end-of-file
    first_seen: dict[str, str] = {}  # digest -> id of the computation that produced it
    run = None
    try:
        # 1. killed while planning (the driver is inside the planner, building the codec)
        (gate / "hold-plan").touch()
        run = GatedRun(cfg, run_dir, gate, events_fd, tmp_path / "start0.err")
        ev = run.next_event()
        assert ev["where"] == "plan" and ev["pid"] == run.proc.pid, ev
        run.kill()
        (gate / "hold-plan").unlink()
        assert not cell_ids(run_dir)

        # 2. killed after exactly k committed cells, both workers inside code()
        for attempt, k in enumerate((0, 1, 2, 1), start=1):
            run = GatedRun(cfg, run_dir, gate, events_fd, tmp_path / f"start{attempt}.err")
            for _ in range(2):
                assert run.next_event()["where"] == "code"
            for _ in range(k):
                run.release_oldest()
                assert run.next_event()["where"] == "code"  # the next cell started: the released one is stored
            assert len(run.waiting) == 2 and len(run.workers) == 2, (run.waiting, run.workers)
            run.kill()
            ids = cell_ids(run_dir)
            for d, i in first_seen.items():
                assert ids.get(d) == i, f"finished cell {d[:12]} was recomputed or lost after a kill"
            assert len(ids) == len(first_seen) + k, f"start {attempt}: {len(ids)} cells stored, " \
                f"expected {len(first_seen)} + {k}; " + run.report()
            store = RunStore(run_dir)
            assert all(store.load_record(d) is not None for d in ids), "a stored cell does not hold up"
            first_seen.update(ids)

        # 3. killed while the driver stores a cell: its bitstream written, its record not yet
        (gate / "hold-store").touch()
        run = GatedRun(cfg, run_dir, gate, events_fd, tmp_path / "start5.err")
        for _ in range(2):
            assert run.next_event()["where"] == "code"
        run.release_oldest()
        ev = run.next_event()  # no next cell can start before this commit
        assert ev["where"] == "store" and ev["pid"] == run.proc.pid, ev
        digest = ev["file"].removesuffix(".json")
        run.kill()
        (gate / "hold-store").unlink()
        assert (run_dir / "cells" / f"{digest}.bin").is_file(), "the kill did not land after the bitstream"
        assert cell_ids(run_dir) == first_seen, "a cell without its record counts as finished, or one was lost"
    finally:
        if run is not None and run.proc.poll() is None:  # a failed check: leave nothing running
            run.proc.kill()
            run.proc.wait()
        os.close(events_fd)
    assert len(first_seen) == 4

    (gate / "events").unlink()  # no gate: the final run goes through
    final = run_ctc(cfg, "-o", str(run_dir), "-j", "2", env_path=[REPO_ROOT / "tests"])
    assert final.returncode == 0, final.stderr
    ids = cell_ids(run_dir)
    assert len(ids) == n_cells
    for d, i in first_seen.items():
        assert ids[d] == i, f"finished cell {d[:12]} was recomputed by the final run"
    reused = len(first_seen)
    assert f"{reused} finished, {n_cells - reused} to compute" in final.stderr

    got, want = table_bytes(run_dir), table_bytes(ref_dir)
    assert set(got) == set(want) and "results/results.csv" in got
    for name in want:
        assert got[name] == want[name], f"{name} differs from the uninterrupted run"
    assert not list(run_dir.rglob(".*.part")), "temporary files of killed writes were left behind"


def test_changed_settings_redo_exactly_the_affected_cells(tmp_path):
    cfg = make_tiny_ctc(tmp_path, qps=(30, 38), n_seq=2)
    run_dir = tmp_path / "run"
    assert run_ctc_here(cfg, "-o", str(run_dir))[0] == 0
    before = cell_ids(run_dir)
    assert len(before) == 4

    # one more rate point: only the two new cells are computed
    rc, _, err = run_ctc_here(cfg, "-o", str(run_dir), "--rate-points", "30,38,44")
    assert rc == 0, err
    after = cell_ids(run_dir)
    assert len(after) == 6 and all(after[d] == i for d, i in before.items())
    assert "4 finished, 2 to compute" in err

    # one sequence's content changes: exactly its cells (now 3) are new, the others kept
    seq = sorted((tmp_path / "seqs").glob("TINY_002_*.rgb"))[0]
    data = bytearray(seq.read_bytes())
    data[100] ^= 0xFF
    seq.write_bytes(bytes(data))
    listing = yaml.safe_load((tmp_path / "list.yaml").read_text())
    import hashlib

    listing["sequences"][1]["md5"] = hashlib.md5(bytes(data)).hexdigest()
    (tmp_path / "list.yaml").write_text(yaml.safe_dump(listing, sort_keys=False))
    rc, _, err = run_ctc_here(cfg, "-o", str(run_dir), "--rate-points", "30,38,44")
    assert rc == 0, err
    assert "3 finished, 3 to compute" in err
    third = cell_ids(run_dir)
    current = current_digests(run_dir)
    kept = {d for d in current if after.get(d) == third[d]}
    assert len(current) == 6 and len(kept) == 3
    assert {current[d][0] for d in current if d not in kept} == {"TINY_002"}
    assert len(third) == 9  # the old records of TINY_002 stay in the store, unused
    table = (run_dir / "results" / "results.csv").read_text().splitlines()
    assert len(table) == 1 + 6

    # fewer frames: every cell is a new cell
    rc, _, err = run_ctc_here(cfg, "-o", str(run_dir), "--rate-points", "30,38,44", "--frames", "4")
    assert rc == 0, err
    assert "0 finished, 6 to compute" in err


def test_added_metric_measures_again_without_new_coding(tmp_path):
    cfg = make_tiny_ctc(tmp_path, qps=(34,), n_seq=1, metrics=("psnr_y",))
    run_dir = tmp_path / "run"
    assert run_ctc_here(cfg, "-o", str(run_dir))[0] == 0
    (digest, first_id), = cell_ids(run_dir).items()
    rec1 = json.loads((run_dir / "cells" / f"{digest}.json").read_bytes())
    rc, _, err = run_ctc_here(cfg, "-o", str(run_dir), "--metrics", "psnr_y,psnr_rgb")
    assert rc == 0, err
    assert "0 finished, 1 to compute" in err
    rec2 = json.loads((run_dir / "cells" / f"{digest}.json").read_bytes())
    assert rec2["bitstream_sha256"] == rec1["bitstream_sha256"]
    assert rec2["metrics"]["psnr_y"] == rec1["metrics"]["psnr_y"]  # kept, not measured again
    assert rec2["computed"]["coded_first"]["id"] == first_id
    assert set(rec2["metrics"]) == {"psnr_y", "psnr_rgb"}
    header = (run_dir / "results" / "results.csv").read_text().splitlines()[0]
    assert header.endswith("psnr_y,psnr_rgb")


def test_decoded_pictures_are_kept_only_when_asked(tmp_path):
    from gfvc.io import read_sequence
    from gfvc.metrics import get_metric

    cfg = make_tiny_ctc(tmp_path, qps=(34,), n_seq=1, metrics=("psnr_y",))
    run_dir = tmp_path / "run"
    assert run_ctc_here(cfg, "-o", str(run_dir))[0] == 0
    assert not (run_dir / "decoded").exists()
    (digest, first_id), = cell_ids(run_dir).items()

    # asking for them later codes the cell again (same bitstream), measures nothing new
    rc, _, err = run_ctc_here(cfg, "-o", str(run_dir), "--keep-decoded")
    assert rc == 0, err
    rec = json.loads((run_dir / "cells" / f"{digest}.json").read_bytes())
    assert rec["computed"]["coded_first"]["id"] == first_id
    decoded_file = run_dir / rec["decoded_file"]
    assert decoded_file.name == "TINY_001_64x64_25_8bit_444.rgb"
    decoded = read_sequence(decoded_file)
    ref = read_sequence(next((tmp_path / "seqs").glob("TINY_001_*.rgb")))
    assert decoded.shape == ref.shape
    assert get_metric("psnr_y").compute(ref, decoded).mean == rec["metrics"]["psnr_y"]["mean"]
    rc, _, err = run_ctc_here(cfg, "-o", str(run_dir), "--keep-decoded")
    assert rc == 0 and "1 finished, 0 to compute" in err
