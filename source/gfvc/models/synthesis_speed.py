"""Decoder synthesis speed and bit-exactness: the reference way against prepared references.

``python -m gfvc.models.synthesis_speed --family dac hdac --threads 2 --repeats 2`` builds the
official-size model (random weights), one reference and 8 target pictures (synthetic, smooth), and
times, interleaved within each repetition:

* ``reference``: ``synthesise`` per target, batch 1 (the reference encoder runs for every picture, as
  in the public GFVC decoder);
* ``prepared bN``: ``prepare_reference`` once, then ``synthesise_prepared(..., synthesis_batch=N)``.

Each run records wall seconds and the process's CPU seconds (``time.process_time``, all threads): on a
shared machine the wall time follows the load, the CPU time much less.

* ``prepared bN channels_last``: the same after ``FaceModel.set_channels_last(True)`` (``--modes``).

It then reports whether the pictures are bit-identical between repetitions, between batch sizes and
against the reference way, and (``--variants``) with ``torch.inference_mode``, channels-last weights
and activations, and one thread instead of ``--threads``. Prints Markdown (``--json`` for JSON).
Used for doc/benchmarks.md "Decoder synthesis speed".
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Sequence

import torch

from .complexity import synthetic_pictures
from .official import official_model_params
from .registry import build_model

MODES = ("reference", "prepared b1", "prepared b4", "prepared b8")
CHANNELS_LAST_MODES = ("prepared b1 channels_last", "prepared b4 channels_last")
FRAMES_PER_MODE = {"reference": 4, "prepared b1": 4, "prepared b4": 4, "prepared b8": 8,
                   "prepared b1 channels_last": 4, "prepared b4 channels_last": 4}


def _max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max())


def _side(family: str, pictures: torch.Tensor) -> dict:
    return {"base_layer": pictures} if family == "hdac" else {}


def measure(family: str, repeats: int = 2, size: int = 256, variants: bool = False, threads: int = 2,
            modes: Sequence[str] = MODES) -> dict:
    torch.set_num_threads(threads)
    model = build_model(family, official_model_params(family)).eval()
    pictures = torch.cat(synthetic_pictures(9, size, size))
    reference, targets = pictures[:1], pictures[1:]
    with torch.no_grad():
        reference_params = model.analyse(reference)
        per_target = [model.analyse(targets[i:i + 1]) for i in range(targets.shape[0])]
    target_params = {k: torch.cat([p[k] for p in per_target]) for k in per_target[0]}

    def first(n: int) -> tuple[dict, dict]:
        return {k: v[:n] for k, v in target_params.items()}, {k: v[:n] for k, v in _side(family, targets).items()}

    def run(mode: str) -> torch.Tensor:
        params, side = first(FRAMES_PER_MODE[mode])
        if mode == "reference":
            with torch.no_grad():
                return torch.cat([model.synthesise(reference, reference_params,
                                                   {k: v[i:i + 1] for k, v in params.items()},
                                                   **{k: v[i:i + 1] for k, v in side.items()})
                                  for i in range(FRAMES_PER_MODE[mode])])
        model.set_channels_last(mode.endswith("channels_last"))
        try:
            prepared = model.prepare_reference(reference, reference_params)
            return model.synthesise_prepared(prepared, params, synthesis_batch=int(mode.split()[1][1:]), **side)
        finally:
            model.set_channels_last(False)

    timings: dict[str, list[float]] = {m: [] for m in modes}
    cpu: dict[str, list[float]] = {m: [] for m in modes}
    outputs: dict[str, list[torch.Tensor]] = {m: [] for m in modes}
    load = []
    for _ in range(repeats):
        for mode in modes:
            start, start_cpu = time.perf_counter(), time.process_time()
            outputs[mode].append(run(mode))
            timings[mode].append(time.perf_counter() - start)
            cpu[mode].append(time.process_time() - start_cpu)
            load.append(_load_average())
    rows = [{"family": family, "mode": m, "frames": FRAMES_PER_MODE[m], "seconds": timings[m],
             "frames_per_second": [FRAMES_PER_MODE[m] / t for t in timings[m]],
             "cpu_seconds_per_frame": [c / FRAMES_PER_MODE[m] for c in cpu[m]]} for m in modes]
    checks = {f"{m}: repetitions bit-identical": all(torch.equal(o, outputs[m][0]) for o in outputs[m])
              for m in modes}
    base = outputs["prepared b1"][0][:4] if "prepared b1" in outputs else None
    for m in modes:
        if m != "prepared b1" and base is not None:
            other = outputs[m][0][:4]
            checks[f"{m} vs prepared b1: bit-identical"] = torch.equal(other, base)
            checks[f"{m} vs prepared b1: max abs diff"] = _max_diff(other, base)
    if variants:
        checks.update(_variants(model, reference, reference_params, first(4), run("prepared b4")[:4], threads))
    return {"rows": rows, "checks": checks, "load_average": load}


def _variants(model, reference, reference_params, first4, expected: torch.Tensor, threads: int) -> dict:
    params, side = first4
    checks = {}
    with torch.inference_mode():
        prepared = model.prepare_reference(reference, reference_params)
        start = time.perf_counter()
        out = model.synthesise_prepared(prepared, params, synthesis_batch=4, **side)
        checks["inference_mode b4: seconds"] = time.perf_counter() - start
    checks["inference_mode b4 vs no_grad b4: bit-identical"] = torch.equal(out, expected)
    torch.set_num_threads(1)
    prepared = model.prepare_reference(reference, reference_params)
    out = model.synthesise_prepared(prepared, params, synthesis_batch=4, **side)
    torch.set_num_threads(threads)
    checks["1 thread b4 vs %d threads b4: bit-identical" % threads] = torch.equal(out, expected)
    checks["1 thread b4 vs %d threads b4: max abs diff" % threads] = _max_diff(out, expected)
    model.set_channels_last(True)
    runs, seconds = [], []
    for _ in range(2):
        prepared = model.prepare_reference(reference, reference_params)
        start = time.perf_counter()
        runs.append(model.synthesise_prepared(prepared, params, synthesis_batch=4, **side))
        seconds.append(time.perf_counter() - start)
    model.set_channels_last(False)
    checks["channels_last b4: seconds"] = seconds
    checks["channels_last b4: two runs bit-identical"] = torch.equal(runs[0], runs[1])
    checks["channels_last b4 vs contiguous b4: bit-identical"] = torch.equal(runs[0], expected)
    checks["channels_last b4 vs contiguous b4: max abs diff"] = _max_diff(runs[0], expected)
    return checks


def _load_average() -> float | None:
    try:
        with open("/proc/loadavg") as f:
            return float(f.read().split()[0])
    except OSError:
        return None


def format_markdown(results: Sequence[dict]) -> str:
    lines = ["| model | mode | frames | per run: wall s, frames/s, CPU s/frame |", "|---|---|---:|---|"]
    for result in results:
        for r in result["rows"]:
            cells = "; ".join(f"{s:.2f} s, {f:.3f} f/s, {c:.2f} CPU s/f" for s, f, c
                              in zip(r["seconds"], r["frames_per_second"], r["cpu_seconds_per_frame"]))
            lines.append(f"| {r['family'].upper()} | {r['mode']} | {r['frames']} | {cells} |")
    for result in results:
        family = result["rows"][0]["family"].upper()
        lines.append("")
        lines.append(f"{family} checks (load average during the runs: "
                     f"{min(result['load_average']):.1f} to {max(result['load_average']):.1f}):")
        for name, value in result["checks"].items():
            lines.append(f"* {name}: {value}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gfvc.models.synthesis_speed", description=__doc__.split("\n")[0])
    parser.add_argument("--family", nargs="+", default=["dac", "hdac"],
                        choices=["fomm", "dac", "hdac", "rdac", "cfte", "fv2v"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--variants", action="store_true",
                        help="also check inference_mode, channels_last and 1 thread (first family only)")
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=list(MODES + CHANNELS_LAST_MODES),
                        help="modes to time, interleaved (default: %(default)s)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.threads < 1 or args.repeats < 1 or args.size < 128:
        parser.error("threads and repeats must be >= 1, size >= 128")
    results = [measure(family, args.repeats, args.size, args.variants and i == 0, args.threads, args.modes)
               for i, family in enumerate(args.family)]
    print(json.dumps(results, indent=1) if args.json else format_markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
