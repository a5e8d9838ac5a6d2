"""Speed and rate split of the residual codecs (RDAC, RDAC+); doc/benchmarks.md.

    python -m gfvc.codec.residual_benchmark speed [--frames 16] [--threads 2] [--repeats 1]
    python -m gfvc.codec.residual_benchmark split [--frames 50] [--threads 2]

``speed``: official-size RDAC (gfvc.models.official) and RDAC+ at the paper's sizes
(cfg/models/rdac_plus-256.yaml), seeded random weights, a built-in 256x256 clip, x265 key
picture: encode and decode frames/s (all output pictures / wall time of gfvc's encoder or
decoder, in this process) for residual coding off (animation only), the default mode decision
(the encoder tries skip, spatial and temporal for every picture) and modes [temporal] (every
generated picture carries a coded residual: the decoder's worst case).

``split``: the rate breakdown per rate level (key picture / face parameters / residual / framing)
of the tiny models at 64x64 (RDAC: the tiny fixture checkpoint; RDAC+: a seeded random small
configuration), with their residual coders made block-mean coders
(:func:`make_block_mean_coder`) so that the mode decision has something to decide about.

:func:`make_block_mean_coder` sets a residual coder's synthesis/analysis weights so that it codes
the residual's means over blocks of 2^(n+2) pixels (a real coder with known behaviour; random
weights decode noise, which the mode decision rightly never chooses). The tests use it too.
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[3]
CLIP = "BUILTIN_FRANCK_001_256x256_25_8bit_444.rgb"
#: a reduced RDAC+ configuration for 64x64 pictures (latents 8 x 8 x 8 for both coders)
SMALL_RDAC_PLUS = {
    "common_params": {"num_kp": 4, "num_channels": 3, "estimate_jacobian": False},
    "kp_detector_params": {"temperature": 0.1, "block_expansion": 8, "max_features": 32, "scale_factor": 0.25,
                           "num_blocks": 3, "quantize": False},
    "generator_params": {"block_expansion": 8, "max_features": 32, "num_down_blocks": 2,
                         "num_bottleneck_blocks": 1, "estimate_occlusion_map": True,
                         "dense_motion_params": {"block_expansion": 8, "max_features": 32, "num_blocks": 3,
                                                 "scale_factor": 0.25}},
    "residual_coder_params": {"hidden_features": 16, "latent_features": 8, "condition_features": 8, "levels": 5,
                              "spatial_intermediate_layers": 1, "temporal_intermediate_layers": 0},
    "refinement_params": {"block_expansion": 8, "num_blocks": 2, "max_features": 16},
}


def make_block_mean_coder(coder, scale: float = 32.0) -> None:
    """Set ``coder``'s g_a / g_s weights (g_p zeroed): g_a = mean of the first three input channels
    over 2x2 per stride-2 stage (x ``scale`` at the last one), g_s = nearest upsampling back
    (/ ``scale``); signed values pass the ReLUs as a positive and a negative channel (needs N >= 6,
    M >= 3). Gains 2^(level+1), inverse gains 2^-(level+1): the quantisation step of a block mean
    is 1 / (scale * 2^(level+1))."""
    def signed(w, out_c, in_c, pos, neg):
        w[out_c, in_c, 2:4, 2:4] = pos
        if neg is not None:
            w[out_c + 1, in_c, 2:4, 2:4] = neg

    with torch.no_grad():
        for name in ("g_a", "g_s", "g_p"):
            if hasattr(coder, name):
                for p in getattr(coder, name).parameters():
                    p.zero_()
        a = [b.conv.weight for b in coder.g_a]
        s = [b.deconv.weight for b in coder.g_s]
        for c in range(3):
            p, n = 2 * c, 2 * c + 1
            signed(a[0], p, c, 0.25, -0.25)                     # (out, in, kh, kw)
            for w in a[1:-1]:
                signed(w, p, p, 0.25, -0.25)
                signed(w, p, n, -0.25, 0.25)
            a[-1][c, p, 2:4, 2:4] = 0.25 * scale
            a[-1][c, n, 2:4, 2:4] = -0.25 * scale
            s[0][c, p, 2:4, 2:4] = 1.0 / scale                  # (in, out, kh, kw)
            s[0][c, n, 2:4, 2:4] = -1.0 / scale
            for w in s[1:-1]:
                w[p, p, 2:4, 2:4] = w[n, n, 2:4, 2:4] = 1.0
                w[p, n, 2:4, 2:4] = w[n, p, 2:4, 2:4] = -1.0
            s[-1][p, c, 2:4, 2:4] = 1.0
            s[-1][n, c, 2:4, 2:4] = -1.0
        for level in range(coder.levels):
            coder.gain[level] = 2.0 ** (level + 1)
            coder.inverse_gain[level] = 2.0 ** -(level + 1)


def _save(model, folder: Path, name: str, params: dict):
    import yaml

    ckpt = folder / f"{name}.pth.tar"
    torch.save({n: getattr(model, n).state_dict() for n in model.network_names}, ckpt)
    cfg = folder / f"{name}.yaml"
    cfg.write_text(yaml.safe_dump({"model_params": params}))
    return cfg, ckpt


VARIANTS = {"off": {"modes": []}, "mode decision": {}, "modes [temporal]": {"modes": ["temporal"]}}


def speed(args) -> None:
    from ..io import read_rgb
    from ..models.official import official_model_params
    from ..models.registry import build_model, read_model_params
    from .decoder import GfvcDecoder
    from .encoder import GfvcEncoder
    from .face_codecs import codec_settings

    frames = read_rgb(REPO / "test_sequences" / "builtin" / CLIP, 256, 256, args.frames)
    print(f"| family (random weights, 256x256, {args.frames} pictures, {args.threads} threads) | residual | "
          "encode frames/s (per CPU-s) | decode frames/s (per CPU-s) | residual bytes |")
    print("|---|---|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for family in ("rdac", "rdac_plus"):
            params = official_model_params("rdac") if family == "rdac" else \
                read_model_params(REPO / "cfg" / "models" / "rdac_plus-256.yaml")
            torch.manual_seed(0)
            model = build_model(family, params).eval()
            cfg, ckpt = _save(model, Path(tmp), family, params)
            for label, residual in VARIANTS.items():
                s = codec_settings(family, {"model_config": str(cfg), "checkpoint": str(ckpt), "backend": "x265",
                                            "key_qp": 32, "residual": residual})
                enc_t, dec_t, enc_c, dec_c = [], [], [], []
                for _ in range(args.repeats):
                    c0, t0 = time.process_time(), time.perf_counter()
                    enc = GfvcEncoder(s).encode(frames)
                    c1, t1 = time.process_time(), time.perf_counter()
                    dec = GfvcDecoder(cfg, ckpt, synthesis_batch=s.synthesis_batch).decode(enc.bitstream)
                    c2, t2 = time.process_time(), time.perf_counter()
                    assert dec.md5_per_picture == enc.md5_per_picture
                    enc_t.append(t1 - t0)
                    dec_t.append(t2 - t1)
                    enc_c.append(c1 - c0)
                    dec_c.append(c2 - c1)
                name = "RDAC official size" if family == "rdac" else "RDAC+ paper size"
                n = args.frames
                print(f"| {name} | {label} | {n / statistics.median(enc_t):.2f} ({n / statistics.median(enc_c):.2f}) | "
                      f"{n / statistics.median(dec_t):.2f} ({n / statistics.median(dec_c):.2f}) | "
                      f"{enc.rate['residual']} |", flush=True)


def split(args) -> None:
    from ..io import read_rgb
    from ..io.resample import resize_frames
    from ..models.registry import build_model, read_model_params
    from .encoder import GfvcEncoder
    from .face_codecs import codec_settings

    frames = resize_frames(read_rgb(REPO / "test_sequences" / "builtin" / CLIP, 256, 256, args.frames), 64, 64)
    seconds = args.frames / 25.0
    fixture = REPO / "tests" / "fixtures" / "RDAC" / "tiny"
    print(f"| tiny model, 64x64, {args.frames} pictures, key QP {args.qp}, lambda {args.rd_lambda} | residual "
          "| key picture | parameters (GFV) | residual | framing + other | total kbps | modes skip/spatial/temporal |")
    print("|---|---|---:|---:|---:|---:|---:|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for family in ("rdac", "rdac_plus"):
            if family == "rdac":
                params = read_model_params(fixture / "model_params.yaml")
                model = build_model("rdac", params)
                model.load_checkpoint(fixture / "checkpoint.pth.tar")
            else:
                params = SMALL_RDAC_PLUS
                torch.manual_seed(0)
                model = build_model("rdac_plus", params)
                with torch.no_grad():        # a refinement that keeps the decoded picture
                    for p in model.generator.refinement.final.parameters():
                        p.zero_()
            for coder in (model.generator.sdc, model.generator.tdc):
                make_block_mean_coder(coder)
            model.generator.update(force=True)
            cfg, ckpt = _save(model, Path(tmp), family, params)
            levels = model.generator.sdc.levels
            for level in ["off"] + list(range(levels)):
                residual = {"modes": []} if level == "off" else {"rate_level": level, "rd_lambda": args.rd_lambda}
                s = codec_settings(family, {"model_config": str(cfg), "checkpoint": str(ckpt), "backend": "x265",
                                            "key_qp": args.qp, "residual": residual})
                enc = GfvcEncoder(s).encode(frames)
                r = enc.rate
                modes = _modes(enc.bitstream, enc.codec)
                other = sum(r.values()) - r["key_picture_vcl"] - r["parameter_sets"] - r["gfv_sei"] - r["residual"]
                kbps = 8 * sum(r.values()) / 1000 / seconds
                print(f"| {family} | {level} | {r['key_picture_vcl'] + r['parameter_sets']} | {r['gfv_sei']} | "
                      f"{r['residual']} | {other} | {kbps:.2f} | {modes} |", flush=True)


def _modes(stream: bytes, codec: str) -> str:
    from ..bitstream import Residual
    from .stream import read_stream

    modes = [m.payload.res_coding_mode for p in read_stream(stream, codec).pictures for m in p.messages
             if isinstance(m.payload, Residual)]
    return "/".join(str(modes.count(k)) for k in (0, 1, 2)) if modes else "-"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m gfvc.codec.residual_benchmark")
    ap.add_argument("what", choices=("speed", "split"))
    ap.add_argument("--frames", type=int, default=None)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--qp", type=int, default=37)
    ap.add_argument("--rd-lambda", type=float, default=100.0)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.what == "speed":
        args.frames = args.frames or 16
        speed(args)
    else:
        args.frames = args.frames or 50
        split(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
