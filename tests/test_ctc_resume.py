"""The CTC runner survives SIGKILL at any moment: a resumed run skips finished cells, redoes the
rest and ends with tables byte-identical to an uninterrupted run. Also: changed settings redo
exactly the affected cells; a failed cell is recorded, does not stop the others, and is retried."""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
from pathlib import Path

import yaml

from ctc_helpers import (REPO_ROOT, cell_ids, current_digests, make_tiny_ctc, run_ctc, run_ctc_cmd, run_ctc_here,
                         table_bytes)


def _start(cfg: Path, out: Path) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT / "source"))
    return subprocess.Popen(run_ctc_cmd(cfg, "-o", str(out), "-j", "2"), env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _children(pid: int) -> set[int]:
    """Process ids whose parent is ``pid``."""
    kids = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            kids.update(int(x) for x in (task / "children").read_text().split())
        except OSError:
            pass
    return kids


def _wait_gone(pids: set[int], timeout: float = 5.0) -> set[int]:
    end = time.monotonic() + timeout
    alive = set(pids)
    while alive and time.monotonic() < end:
        alive = {p for p in alive if Path(f"/proc/{p}").exists()
                 and "Z" not in Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()[0]}
        time.sleep(0.05)
    return alive


def test_sigkill_at_random_points_then_resume_gives_identical_tables(tmp_path):
    cfg = make_tiny_ctc(tmp_path, qps=(25, 30, 35, 40))
    ref_dir, run_dir = tmp_path / "ref", tmp_path / "killed"
    rc, _, err = run_ctc_here(cfg, "-o", str(ref_dir))  # the reference: uninterrupted, in this process
    assert rc == 0, err
    n_cells = len(cell_ids(ref_dir))
    assert n_cells == 8
    timing = json.loads((ref_dir / "timing.json").read_bytes())
    cell_s = sum(timing["stage_seconds"].values()) / n_cells  # one cell's time on one worker

    # Kill points, seeded: the first during start-up (planning, hashing, starting the pool), the
    # others a random time (up to a third of a cell's duration) after one or two more cells were
    # committed. With two workers the other worker is then somewhere inside its cell (reading,
    # coding, measuring) or the driver is storing one: kills land at every stage.
    rng = random.Random(20261122)
    first_seen: dict[str, str] = {}  # digest -> id of the computation that produced it
    kills_mid_run = 0
    for attempt in range(8):
        p = _start(cfg, run_dir)
        if attempt == 0:
            time.sleep(rng.uniform(0.1, 1.0))
        else:
            target = min(len(first_seen) + rng.randint(1, 2), n_cells - 1)
            while p.poll() is None and len(list((run_dir / "cells").glob("*.json"))) < target:
                time.sleep(0.005)
            time.sleep(rng.uniform(0.0, cell_s / 3))
        if p.poll() is not None:  # finished before the kill: nothing left to interrupt
            break
        workers = _children(p.pid)
        p.send_signal(signal.SIGKILL)
        p.wait()
        # the worker processes die with the driver (no orphan goes on computing)
        assert not _wait_gone(workers), "worker processes outlived the killed driver"
        ids = cell_ids(run_dir) if (run_dir / "cells").is_dir() else {}
        for d, i in first_seen.items():
            assert ids.get(d) == i, f"finished cell {d[:12]} was recomputed or lost after a kill"
        if len(first_seen) < len(ids) < n_cells:
            kills_mid_run += 1
        first_seen.update(ids)
        if kills_mid_run >= 3 or len(first_seen) == n_cells:
            break
    assert kills_mid_run >= 3, "kills did not land between finished cells; the test proved nothing"

    final = run_ctc(cfg, "-o", str(run_dir), "-j", "2")
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
