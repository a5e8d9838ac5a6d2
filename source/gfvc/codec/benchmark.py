"""Decoder speed: gfvc's decoder against the same model run the reference way, same run.

    python -m gfvc.codec.benchmark [--family dac] [--frames 16] [--repeats 2] [--threads 2]

Builds the family's OFFICIAL-size networks with seeded random weights (official checkpoints are
not available here; speed does not depend on the weights), encodes a built-in clip, then times,
interleaved and repeated:
- ``reference way``: per generated picture, ``synthesise(reference, reference_params, target)``
  with batch 1, the reference's feature encoder recomputed every picture (as the public decoders);
- ``gfvc decoder, batch 1`` and ``gfvc decoder, batch B``: the whole gfvc-decode pipeline on the
  stream (parse, one base-layer decode, reference features once per key picture, batched synthesis).
Prints a Markdown table (frames/s of generated pictures).
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch


def _model(family: str, seed: int):
    from ..models.official import official_model_params
    from ..models.registry import build_model

    torch.manual_seed(seed)
    return build_model(family, official_model_params(family)).eval()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m gfvc.codec.benchmark")
    ap.add_argument("--family", default="dac", choices=("dac", "hdac", "fomm"))
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--clip", default=None, help="a 256x256 .rgb clip (default: the first built-in clip)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)

    import yaml

    from ..io import read_rgb
    from ..models.official import official_model_params
    from .decoder import GfvcDecoder
    from .encoder import GfvcEncoder, analyse
    from .face_codecs import codec_settings
    from .model_source import load_model
    from .pictures import to_model

    clip = Path(args.clip) if args.clip else sorted(Path("test_sequences/builtin").glob("*_256x256_*.rgb"))[0]
    frames = read_rgb(clip, 256, 256, args.frames)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model = _model(args.family, 0)
        ckpt = tmp / "random.pth.tar"
        torch.save({name: getattr(model, name).state_dict() for name in model.network_names}, ckpt)
        cfg = tmp / "model.yaml"
        cfg.write_text(yaml.safe_dump({"model_params": official_model_params(args.family)}))
        results = {}
        streams = {}
        for batch in (1, args.batch):
            s = codec_settings(args.family, {"model_config": str(cfg), "checkpoint": str(ckpt), "backend": "x265",
                                             "synthesis_batch": batch, "picture_hash": "none", "bl_qp": 42})
            enc = GfvcEncoder(s).encode(frames)
            streams[batch] = enc.bitstream
        net, key = load_model(args.family, cfg, ckpt)
        dec_ref = GfvcDecoder(cfg, ckpt, synthesis_batch=1).decode(streams[1])
        key_pic = to_model(dec_ref.pictures[:1])
        ref_params = analyse(net, args.family, key_pic, True)
        targets = [analyse(net, args.family, to_model(frames[i:i + 1]), False) for i in range(1, args.frames)]
        generated = args.frames - 1

        def reference_way():
            with torch.no_grad():
                for t in targets:
                    side = {"base_layer": to_model(frames[1:2])} if args.family == "hdac" else {}
                    net.synthesise(key_pic, ref_params, t, **side)

        runs = {"reference way (features per picture, batch 1)": reference_way,
                "gfvc decoder, batch 1": lambda: GfvcDecoder(cfg, ckpt, synthesis_batch=1).decode(streams[1]),
                f"gfvc decoder, batch {args.batch}":
                    lambda: GfvcDecoder(cfg, ckpt, synthesis_batch=args.batch).decode(streams[args.batch])}
        for _ in range(args.repeats):
            for name, fn in runs.items():
                t0 = time.perf_counter()
                fn()
                results.setdefault(name, []).append(time.perf_counter() - t0)
    print(f"| {args.family} official size, random weights, {generated} generated pictures, "
          f"{args.threads} threads | s (median of {args.repeats}) | generated pictures/s |")
    print("|---|---:|---:|")
    for name, times in results.items():
        med = statistics.median(times)
        print(f"| {name} | {med:.2f} | {generated / med:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
