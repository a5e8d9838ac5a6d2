"""Measure the built-in base layer; prints the "Base layer" section of doc/benchmarks.md.

  python -m gfvc.baselayer.benchmark [--clip test_sequences/builtin/NAME_256x256_25_8bit_444.rgb]
                                     [--frames 25] [--out FILE]

Key pictures: the clip's first frame coded intra at QP 22/32/42/52 (x265: 51, its top QP).
Anchors: hevc_anchor (x265, low-delay P) and vvc_anchor (vvenc, low-delay B) over the first
``--frames`` frames at their default rate points. Every number is measured by this run.
Without a clip, a built-in stand-in is used: scikit-image's astronaut, 256x256 around the face,
shifted by (1, 2) pixels a frame.
"""
from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from ..errors import GfvcError
from ..files import atomic_write_bytes, check_output_path
from ..io import Yuv420, read_sequence, rgb_to_yuv420
from . import get_backend


def astronaut_clip(frames: int = 4, size: int = 256) -> np.ndarray:
    """(frames, size, size, 3) uint8 RGB: the astronaut's face (256x256 crop), shifted a little each frame."""
    from skimage import data

    crop = data.astronaut()[20:276, 140:396]
    step = 256 // size
    small = crop[::step, ::step][:size, :size]
    return np.stack([np.roll(small, (k, 2 * k), axis=(0, 1)) for k in range(frames)]).astype(np.uint8)


def psnr_y(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


def key_picture_rows(yuv0: Yuv420) -> list[str]:
    rows = []
    for name, qps in (("x265", (22, 32, 42, 51)), ("vvenc", (22, 32, 42, 52))):
        backend = get_backend(name)
        for qp in qps:
            # Two runs each: the faster one is reported (the machine is shared), and the two
            # streams must be identical.
            encs = [backend.encode(yuv0, qp, "intra") for _ in range(2)]
            if encs[0].bitstream != encs[1].bitstream:
                raise RuntimeError(f"{name} QP {qp}: two runs gave different streams")
            decs = [backend.decode(encs[0].bitstream, yuv0.width, yuv0.height, 1) for _ in range(2)]
            rows.append(f"| {name} | {qp} | {len(encs[0].bitstream)} | {psnr_y(decs[0].pictures.y, yuv0.y):.2f} "
                        f"| {min(e.seconds for e in encs):.3f} | {min(d.seconds for d in decs) * 1000:.1f} |")
    return rows


def anchor_rows(frames: np.ndarray, fps: float) -> list[str]:
    from ..codec.registry import get_codec

    rows = []
    src = Yuv420(*rgb_to_yuv420(frames))
    n = frames.shape[0]
    for name in ("hevc_anchor", "vvc_anchor"):
        codec = get_codec(name)
        for qp in codec.default_rate_points:
            with tempfile.TemporaryDirectory() as tmp:
                r = codec.code(frames, fps, qp, Path(tmp))
            kbps = 8 * len(r.bitstream) / 1000 / (n / fps)
            rows.append(f"| {name} ({codec.backend_name}, {codec.structure}) | {qp} | {len(r.bitstream)} | {kbps:.2f} "
                        f"| {psnr_y(r.decoded_yuv.y, src.y):.2f} | {r.timings['encode'] / n:.3f} "
                        f"| {r.timings['decode'] / n * 1000:.2f} |")
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m gfvc.baselayer.benchmark")
    p.add_argument("--clip", type=Path, help="JVET-named .rgb clip (default: the astronaut stand-in)")
    p.add_argument("--frames", type=int, default=25)
    p.add_argument("--out", type=Path, default=None,
                   help="write the Markdown section to FILE (default: standard output)")
    args = p.parse_args(argv)
    if args.frames <= 0:
        p.error(f"--frames must be a positive integer, got {args.frames}")
    try:
        return _run(args)
    except GfvcError as e:  # bad clip or output path, a tool that failed: one line
        print(f"{p.prog}: error: {e}", file=sys.stderr)
        return 1


def _run(args) -> int:
    if args.out is not None:
        check_output_path(args.out, [args.clip], "--out")  # before the measurements, not after
    if args.clip:
        frames, what = read_sequence(args.clip, args.frames), f"`{args.clip.name}`, first {args.frames} frames"
    else:
        frames = astronaut_clip(args.frames)
        what = (f"astronaut stand-in (scikit-image `astronaut.png`, 256x256 crop around the face, shifted by "
                f"(1, 2) pixels a frame), {args.frames} frames")
    fps = 25.0
    yuv = Yuv420(*rgb_to_yuv420(frames))
    t0 = time.time()
    keys = key_picture_rows(yuv.frame(0))
    anchors = anchor_rows(frames, fps)
    x265, vvenc = get_backend("x265").settings(), get_backend("vvenc").settings()
    text = "\n".join([
        "## Base layer",
        "",
        f"Measured by `python -m gfvc.baselayer.benchmark` on {time.strftime('%Y-%m-%d', time.gmtime(t0))}: "
        f"{platform.processor() or platform.machine()}, 2-core CPU shared with other jobs (load varied, so "
        "times are indicative only), one encoder thread. Built-in backends: "
        f"static {x265['ffmpeg']} (imageio-ffmpeg 0.8.1), libx265 {x265['encoder_version']} (preset {x265['preset']}), "
        f"libvvenc {vvenc['encoder_version']} (preset {vvenc['preset']}); decoding in-process with PyAV.",
        f"Input: {what}; RGB -> YUV 4:2:0 with bt601_limited. PSNR-Y is against that YUV (8-bit; "
        "vvenc's 10-bit output brought back to 8 bits as in doc/baselayer.md).",
        "",
        "### Key pictures (intra, first frame)",
        "",
        "HEVC QPs end at 51, so x265's top point is QP 51 (the VVC CTC point is QP 52). Times: the faster "
        "of two runs (whole encoder process, incl. start-up); both runs gave identical streams.",
        "",
        "| backend | QP | bytes | PSNR-Y (dB) | encode (s/picture) | decode (ms/picture) |",
        "|---|---|---|---|---|---|",
        *keys,
        "",
        f"### Anchors ({frames.shape[0]} frames at {fps:g} fps)",
        "",
        "One encoder process per sequence; kbps = 8 x bytes / 1000 / seconds.",
        "",
        "| anchor | QP | bytes | kbps | PSNR-Y (dB) | encode (s/picture) | decode (ms/picture) |",
        "|---|---|---|---|---|---|---|",
        *anchors,
        "",
    ])
    if args.out is not None:
        atomic_write_bytes(args.out, text.encode(), inputs=[args.clip], what="--out")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
