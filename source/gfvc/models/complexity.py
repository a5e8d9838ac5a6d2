"""gfvc-complexity: parameters and multiply-accumulates per pixel of every model family.

Each family is built at its published size (gfvc.models.official, or a YAML given with --config) with
random weights (complexity does not depend on them) and run once on W x H pictures (default 256 x 256):
* analysis: ``analyse(frame)`` on one picture (keypoint detector; FV2V: detector + head-pose estimator);
* synthesis: ``synthesise(reference, ..., target parameters)`` for one output picture (HDAC with a
  base-layer picture; MRDAC with 1, 2 and 4 references; RDAC without residual, its residual coder is
  reported on its own line).
MACs are counted by torch.utils.flop_counter.FlopCounterMode (convolutions, transposed convolutions and
matrix products; FLOPs / 2). Element-wise work, normalisation, softmax, grid sampling and interpolation
are not counted. Counting runs on PyTorch's ``meta`` device: only shapes are computed, so no picture,
feature map or weight is allocated and any picture size costs the same few seconds. With --speed it measures CPU inference speed (frames/s) of analysis and synthesis
instead, for the batch sizes given by --batch (default 1 and 8).
Exit status: 0 when every family was measured, 1 otherwise, 2 on bad arguments.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass
from typing import Callable, Mapping, Sequence

import torch
from torch.utils.flop_counter import FlopCounterMode

from ..errors import FileProblem, GfvcError
from ..files import load_yaml_file
from .base import FaceModel, ModelConfigError
from .official import OFFICIAL_FAMILIES, official_model_params
from .registry import UnknownFamilyError, build_model, read_model_params

DEFAULT_MRDAC_REFERENCES = (1, 2, 4)


class ComplexityError(GfvcError):
    """A family could not be measured (its module is missing or its forward pass failed)."""


@dataclass
class ComplexityRow:
    label: str
    family: str
    width: int
    height: int
    analysis_params: int
    synthesis_params: int
    analysis_macs: int
    synthesis_macs: int

    @property
    def pixels(self) -> int:
        return self.width * self.height

    @property
    def total_params(self) -> int:
        return self.analysis_params + self.synthesis_params

    def per_pixel(self, macs: int) -> float:
        return macs / self.pixels

    def as_dict(self) -> dict:
        out = asdict(self)
        out.update(total_params=self.total_params,
                   analysis_kmacs_per_pixel=self.per_pixel(self.analysis_macs) / 1e3,
                   synthesis_kmacs_per_pixel=self.per_pixel(self.synthesis_macs) / 1e3)
        return out


def count_macs(fn: Callable[[], object]) -> int:
    """Multiply-accumulates of one call of ``fn`` (FlopCounterMode counts 2 FLOPs per MAC)."""
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops() // 2


def parameter_count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def synthetic_pictures(count: int, height: int, width: int) -> list[torch.Tensor]:
    """Deterministic smooth pictures in [0, 1] (for --speed; the counts do not depend on content)."""
    gen = torch.Generator().manual_seed(2024)
    y = torch.linspace(0, 1, height).view(1, height, 1)
    x = torch.linspace(0, 1, width).view(1, 1, width)
    pictures = []
    for _ in range(count):
        a = torch.rand(3, 1, 1, generator=gen) * 6
        pictures.append((0.5 + 0.4 * torch.sin(a * x + 2 * a * y)).unsqueeze(0))
    return pictures


def measure_family(family: str, model_params: Mapping, width: int = 256, height: int = 256,
                   references: Sequence[int] = DEFAULT_MRDAC_REFERENCES) -> list[ComplexityRow]:
    """Count on PyTorch's ``meta`` device: the model, the pictures and every intermediate tensor
    have shapes but no storage, so nothing is computed or allocated whatever the picture size.
    Steps that need real values (CFTE's OpenCV optical flow) return tensors of the right shape on
    that device; they hold no multiply-accumulates that the counter would see anyway."""
    meta = torch.device("meta")
    try:
        with meta:
            model = build_model(family, model_params)
        model = model.to(meta)  # parameters made with legacy constructors land on the CPU: move them
    except (UnknownFamilyError, ModelConfigError) as exc:
        raise ComplexityError(f"{family}: {exc}") from None
    model.eval()
    analysis_params = sum(parameter_count(getattr(model, n)) for n in model.network_names if n != "generator")
    synthesis_params = parameter_count(model.generator)
    frames = [torch.empty(1, 3, height, width, device=meta) for _ in range(5)]
    reference, target = frames[0], frames[1]

    def row(label: str, analysis_macs: int, synthesis_macs: int) -> ComplexityRow:
        return ComplexityRow(label, family, width, height, analysis_params, synthesis_params, analysis_macs,
                             synthesis_macs)

    try:
        analysis_macs = count_macs(lambda: model.analyse(target))
        with torch.no_grad():
            params = [model.analyse(f) for f in frames]
        if family == "mrdac":
            rows = []
            for r in references:
                refs, ref_params = frames[1:1 + r], params[1:1 + r]
                indices = torch.tensor([[10 * (i + 1) for i in range(r)] + [5]], device=meta)
                macs = count_macs(lambda: model.synthesise(refs, ref_params, params[0], ref_indices=indices))
                rows.append(row(f"MRDAC ({r} ref{'s' if r > 1 else ''})", analysis_macs, macs))
            return rows
        side = {"base_layer": target} if family == "hdac" else {}
        macs = count_macs(lambda: model.synthesise(reference, params[0], params[1], **side))
        rows = [row(family.upper(), analysis_macs, macs)]
        if family == "rdac":
            rows.extend(_residual_coder_rows(model, target, width, height))
        return rows
    except (RuntimeError, ValueError, TypeError, NotImplementedError, IndexError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ComplexityError(f"{family}: cannot be counted at {width}x{height} ({first})") from None


def _residual_coder_rows(model: FaceModel, picture: torch.Tensor, width: int, height: int) -> list[ComplexityRow]:
    """RDAC's spatial residual coder, run encode + decode (eval forward) on one residual picture."""
    coder = getattr(model.generator, "sdc", None)
    if coder is None:
        return []
    residual = picture - 0.5
    macs = count_macs(lambda: coder(residual, rate_idx=0))
    return [ComplexityRow("RDAC residual coder (sdc, enc+dec)", "rdac", width, height, 0, parameter_count(coder),
                          0, macs)]


@dataclass
class SpeedRow:
    family: str
    part: str
    batch: int
    width: int
    height: int
    seconds_per_call: float

    @property
    def frames_per_second(self) -> float:
        return self.batch / self.seconds_per_call


def measure_speed(family: str, model_params: Mapping, batches: Sequence[int] = (1, 8), width: int = 256,
                  height: int = 256, repeats: int = 3) -> list[SpeedRow]:
    """Wall-clock inference speed of analysis and synthesis (one warm-up call, then the median of
    ``repeats`` timed calls), on the CPU with the current torch thread count."""
    import statistics
    import time

    model = build_model(family, model_params).eval()
    rows = []
    for batch in batches:
        frames = torch.cat(synthetic_pictures(batch, height, width))
        with torch.no_grad():
            params = model.analyse(frames)
            side = {"base_layer": frames} if family == "hdac" else {}
            calls = {"analysis": lambda: model.analyse(frames),
                     "synthesis": lambda: model.synthesise(frames, params, params, **side)}
            for part, call in calls.items():
                call()
                times = []
                for _ in range(repeats):
                    start = time.perf_counter()
                    call()
                    times.append(time.perf_counter() - start)
                rows.append(SpeedRow(family, part, batch, width, height, statistics.median(times)))
    return rows


def format_speed(rows: Sequence[SpeedRow]) -> str:
    lines = [f"| model | part | batch | s / call | frames/s |", "|---|---|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r.family.upper()} | {r.part} | {r.batch} | {r.seconds_per_call:.3f} | "
                     f"{r.frames_per_second:.2f} |")
    return "\n".join(lines)


def format_table(rows: Sequence[ComplexityRow]) -> str:
    if not rows:
        return "(no family measured)"
    w, h = rows[0].width, rows[0].height
    lines = [f"| model | analysis params (M) | synthesis params (M) | total params (M) | "
             f"analysis kMAC/px | synthesis kMAC/px |",
             "|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r.label} | {r.analysis_params / 1e6:.2f} | {r.synthesis_params / 1e6:.2f} | "
                     f"{r.total_params / 1e6:.2f} | {r.per_pixel(r.analysis_macs) / 1e3:.1f} | "
                     f"{r.per_pixel(r.synthesis_macs) / 1e3:.1f} |")
    lines.append(f"\n(at {w}x{h}; kMAC/px = multiply-accumulates / {w * h} / 1000; MACs of convolutions and "
                 "matrix products counted by torch.utils.flop_counter.FlopCounterMode)")
    return "\n".join(lines)


def _parse_args(argv):
    parser = argparse.ArgumentParser(prog="gfvc-complexity", description=__doc__.split("\n")[0])
    parser.add_argument("--family", action="append", choices=OFFICIAL_FAMILIES,
                        help="family to measure (repeatable; default: all)")
    parser.add_argument("--config", action="append", default=[], metavar="FAMILY=YAML",
                        help="use this model config for FAMILY instead of the published one")
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--height", type=int, default=256)
    parser.add_argument("--references", type=int, nargs="+", default=list(DEFAULT_MRDAC_REFERENCES),
                        help="MRDAC reference counts (default: 1 2 4)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a Markdown table")
    parser.add_argument("--speed", action="store_true",
                        help="measure CPU inference speed (frames/s) instead of MACs")
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 8], help="batch sizes for --speed")
    parser.add_argument("--repeats", type=int, default=3, help="timed calls per measurement for --speed")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = _parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    configs = {}
    for item in args.config:
        family, sep, path = item.partition("=")
        if not sep or family not in OFFICIAL_FAMILIES:
            print(f"gfvc-complexity: error: --config wants FAMILY=YAML with FAMILY in {', '.join(OFFICIAL_FAMILIES)}, "
                  f"got {item!r}", file=sys.stderr)
            return 2
        try:
            data = load_yaml_file(path, "model config")
        except FileProblem as exc:
            print(f"gfvc-complexity: error: {exc}", file=sys.stderr)
            return 2
        try:
            configs[family] = read_model_params(data)
        except ModelConfigError as exc:
            print(f"gfvc-complexity: error: --config {item}: {exc}", file=sys.stderr)
            return 2
    if args.width < 16 or args.height < 16 or min(args.references) < 1 or min(args.batch) < 1 \
            or args.repeats < 1:
        print("gfvc-complexity: error: sizes must be >= 16; reference counts, batches and repeats >= 1",
              file=sys.stderr)
        return 2
    torch.set_num_threads(max(1, args.threads))
    rows, failures = [], []
    for family in args.family or OFFICIAL_FAMILIES:
        params = configs.get(family) or official_model_params(family)
        try:
            if args.speed:
                try:
                    rows.extend(measure_speed(family, params, args.batch, args.width, args.height, args.repeats))
                except (UnknownFamilyError, ModelConfigError, RuntimeError, ValueError, TypeError) as exc:
                    raise ComplexityError(f"{family}: {exc}") from None
            else:
                rows.extend(measure_family(family, params, args.width, args.height, args.references))
        except ComplexityError as exc:
            failures.append(str(exc))
    if args.speed:
        if args.json:
            print(json.dumps([{**asdict(r), "frames_per_second": r.frames_per_second} for r in rows], indent=1))
        else:
            print(format_speed(rows))
    elif args.json:
        print(json.dumps({"rows": [r.as_dict() for r in rows], "errors": failures}, indent=1))
    else:
        print(format_table(rows))
    for failure in failures:
        print(f"gfvc-complexity: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
