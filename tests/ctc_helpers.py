"""Helpers of the CTC runner tests: tiny JVET-named sequences, their list, a run configuration."""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import yaml

from gfvc.io import write_rgb

REPO_ROOT = Path(__file__).resolve().parent.parent
RUN_CTC = REPO_ROOT / "run_ctc.py"

#: the codec the runner tests code with: a real conventional anchor from the registry
CODEC = "hevc_anchor"


def tiny_frames(seed: int, n: int = 8, size: int = 64) -> np.ndarray:
    """A smooth background with a moving bright square: content a codec has to work on."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    base = np.stack([xx * 2 + 40, yy * 2 + 30, (xx + yy) + 50], axis=-1) + rng.normal(0, 6, (size, size, 3))
    frames = []
    for k in range(n):
        f = base.copy()
        x0 = 8 + 3 * k + seed
        f[20:36, x0:x0 + 16] = [220, 200, 180]
        frames.append(np.clip(f, 0, 255).astype(np.uint8))
    return np.stack(frames)


class _NoAliasDumper(yaml.SafeDumper):
    """gfvc refuses YAML aliases; a list used twice is written out twice."""

    def ignore_aliases(self, data):
        return True


def dump_yaml(value) -> str:
    return yaml.dump(value, Dumper=_NoAliasDumper, sort_keys=False)


def make_tiny_ctc(root: Path, qps=(30, 38), n_seq: int = 2, frames: int = 8, size: int = 64,
                  codec: str = CODEC, metrics=("psnr_y", "psnr_rgb"), extra: dict | None = None) -> Path:
    """Write n_seq sequences, a CTC list and a run configuration under root; -> config path."""
    seq_dir = root / "seqs"
    seq_dir.mkdir(parents=True, exist_ok=True)
    entries = []
    for i in range(n_seq):
        name = f"TINY_{i + 1:03d}"
        file = f"{name}_{size}x{size}_25_8bit_444.rgb"
        data = tiny_frames(i, frames, size)
        write_rgb(seq_dir / file, data)
        entries.append({"name": name, "file": file, "frames": frames,
                        "md5": hashlib.md5((seq_dir / file).read_bytes()).hexdigest(),
                        "dataset_class": "A" if i % 2 == 0 else "B"})
    (root / "list.yaml").write_text(yaml.safe_dump({"title": "tiny", "sequences": entries}, sort_keys=False))
    cfg = {"name": "tiny", "sequences": {"folder": "seqs", "list": "list.yaml"},
           "codecs": [{"name": codec, "rate_points": list(qps)}], "metrics": list(metrics),
           "bdrate": {"anchors": [], "tests": None}, "output": "run"}
    cfg.update(extra or {})
    path = root / "ctc.yaml"
    path.write_text(dump_yaml(cfg))
    return path


def run_ctc_cmd(cfg: Path, *args: str) -> list[str]:
    return [sys.executable, str(RUN_CTC), "-c", str(cfg), "--no-progress", *args]


def run_ctc(cfg: Path, *args: str, timeout: float = 300, env_path=()) -> subprocess.CompletedProcess:
    """run_ctc.py in a new process; ``env_path``: more folders on its PYTHONPATH (plugins)."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO_ROOT / "source"), *map(str, env_path)]))
    return subprocess.run(run_ctc_cmd(cfg, *args), capture_output=True, text=True, timeout=timeout, env=env)


def run_ctc_here(cfg: Path, *args: str) -> tuple[int, str, str]:
    """Run gfvc-ctc in this process (serial executor unless args say otherwise) -> (rc, stdout, stderr)."""
    import contextlib
    import io

    from gfvc.ctc.cli import main

    out, err = io.StringIO(), io.StringIO()
    argv = ["-c", str(cfg), "--no-progress", *args]
    if "--executor" not in args:
        argv += ["--executor", "serial"]
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(argv)
    return rc, out.getvalue(), err.getvalue()


def table_bytes(run_dir: Path) -> dict[str, bytes]:
    """Every file of results/ and report/ (the run's tables and plots), by relative path."""
    out = {}
    for sub in ("results", "report"):
        d = run_dir / sub
        if d.is_dir():
            for p in sorted(d.rglob("*")):
                if p.is_file():
                    out[str(p.relative_to(run_dir))] = p.read_bytes()
    return out


def cell_ids(run_dir: Path) -> dict[str, str]:
    """digest -> the unique id a worker gave the cell when it computed it."""
    import json

    ids = {}
    for p in (run_dir / "cells").glob("*.json"):
        ids[p.stem] = json.loads(p.read_bytes())["computed"]["id"]
    return ids


def current_digests(run_dir: Path) -> dict[str, tuple[str, str, str]]:
    """digest -> (sequence, codec, rate point) of the cells of the latest run (results/cells.csv)."""
    import csv

    with open(run_dir / "results" / "cells.csv", newline="") as f:
        return {r["digest"]: (r["sequence"], r["codec"], r["rate_point"]) for r in csv.DictReader(f)}
