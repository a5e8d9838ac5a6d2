"""Time every metric on one synthetic sequence; prints a Markdown table.

    python -m gfvc.metrics.benchmark --frames 250 --size 256 --threads 2 [--metrics a,b] [--device cpu]

Deep metrics get random-weight backbones of the real size (VGG-16, VGG-19, AlexNet built by
gfvc.metrics.backbones and saved to a temporary folder), so they run the full network; their
values mean nothing, their times are the real ones. The pictures are a smooth moving pattern
plus noise (reference) and a blurred, noisier copy (distorted).
"""
from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

from . import available_metrics, get_metric


def synthetic_pair(frames: int, size: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    ref = np.empty((frames, size, size, 3), np.uint8)
    dis = np.empty_like(ref)
    for t in range(frames):
        phase = 2 * np.pi * t / 50
        planes = [128 + 90 * np.sin(2 * np.pi * (k + 1) * (xx + yy / 2) + phase + k) for k in range(3)]
        pic = np.stack(planes, axis=-1) + rng.normal(0, 6, (size, size, 3))
        ref[t] = np.clip(pic, 0, 255).astype(np.uint8)
        blurred = (pic + np.roll(pic, 1, 0) + np.roll(pic, 1, 1) + np.roll(pic, (1, 1), (0, 1))) / 4
        dis[t] = np.clip(blurred + rng.normal(0, 4, pic.shape), 0, 255).astype(np.uint8)
    return ref, dis


def random_backbones(folder: Path) -> dict[str, str]:
    """Random-weight torchvision-layout files for every backbone; metric options naming them."""
    import torch

    from .backbones import build_backbone

    options = {}
    for name in ("vgg16", "vgg19", "alexnet"):
        path = folder / f"{name}.pth"
        torch.save({f"features.{k}": v for k, v in build_backbone(name).state_dict().items()}, path)
        options[f"{name}_weights"] = str(path)
    return options


def _options_for(metric: str, weights: dict[str, str], device: str | None) -> dict:
    backbone = {"lpips_vgg": "vgg16", "dists": "vgg16", "lpips_alex": "alexnet", "msvgg": "vgg19"}.get(metric)
    options = {f"{backbone}_weights": weights[f"{backbone}_weights"]} if backbone else {}
    if device and metric not in ("psnr_y", "psnr_yuv", "psnr_rgb", "vmaf"):
        options["device"] = device
    return options


def run(frames: int, size: int, metrics: list[str], device: str | None):
    """Yields (metric, seconds, process CPU seconds) per metric, as each finishes."""
    ref, dis = synthetic_pair(frames, size)
    with tempfile.TemporaryDirectory(prefix="gfvc_bench_") as tmp:
        weights = random_backbones(Path(tmp))
        for name in metrics:
            metric = get_metric(name, **_options_for(name, weights, device))
            metric.compute(ref[:2], dis[:2])  # warm-up: builds the network, loads weights
            start, cpu = time.perf_counter(), time.process_time()
            metric.compute(ref, dis)
            yield name, time.perf_counter() - start, time.process_time() - cpu


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m gfvc.metrics.benchmark", description=__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, default=250)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    p.add_argument("--metrics", help="comma-separated (default: all)")
    p.add_argument("--device", help="torch device for tensor metrics (default: cuda when present)")
    args = p.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    metrics = args.metrics.split(",") if args.metrics else available_metrics()
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    print(f"{args.frames} frames {args.size}x{args.size}, torch threads {args.threads}, device {device}, "
          f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; load average before "
          f"{os.getloadavg()[0]:.1f}", flush=True)
    print("| metric | wall s | ms/frame | CPU s (this process) | load avg after |", flush=True)
    print("|---|---:|---:|---:|---:|", flush=True)
    for name, seconds, cpu in run(args.frames, args.size, metrics, args.device):
        print(f"| {name} | {seconds:.2f} | {1000 * seconds / args.frames:.1f} | {cpu:.1f} | "
              f"{os.getloadavg()[0]:.1f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
