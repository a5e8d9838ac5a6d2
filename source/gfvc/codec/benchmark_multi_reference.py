"""Multi-reference coding: decoder speed against the number of references, and the bits each
reference-buffer strategy spends on gfvc_reference_selection payloads.

    python -m gfvc.codec.benchmark_multi_reference speed [--refs 1,2,4,8] [--targets 16] [--threads 2]
    python -m gfvc.codec.benchmark_multi_reference signalling --model-config Y --checkpoint C [--frames 125]

``speed``: MRDAC at its OFFICIAL size (gfvc.models.official) with seeded random weights (speed
does not depend on the weights), 256x256 pictures of a built-in clip. For each number of
references R it times, interleaved and repeated, what the decoder does: ``prepare_reference``
once per reference (when it enters the buffer) and ``synthesise_multi`` of the generated
pictures from the R prepared references in batches of ``--batch``; and, for comparison, the
reference way (every reference's encoder features recomputed for every picture, batch 1).

``signalling``: codes a clip with each strategy (any MRDAC checkpoint: the payloads depend on
the plan, not on the weights) and reports the reference-selection payload bytes of the stream's
rate breakdown and the share of the stream.
"""
from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch


def _clip(path, frames, size=256):
    from ..io import read_rgb
    from ..io.resample import resize_frames

    clip = Path(path or "test_sequences/builtin/BUILTIN_FRANCK_001_256x256_25_8bit_444.rgb")
    pictures = read_rgb(clip, 256, 256, frames)
    return pictures if size == 256 else resize_frames(pictures, size, size)


def speed(args) -> int:
    from ..models.official import official_model_params
    from ..models.registry import build_model
    from .encoder import stack_params
    from .pictures import to_model

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = build_model("mrdac", official_model_params("mrdac")).eval()
    refs_list = [int(r) for r in args.refs.split(",")]
    frames = _clip(args.clip, max(refs_list) + args.targets)
    pictures = to_model(frames)
    with torch.no_grad():
        params = model.analyse(pictures)
    ref_pics = [pictures[i:i + 1] for i in range(max(refs_list))]
    ref_params = [{k: v[i:i + 1] for k, v in params.items()} for i in range(max(refs_list))]
    targets = stack_params([{k: v[i:i + 1] for k, v in params.items()}
                            for i in range(max(refs_list), max(refs_list) + args.targets)])
    results = {}
    for _ in range(args.repeats):
        for r in refs_list:
            weights = torch.full((args.targets, r), 1.0)
            t0 = time.perf_counter()
            with torch.no_grad():
                prepared = [model.prepare_reference(ref_pics[i], ref_params[i]) for i in range(r)]
            t1 = time.perf_counter()
            model.synthesise_multi(prepared, targets, weights, synthesis_batch=args.batch)
            t2 = time.perf_counter()
            results.setdefault((r, "prepare"), []).append(t1 - t0)
            results.setdefault((r, "synth"), []).append(t2 - t1)
            if r in (1, 4):
                t3 = time.perf_counter()
                with torch.no_grad():
                    for i in range(args.targets):
                        one = {k: v[i:i + 1] for k, v in targets.items()}
                        model.synthesise(ref_pics[:r], ref_params[:r], one, ref_weights=weights[i:i + 1])
                results.setdefault((r, "reference"), []).append(time.perf_counter() - t3)
    print(f"| references | prepare_reference, s per reference | generated pictures/s (batch {args.batch}, "
          f"prepared references) | generated pictures/s (reference way, features per picture, batch 1) |")
    print("|---:|---:|---:|---:|")
    for r in refs_list:
        prep = statistics.median(results[(r, "prepare")]) / r
        synth = args.targets / statistics.median(results[(r, "synth")])
        ref = results.get((r, "reference"))
        ref_txt = f"{args.targets / statistics.median(ref):.2f}" if ref else "-"
        print(f"| {r} | {prep:.3f} | {synth:.2f} | {ref_txt} |")
    print(f"(MRDAC official size, random weights, 256x256, {args.targets} targets, {args.threads} threads, "
          f"median of {args.repeats})")
    return 0


def signalling(args) -> int:
    from .encoder import GfvcEncoder
    from .face_codecs import codec_settings

    frames = _clip(args.clip, args.frames, args.size)
    cases = [("single", {}), ("rrb", {}), ("rrb", {"eviction": "least_used"}), ("rp", {}), ("rp", {"selection": "pose"}),
             ("rp+rrb", {}), ("rp+rrb", {"num_future": 2}), ("bidir", {})]
    print(f"| strategy | key pictures | reference_selection bytes | bits per generated picture | share of the stream "
          f"| structural delay (pictures) |")
    print("|---|---:|---:|---:|---:|---:|")
    for strategy, extra in cases:
        ref = {"strategy": strategy, "interval": args.interval, "max_delay": args.max_delay,
               "max_buffer": args.max_buffer, **extra}
        s = codec_settings("mrdac", {"model_config": args.model_config, "checkpoint": args.checkpoint,
                                     "backend": "x265", "key_qp": args.qp, "reference": ref})
        enc = GfvcEncoder(s).encode(frames)
        rs = enc.rate["reference_selection"]
        gen = len(frames) - len(enc.key_pictures)
        label = strategy + "".join(f", {k} {v}" for k, v in extra.items())
        print(f"| {label} | {len(enc.key_pictures)} | {rs} | {8 * rs / gen:.1f} | "
              f"{100 * rs / len(enc.bitstream):.1f} % | {enc.delay} |")
    print(f"({len(frames)} pictures at {args.size}x{args.size}, interval {args.interval}, max_buffer {args.max_buffer}, "
          f"max_delay {args.max_delay}, key QP {args.qp}, x265)")
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m gfvc.codec.benchmark_multi_reference")
    sub = ap.add_subparsers(dest="what", required=True)
    sp = sub.add_parser("speed")
    sp.add_argument("--refs", default="1,2,4,8")
    sp.add_argument("--targets", type=int, default=16)
    sp.add_argument("--batch", type=int, default=8)
    sp.add_argument("--repeats", type=int, default=2)
    sp.add_argument("--threads", type=int, default=2)
    sp.add_argument("--clip", default=None)
    sg = sub.add_parser("signalling")
    sg.add_argument("--model-config", required=True)
    sg.add_argument("--checkpoint", required=True)
    sg.add_argument("--frames", type=int, default=125)
    sg.add_argument("--size", type=int, default=64)
    sg.add_argument("--interval", type=int, default=25)
    sg.add_argument("--max-delay", type=int, default=50)
    sg.add_argument("--max-buffer", type=int, default=4)
    sg.add_argument("--qp", type=int, default=32)
    sg.add_argument("--clip", default=None)
    args = ap.parse_args(argv)
    return speed(args) if args.what == "speed" else signalling(args)


if __name__ == "__main__":
    raise SystemExit(main())
