"""Benchmark of the RDAC+ residual coders at the paper's sizes (cfg/models/rdac_plus-256.yaml):
parameter counts, MACs per pixel and encode/decode time per picture at 256x256, random weights, CPU.

Run from the repository root:  PYTHONPATH=source python tools/bench_rdac_plus.py [--threads 2] [--reps 9]
The residuals are those of a built-in clip (test_sequences/builtin) against the random-weight
animation; the levels get gains 2^(l+1) (random weights have all-one gains). Times are medians;
"cpu" is the process CPU time (all threads). Results are printed, nothing is written.
"""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from gfvc.io.sequence import read_rgb
from gfvc.models import build_model
from gfvc.models.rdac_plus import half

ROOT = Path(__file__).resolve().parent.parent
CLIP = ROOT / "test_sequences" / "builtin" / "BUILTIN_FRANCK_001_256x256_25_8bit_444.rgb"


def count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def kmac_per_pixel(fn) -> float:
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        fn()
    return counter.get_total_flops() / 2 / 65536 / 1000


def timed(fn, reps: int):
    runs = []
    for _ in range(reps):
        wall, cpu = time.perf_counter(), time.process_time()
        out = fn()
        runs.append((time.perf_counter() - wall, time.process_time() - cpu))
    walls, cpus = sorted(r[0] for r in runs), sorted(r[1] for r in runs)
    return out, walls[reps // 2] * 1e3, cpus[reps // 2] * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--reps", type=int, default=9)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = build_model("rdac_plus", ROOT / "cfg" / "models" / "rdac_plus-256.yaml")
    model.update(force=True)
    g = model.generator
    with torch.no_grad():
        for coder in (g.sdc, g.tdc):
            for level in range(coder.levels):
                coder.gain[level] = 2.0 ** (level + 1)
                coder.inverse_gain[level] = 2.0 ** -(level + 1)
    print(f"threads {args.threads}, load average before {os.getloadavg()}")
    print(f"parameters: sdc {count(g.sdc):,}  tdc {count(g.tdc):,}  refinement {count(g.refinement):,}  "
          f"animation (generator without them) {count(g) - count(g.sdc) - count(g.tdc) - count(g.refinement):,}  "
          f"kp_detector {count(model.kp_detector):,}  total {count(model):,}")

    frames = torch.from_numpy(read_rgb(CLIP, 256, 256, 8)).permute(0, 3, 1, 2).float() / 255
    with torch.no_grad():
        kps = [model.analyse(frames[i:i + 1]) for i in range(8)]
        preds = [model.animate(frames[0:1], kps[0], kps[i]) for i in range(8)]
    x, r = preds[5], frames[5:6] - preds[5]
    print("kMAC/px: sdc forward %.1f, tdc forward (half size) %.1f, warp (dense motion) %.1f, refinement %.1f"
          % (kmac_per_pixel(lambda: g.sdc(r, x, 0)),
             kmac_per_pixel(lambda: g.tdc(half(r), half(torch.cat([r, x], 1)), 0)),
             kmac_per_pixel(lambda: g.deform_residual(r, x, kps[4], kps[5])),
             kmac_per_pixel(lambda: g.refinement(x))))
    with torch.no_grad():
        for rate in (0, 4):
            (s, shape, res_hat), enc, enc_cpu = timed(lambda: model.spatial_compress(r, x, rate), args.reps)
            _, dec, dec_cpu = timed(lambda: model.spatial_decompress(s, shape, x, rate), args.reps)
            picture = model.reconstruct(x, res_hat)
            r6 = frames[6:7] - preds[6]
            (ts, tshape, _), tenc, tenc_cpu = timed(
                lambda: model.temporal_compress(r6, res_hat, picture, kps[5], kps[6], preds[6], rate), args.reps)
            _, tdec, tdec_cpu = timed(
                lambda: model.temporal_decompress(ts, tshape, res_hat, picture, kps[5], kps[6], preds[6], rate),
                args.reps)
            _, warp, warp_cpu = timed(lambda: g.deform_residual(res_hat, picture, kps[5], kps[6]), args.reps)
            _, ref, ref_cpu = timed(lambda: model.refine(picture), args.reps)
            print(f"rate_idx {rate}: spatial {sum(map(len, s))} B, enc {enc:.0f} ms (cpu {enc_cpu:.0f}), "
                  f"dec {dec:.0f} ms (cpu {dec_cpu:.0f}) | temporal {sum(map(len, ts))} B, enc {tenc:.0f} ms "
                  f"(cpu {tenc_cpu:.0f}), dec {tdec:.0f} ms (cpu {tdec_cpu:.0f}) | of which warp {warp:.0f} ms "
                  f"(cpu {warp_cpu:.0f}) | refinement {ref:.0f} ms (cpu {ref_cpu:.0f})")
            g.sdc.train()
            torch.manual_seed(0)
            rounded = float(g.sdc(r, x, rate, quantization="round").bits)
            noisy = [float(g.sdc(r, x, rate, quantization="noise").bits) for _ in range(5)]
            g.sdc.eval()
            print(f"    spatial: rANS {8 * sum(map(len, s))} bits, estimate with rounding {rounded:.0f}, "
                  f"with noise {min(noisy):.0f}..{max(noisy):.0f}")
    print(f"load average after {os.getloadavg()}")


if __name__ == "__main__":
    main()
