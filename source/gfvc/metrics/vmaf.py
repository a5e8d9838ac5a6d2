"""VMAF (model vmaf_v0.6.1) through the libvmaf filter of the pinned static ffmpeg.

Both sequences are converted to YUV 4:2:0 with ``gfvc.io.rgb_to_yuv420`` (the matrix option,
default bt601_limited), written as raw 8-bit files into a temporary folder and compared by
``ffmpeg ... -lavfi [dis][ref]libvmaf=model=version=vmaf_v0.6.1`` (libvmaf takes the distorted
picture first). Per-picture scores come from libvmaf's JSON log.
"""
from __future__ import annotations

import json
import subprocess
import tempfile
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..io.colour import DEFAULT_MATRIX, rgb_to_yuv420
from .base import Metric, MetricError, MetricUnavailable, batches, register_metric
from .psnr import checked_matrix
from .weights import sha256_file

VMAF_MODEL = "vmaf_v0.6.1"


def ffmpeg_executable() -> Path | None:
    try:
        import imageio_ffmpeg

        return Path(imageio_ffmpeg.get_ffmpeg_exe())
    except Exception:  # wheel missing or its binary absent on this platform
        return None


@lru_cache(maxsize=4)
def _has_libvmaf(ffmpeg: str) -> bool:
    try:
        out = subprocess.run([ffmpeg, "-hide_banner", "-filters"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return any(line.split()[1:2] == ["libvmaf"] for line in out.stdout.splitlines() if line.strip())


def _write_yuv420(path: Path, rgb: np.ndarray, matrix: str, chunk: int = 16) -> None:
    with open(path, "wb") as f:
        for s in batches(rgb.shape[0], chunk):  # chunks keep the float64 conversion small
            y, u, v = rgb_to_yuv420(rgb[s], matrix)
            for i in range(y.shape[0]):
                f.write(y[i].tobytes())
                f.write(u[i].tobytes())
                f.write(v[i].tobytes())


@register_metric("vmaf")
class Vmaf(Metric):
    name = "vmaf"
    higher_is_better = True
    colour_space = "yuv420"

    def __init__(self, matrix: str = DEFAULT_MATRIX, threads: int = 2, ffmpeg: str | None = None):
        self.matrix = checked_matrix(matrix)
        self.threads = int(threads)
        self.ffmpeg = Path(ffmpeg) if ffmpeg else ffmpeg_executable()

    def availability(self):
        if self.ffmpeg is None or not self.ffmpeg.is_file():
            return False, "the static ffmpeg of imageio-ffmpeg is not installed"
        if not _has_libvmaf(str(self.ffmpeg)):
            return False, f"{self.ffmpeg} has no libvmaf filter"
        return True, None

    def weights_info(self) -> dict:
        ok, _ = self.availability()
        if not ok:
            return {}
        # The model is compiled into the ffmpeg binary, so the binary's hash identifies it.
        return {"vmaf_model": {"path": f"{self.ffmpeg} (built-in {VMAF_MODEL})", "sha256": sha256_file(self.ffmpeg)}}

    def _per_picture(self, reference, distorted):
        n, h, w, _ = reference.shape
        if h % 2 or w % 2:
            raise MetricError(f"vmaf: 4:2:0 needs even picture sizes, got {w}x{h}")
        with tempfile.TemporaryDirectory(prefix="gfvc_vmaf_") as tmp:
            tmp = Path(tmp)
            _write_yuv420(tmp / "ref.yuv", reference, self.matrix)
            _write_yuv420(tmp / "dis.yuv", distorted, self.matrix)
            raw = ["-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", f"{w}x{h}", "-r", "25"]
            cmd = [str(self.ffmpeg), "-nostdin", "-hide_banner", "-loglevel", "error",
                   *raw, "-i", "dis.yuv", *raw, "-i", "ref.yuv",
                   "-lavfi", f"[0:v][1:v]libvmaf=model=version={VMAF_MODEL}:log_fmt=json:log_path=vmaf.json"
                             f":n_threads={self.threads}",
                   "-f", "null", "-"]
            run = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True)
            if run.returncode != 0:
                tail = run.stderr.strip().splitlines()[-1:] or ["no message"]
                raise MetricUnavailable(f"vmaf: ffmpeg failed ({run.returncode}): {tail[0]}")
            log = json.loads((tmp / "vmaf.json").read_text())
        frames = sorted(log["frames"], key=lambda f: f["frameNum"])
        if len(frames) != n:
            raise MetricUnavailable(f"vmaf: libvmaf scored {len(frames)} pictures, expected {n}")
        return np.array([f["metrics"]["vmaf"] for f in frames], dtype=np.float64)
