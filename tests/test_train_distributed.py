"""gfvc-train under torchrun with 2 CPU processes (gloo): disjoint samples and identical weights,
checkpoints, and a resume after SIGKILL at the checkpointed iteration. The kill is driven by a
handshake (after its checkpoint every process writes ``held-rank<R>`` with its pid and blocks), never by a delay."""
from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import time

import torch

from gfvc.models import load_model
from gfvc.models.checkpoint import read_checkpoint
from train_helpers import REPO, TINY_MODEL, tiny_config, torchrun_command, source_env, write_clips, write_config

HANDSHAKE_LIMIT_S = 600   # only a hung run reaches it; nothing waits for a duration


def run(cmd, cwd):
    done = subprocess.run(cmd, cwd=cwd, env=source_env(), capture_output=True, text=True, timeout=HANDSHAKE_LIMIT_S)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def test_two_processes_see_disjoint_samples_and_keep_identical_weights(tmp_path):
    clips = write_clips(tmp_path / "clips")
    config = write_config(tmp_path / "mrdac.yaml", tiny_config("mrdac", loss_weights={"contrastive": 0.1}))
    run(torchrun_command(2, "--config", config, "--data", clips, "--out", tmp_path / "run", "--record-samples"), REPO)
    records = [[json.loads(line) for line in open(tmp_path / "run" / f"samples-rank{r}.jsonl")] for r in (0, 1)]
    assert [r["iteration"] for r in records[0]] == [r["iteration"] for r in records[1]] == [1, 2, 3, 4]
    for epoch in range(2):   # 2 iterations per epoch: 8 samples, 2 processes, batch 2
        seen = [{s for r in rank[2 * epoch:2 * epoch + 2] for s in r["samples"]} for rank in records]
        assert seen[0].isdisjoint(seen[1]) and seen[0] | seen[1] == set(range(8))
    for a, b in zip(*records):
        assert a["weights_sha256"] == b["weights_sha256"]
    assert len({r["weights_sha256"] for r in records[0]}) == 4   # the weights do change
    state, _ = read_checkpoint(tmp_path / "run" / "checkpoint.pth.tar")
    assert state["gfvc_metadata"]["world_size"] == 2 and state["iteration"] == 4
    load_model("mrdac", TINY_MODEL, tmp_path / "run" / "checkpoint.pth.tar", device="cpu")


def test_sigkilled_run_resumes_at_the_checkpointed_iteration(tmp_path):
    clips = write_clips(tmp_path / "clips")
    config = write_config(tmp_path / "dac.yaml", tiny_config("dac", checkpoint_every=1))
    out = tmp_path / "run"
    cmd = torchrun_command(2, "--config", config, "--data", clips, "--out", out, "--resume")
    proc = subprocess.Popen(cmd + ["--hold-after-checkpoint", "2"], cwd=REPO, env=source_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    markers = [out / f"held-rank{r}" for r in (0, 1)]
    try:
        deadline = time.monotonic() + HANDSHAKE_LIMIT_S
        while not all(m.exists() for m in markers):
            assert proc.poll() is None, proc.stdout.read().decode()[-3000:]
            assert time.monotonic() < deadline, "the trainer never reached its checkpoint"
            time.sleep(0.05)
    finally:
        # torchrun starts its workers in their own sessions: kill the launcher, then each worker
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        for marker in markers:
            if marker.exists():
                try:
                    os.kill(int(marker.read_text()), signal.SIGKILL)
                except ProcessLookupError:
                    pass
    assert json.loads((out / "checkpoint.json").read_text())["iteration"] == 2
    for marker in markers:
        marker.unlink()
    stdout = run(cmd, REPO)
    assert "resumed at iteration 2 (epoch 1)" in stdout
    state, _ = read_checkpoint(out / "checkpoint.pth.tar")
    assert state["iteration"] == 4 and state["gfvc_metadata"]["finished"]
    rows = list(csv.DictReader(open(out / "losses.csv")))
    assert [int(r["iteration"]) for r in rows] == [1, 2, 3, 4]
