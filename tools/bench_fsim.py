"""FSIM speed and float32 accuracy on a built-in clip (doc/benchmarks.md, "FSIM speed").

Usage: OMP_NUM_THREADS=1 PYTHONPATH=source python tools/bench_fsim.py [--frames 32] [--rounds 3]
Decodes the clip with x265 (hevc_anchor) at QP 22/32/42 plus noise and blur distortions, prints
max |float32 - float64| per distortion, then FSIM CPU ms/frame for float64/float32 with the
reference cache off, cold and warm, interleaved round by round.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clip", default="test_sequences/builtin/BUILTIN_ASTRONAUT_001_256x256_25_8bit_444.rgb")
    ap.add_argument("--frames", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    from scipy.ndimage import uniform_filter

    from gfvc.codec.registry import get_codec
    from gfvc.metrics import get_metric
    from gfvc.metrics.fsim import REFERENCE_CACHE

    raw = np.fromfile(args.clip, dtype=np.uint8)
    frames = raw[: args.frames * 256 * 256 * 3].reshape(-1, 3, 256, 256).transpose(0, 2, 3, 1).copy()
    codec = get_codec("hevc_anchor")
    distorted = {}
    with tempfile.TemporaryDirectory() as tmp:
        for qp in (22, 32, 42):
            distorted[f"x265 QP {qp}"] = codec.code(frames, 25.0, qp, Path(tmp)).decoded
    rng = np.random.default_rng(0)
    distorted["noise sigma 8"] = np.clip(frames + rng.normal(0, 8, frames.shape), 0, 255).astype(np.uint8)
    distorted["box blur 3"] = uniform_filter(frames.astype(np.float64), size=(1, 3, 3, 1)).round().astype(np.uint8)

    f64 = get_metric("fsim", dtype="float64", reference_cache=False)
    f32 = get_metric("fsim", dtype="float32", reference_cache=False)
    for name, dis in distorted.items():
        a, b = f64.compute(frames, dis), f32.compute(frames, dis)
        print(f"{name:14s} mean64 {a.mean:.7f} max|f32-f64| per picture {np.abs(a.per_picture - b.per_picture).max():.2e}")

    dis = distorted["x265 QP 42"]
    configs = {
        "float64, no cache": lambda: get_metric("fsim", dtype="float64", reference_cache=False),
        "float64, cache cold": lambda: (REFERENCE_CACHE.clear(), get_metric("fsim", dtype="float64"))[1],
        "float64, cache warm": lambda: get_metric("fsim", dtype="float64"),
        "float32, no cache": lambda: get_metric("fsim", dtype="float32", reference_cache=False),
        "float32, cache cold": lambda: (REFERENCE_CACHE.clear(), get_metric("fsim", dtype="float32"))[1],
        "float32, cache warm": lambda: get_metric("fsim", dtype="float32"),
    }
    get_metric("fsim", dtype="float32", reference_cache=False).compute(frames[:8], dis[:8])  # filter banks, warm-up
    get_metric("fsim", dtype="float64", reference_cache=False).compute(frames[:8], dis[:8])
    times = {k: [] for k in configs}
    for _ in range(args.rounds):
        for k, make in configs.items():
            m = make()
            t0 = time.process_time()
            m.compute(frames, dis)
            times[k].append((time.process_time() - t0) * 1000 / len(frames))
    for k, v in times.items():
        print(f"{k:20s} CPU ms/frame median {np.median(v):7.1f}  (rounds: {', '.join(f'{x:.1f}' for x in v)})")


if __name__ == "__main__":
    main()
