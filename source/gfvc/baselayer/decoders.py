"""Independent decoders of HEVC/VVC Annex-B streams, all returning the same picture types.

- ``pyav``: FFmpeg's native hevc/vvc decoders in-process through PyAV (the default; no process
  per picture, single-threaded so that frames come out deterministically),
- ``ffmpeg``: the static ffmpeg of the imageio-ffmpeg wheel, one process per stream, raw output
  in the stream's own pixel format (no conversion inside ffmpeg),
- ``dec265``: libde265's decoder app (HEVC only; Debian package libde265-examples).
High-bit-depth output (VVC from vvenc is 10-bit) is brought to 8 bits by gfvc.baselayer.samples.
"""
from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..io import Yuv420
from .errors import BaseLayerError, MissingBinaryError, PictureFormatError, ToolFailedError
from .ffmpeg_exe import static_ffmpeg
from .interface import DecodeResult, check_picture_count
from .md5 import plane_md5
from .process import run_tool, stderr_tail
from .samples import to_8bit

# pixel format -> (planes are GBR?, chroma subsampling shift, bit depth)
_FORMATS = {
    "yuv420p": (False, 1, 8), "yuv420p10le": (False, 1, 10),
    "gbrp": (True, 0, 8), "gbrp10le": (True, 0, 10),
    "yuv444p": (False, 0, 8), "yuv444p10le": (False, 0, 10),
}
DECODERS = ("pyav", "ffmpeg", "dec265")


@dataclass
class RawPictures:
    """Decoded planes as the decoder produced them: 3 arrays (N, h, w), uint8 or uint16."""

    pix_fmt: str
    planes: list[np.ndarray]

    @property
    def bit_depth(self) -> int:
        return _FORMATS[self.pix_fmt][2]

    def to_output(self):
        """Yuv420 (8-bit) for 4:2:0, (N, H, W, 3) RGB for GBR 4:4:4."""
        gbr, sub, depth = _FORMATS[self.pix_fmt]
        p = [to_8bit(x, depth) for x in self.planes]
        if gbr:
            g, b, r = p
            return np.ascontiguousarray(np.stack([r, g, b], axis=-1))
        if sub != 1:
            raise PictureFormatError(f"decoded pictures are {self.pix_fmt}; only 4:2:0 YUV and GBR 4:4:4 are supported")
        return Yuv420(p[0], p[1], p[2])


def _check_format(pix_fmt: str, tool: str) -> None:
    if pix_fmt not in _FORMATS:
        raise PictureFormatError(f"{tool} decoded pictures in pixel format {pix_fmt!r}, which gfvc does not handle "
                                 f"(supported: {', '.join(_FORMATS)})", tool=tool)


def _split_frames(data: bytes, pix_fmt: str, width: int, height: int) -> list[np.ndarray]:
    gbr, sub, depth = _FORMATS[pix_fmt]
    dt = np.dtype("<u2") if depth > 8 else np.dtype(np.uint8)
    cw, ch = width >> sub, height >> sub
    sizes = [width * height, cw * ch, cw * ch]
    frame = sum(sizes) * dt.itemsize
    if len(data) % frame:
        raise ToolFailedError(f"decoder output of {len(data)} bytes is not a whole number of {width}x{height} "
                              f"{pix_fmt} pictures")
    n = len(data) // frame
    a = np.frombuffer(data, dt).reshape(n, sum(sizes))
    out, off = [], 0
    for (h, w), s in zip(((height, width), (ch, cw), (ch, cw)), sizes):
        out.append(a[:, off:off + s].reshape(n, h, w).astype(np.uint16 if depth > 8 else np.uint8))
        off += s
    return out


def _frame_planes(frame, pix_fmt: str) -> list[np.ndarray]:
    depth = _FORMATS[pix_fmt][2]
    dt = np.dtype("<u2") if depth > 8 else np.dtype(np.uint8)
    planes = []
    for plane in frame.planes:
        w, h = plane.width, plane.height
        a = np.frombuffer(memoryview(plane), dt).reshape(h, plane.line_size // dt.itemsize)[:, :w]
        planes.append(a.astype(np.uint16 if depth > 8 else np.uint8))
    return planes


def decode_pyav(bitstream: bytes, codec: str) -> tuple[RawPictures, float, str]:
    import av

    t0 = time.perf_counter()
    try:
        ctx = av.CodecContext.create(codec, "r")
        ctx.thread_type = "NONE"
        ctx.thread_count = 1
        frames = []
        for packet in ctx.parse(bitstream) + ctx.parse(None):
            frames.extend(ctx.decode(packet))
        frames.extend(ctx.decode(None))
    except (av.error.FFmpegError, ValueError) as e:
        raise ToolFailedError(f"PyAV {codec} decoder failed", tool="pyav", stderr_tail=str(e)) from None
    if not frames:
        raise ToolFailedError(f"PyAV {codec} decoder returned no picture (not a decodable {codec.upper()} stream?)",
                              tool="pyav")
    pix_fmt = frames[0].format.name
    _check_format(pix_fmt, "pyav")
    per_frame = [_frame_planes(f, pix_fmt) for f in frames]
    planes = [np.stack([pf[c] for pf in per_frame]) for c in range(3)]
    return RawPictures(pix_fmt, planes), time.perf_counter() - t0, f"PyAV {av.__version__} ({codec} decoder, in-process)"


_STREAM_FMT = re.compile(r"Stream #0:0.*?Video: rawvideo[^,]*, (\w+)")


def decode_ffmpeg(bitstream: bytes, codec: str, ffmpeg: str, workdir: Path) -> tuple[RawPictures, float, str]:
    src = workdir / f"stream.{'265' if codec == 'hevc' else '266'}"
    src.write_bytes(bitstream)
    cmd = [ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "info", "-threads", "1", "-f", codec, "-i", str(src),
           "-map", "0:v:0", "-f", "rawvideo", "pipe:1"]
    run = run_tool(cmd, tool="ffmpeg", what=f"{codec} decode")
    m = _STREAM_FMT.search(run.stderr.decode("utf-8", "replace"))
    if not m:
        raise ToolFailedError("ffmpeg did not report the decoded pixel format", tool="ffmpeg",
                              stderr_tail=stderr_tail(run.stderr))
    pix_fmt = m.group(1)
    _check_format(pix_fmt, "ffmpeg")
    size = re.search(r"rawvideo[^\n]*?, (\d+)x(\d+)", run.stderr.decode("utf-8", "replace"))
    width, height = int(size.group(1)), int(size.group(2))
    return RawPictures(pix_fmt, _split_frames(run.stdout, pix_fmt, width, height)), run.seconds, run.command


def find_dec265() -> str | None:
    for name in (os.environ.get("GFVC_DEC265"), "dec265", "libde265-dec265"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def decode_dec265(bitstream: bytes, width: int, height: int, workdir: Path) -> tuple[RawPictures, float, str]:
    exe = find_dec265()
    if exe is None:
        raise MissingBinaryError("dec265 not found: install Debian package libde265-examples or set GFVC_DEC265",
                                 tool="dec265")
    src, out = workdir / "stream.265", workdir / "dec265.yuv"
    src.write_bytes(bitstream)
    run = run_tool([exe, "-q", "-t", "0", "-o", str(out), str(src)], tool="dec265", what="decode")
    data = out.read_bytes() if out.exists() else b""
    if not data:
        raise ToolFailedError("dec265 wrote no pictures", tool="dec265", stderr_tail=stderr_tail(run.stderr))
    # dec265 writes 8-bit 4:2:0 planar for Main-profile streams (the only kind it is used for here).
    return RawPictures("yuv420p", _split_frames(data, "yuv420p", width, height)), run.seconds, run.command


def decode_stream(bitstream: bytes, codec: str, decoder: str = "pyav", *, width: int | None = None,
                  height: int | None = None, expected_frames: int | None = None,
                  ffmpeg: str | None = None) -> DecodeResult:
    """Decode an Annex-B stream with one of DECODERS; check size and picture count when given."""
    if decoder not in DECODERS:
        raise ValueError(f"unknown decoder {decoder!r}; choose one of {', '.join(DECODERS)}")
    if not bitstream:
        raise BaseLayerError("empty bitstream: nothing to decode", tool=decoder)
    with tempfile.TemporaryDirectory(prefix="gfvc-dec-") as tmp:
        if decoder == "pyav":
            raw, seconds, command = decode_pyav(bitstream, codec)
        elif decoder == "ffmpeg":
            if ffmpeg is None:
                ffmpeg = static_ffmpeg()
            raw, seconds, command = decode_ffmpeg(bitstream, codec, ffmpeg, Path(tmp))
        else:
            if codec != "hevc":
                raise BaseLayerError("dec265 decodes HEVC only", tool="dec265")
            if width is None or height is None:
                raise ValueError("dec265 needs the picture width and height")
            raw, seconds, command = decode_dec265(bitstream, width, height, Path(tmp))
    pictures = raw.to_output()
    n = pictures.shape[0] if isinstance(pictures, np.ndarray) else pictures.num_frames
    check_picture_count(n, expected_frames, decoder)
    got_w = pictures.shape[2] if isinstance(pictures, np.ndarray) else pictures.width
    got_h = pictures.shape[1] if isinstance(pictures, np.ndarray) else pictures.height
    if width is not None and height is not None and (got_w, got_h) != (width, height):
        raise PictureFormatError(f"{decoder} decoded {got_w}x{got_h} pictures, expected {width}x{height}", tool=decoder)
    native = None
    if raw.bit_depth > 8:
        native = [",".join(plane_md5(p[i]) for p in raw.planes) for i in range(raw.planes[0].shape[0])]
    return DecodeResult(pictures, seconds, command, decoder, raw.bit_depth, native)
