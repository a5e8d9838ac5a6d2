#!/usr/bin/env python3
"""Metric time per frame of the CTC metric set, with and without the per-process caches of the
deep metrics (reference features, networks), as a CTC worker sees it: one reference sequence
measured against R distorted versions (R rate points), a new metric object per rate point.

    PYTHONPATH=source python tools/bench_deep_cache.py --frames 4 --size 256 --rate-points 3

"before": every rate point builds its network and computes the reference features again (gfvc
before the caches); "after": the caches on (the default). Deep metrics get random-weight
backbones of the real size (gfvc.metrics.benchmark), so their times are the real ones. The two
modes alternate rate point by rate point, so that a change of machine load hits both alike.
Prints a Markdown table (CPU seconds per frame and the values' largest difference).
"""
from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import numpy as np

METRICS = ("psnr_y", "psnr_yuv", "psnr_rgb", "ssim", "ms_ssim", "fsim", "vmaf",
           "lpips_alex", "lpips_vgg", "dists", "msvgg")
DEEP = ("lpips_alex", "lpips_vgg", "dists", "msvgg")


def _cpu() -> float:
    """CPU seconds of this process and its finished children (VMAF's ffmpeg)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, default=4)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--rate-points", type=int, default=3)
    p.add_argument("--metrics", default=",".join(METRICS))
    args = p.parse_args()
    import torch

    from gfvc.metrics import backbones, get_metric
    from gfvc.metrics.benchmark import _options_for, random_backbones, synthetic_pair

    torch.set_num_threads(1)
    weights = random_backbones(Path(tempfile.mkdtemp(prefix="gfvc-bench-")))
    ref, _ = synthetic_pair(args.frames, args.size, seed=0)
    distorted = [synthetic_pair(args.frames, args.size, seed=k + 1)[1] for k in range(args.rate_points)]
    rows = []
    for name in args.metrics.split(","):
        opts = _options_for(name, weights, None)
        times = {"before": 0.0, "after": 0.0}
        values = {"before": [], "after": []}
        backbones.REFERENCE_CACHE.clear()
        backbones._NETWORKS.clear()
        for dis in distorted:
            for mode in ("before", "after"):
                extra = {}
                if name in DEEP and mode == "before":
                    backbones._NETWORKS.clear()  # built again, as every cell did
                    extra = {"reference_cache": False}
                t0 = _cpu()
                values[mode].append(get_metric(name, **opts, **extra).compute(ref, dis).per_picture)
                times[mode] += _cpu() - t0
        n = args.frames * args.rate_points
        diff = max(float(np.max(np.abs(a - b))) for a, b in zip(values["before"], values["after"]))
        rows.append((name, times["before"] / n, times["after"] / n, diff))
        print(f"{name}: before {rows[-1][1]:.4f} after {rows[-1][2]:.4f} CPU s/frame", flush=True)
    print(f"{args.frames} frames {args.size}x{args.size}, {args.rate_points} rate points, 1 thread, "
          f"load average {os.getloadavg()[0]:.1f}")
    print("| metric | before (CPU s/frame) | after (CPU s/frame) | after/before | max difference |")
    print("|---|---|---|---|---|")
    for name, b, a, d in rows:
        print(f"| {name} | {b:.4f} | {a:.4f} | {a / b:.2f} | {d:.1e} |")
    tb, ta = sum(r[1] for r in rows), sum(r[2] for r in rows)
    print(f"| all | {tb:.4f} | {ta:.4f} | {ta / tb:.2f} | |")


if __name__ == "__main__":
    main()
