"""Raw sequence files: 8-bit planar RGB 4:4:4 (.rgb) and YUV 4:2:0 (.yuv), JVET file names.

Frame layouts (one frame after another, no header):
- ``.rgb``: the R plane, then G, then B, each H x W bytes (what the GFVC CTC sequences use).
- ``.yuv``: I420: Y (H x W), then U and V (H/2 x W/2 each).
In memory: RGB frames are ``(N, H, W, 3)`` uint8 arrays; YUV 4:2:0 is a :class:`Yuv420`.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import FileProblem
from ..files import atomic_write_bytes  # noqa: F401 - re-exported by gfvc.io
from ..files import check_input_file
from .errors import SequenceError, SequenceFileError

# {NAME}_{W}x{H}_{FPS}_{BITS}bit_{444|420}.{rgb|yuv}; NAME may itself contain underscores.
_JVET_NAME = re.compile(
    r"^(?P<name>.+)_(?P<width>\d+)x(?P<height>\d+)_(?P<fps>\d+(?:\.\d+)?)_(?P<bits>\d+)bit_(?P<chroma>444|420)\.(?P<ext>rgb|yuv)$"
)


@dataclass(frozen=True)
class SequenceName:
    """The fields of a JVET sequence file name."""

    name: str
    width: int
    height: int
    fps: float
    bit_depth: int
    chroma_format: str  # "444" or "420"
    ext: str  # "rgb" or "yuv"

    @property
    def frame_bytes(self) -> int:
        return frame_size_bytes(self.width, self.height, self.chroma_format, self.bit_depth)

    def filename(self) -> str:
        fps = int(self.fps) if float(self.fps).is_integer() else self.fps
        return f"{self.name}_{self.width}x{self.height}_{fps}_{self.bit_depth}bit_{self.chroma_format}.{self.ext}"


def parse_jvet_name(path: str | os.PathLike) -> SequenceName:
    """Parse ``{NAME}_{W}x{H}_{FPS}_{BITS}bit_{444|420}.{rgb|yuv}``; raise SequenceError otherwise."""
    base = Path(path).name
    m = _JVET_NAME.match(base)
    if not m:
        raise SequenceError(
            f"{path}: not a JVET sequence name (expected NAME_WxH_FPS_BITSbit_444|420.rgb|yuv)"
        )
    seq = SequenceName(
        name=m["name"], width=int(m["width"]), height=int(m["height"]), fps=float(m["fps"]),
        bit_depth=int(m["bits"]), chroma_format=m["chroma"], ext=m["ext"],
    )
    if (seq.ext, seq.chroma_format) not in {("rgb", "444"), ("yuv", "420"), ("yuv", "444")}:
        raise SequenceError(f"{path}: .{seq.ext} files with {seq.chroma_format} sampling are not supported")
    if seq.bit_depth != 8:
        raise SequenceError(f"{path}: only 8-bit sequences are supported, the name says {seq.bit_depth}-bit")
    if seq.width <= 0 or seq.height <= 0:
        raise SequenceError(f"{path}: width and height must be positive")
    return seq


def frame_size_bytes(width: int, height: int, chroma_format: str = "444", bit_depth: int = 8) -> int:
    bps = 1 if bit_depth <= 8 else 2
    if chroma_format == "444":
        return 3 * width * height * bps
    if chroma_format == "420":
        return (width * height + 2 * (width // 2) * (height // 2)) * bps
    raise ValueError(f"unsupported chroma format {chroma_format!r}")


def _check_picture_size(path, width: int, height: int) -> None:
    for what, value in (("width", width), ("height", height)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
            raise SequenceError(f"{path}: {what} must be a positive integer, got {value!r}")


def sequence_file_size(path: str | os.PathLike) -> int:
    """Size in bytes of a sequence file that must be a regular file: a missing path, a directory,
    a FIFO or a device is a SequenceFileError that says which (never "empty" or "4096 bytes")."""
    try:
        return os.stat(check_input_file(path, "sequence file")).st_size
    except FileProblem as e:
        raise SequenceFileError(str(e)) from None


def count_frames(path: str | os.PathLike, width: int, height: int, chroma_format: str) -> int:
    """Number of whole frames in a raw file; a partial trailing frame is an error."""
    _check_picture_size(path, width, height)
    size = sequence_file_size(path)
    fb = frame_size_bytes(width, height, chroma_format)
    if size == 0:
        raise SequenceError(f"{path}: file is empty")
    if size % fb:
        raise SequenceError(
            f"{path}: size {size} bytes is not a whole number of {width}x{height} {chroma_format} frames "
            f"({fb} bytes each; {size // fb} whole frames + {size % fb} bytes) - truncated file or wrong size?"
        )
    return size // fb


def _check_request(path, available: int, start: int, num_frames: int | None) -> int:
    if start < 0:
        raise SequenceError(f"{path}: start frame {start} is negative")
    if start >= available:
        raise SequenceError(f"{path}: start frame {start} is outside the file's {available} frames")
    if num_frames is None:
        return available - start
    if num_frames <= 0:
        raise SequenceError(f"{path}: asked for {num_frames} frames")
    if start + num_frames > available:
        raise SequenceError(
            f"{path}: asked for frames {start}..{start + num_frames - 1} but the file holds {available} frames"
        )
    return num_frames


def _read_frames(path, offset: int, length: int) -> bytes:
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            data = f.read(length)
    except OSError as e:
        raise SequenceFileError(f"{path}: cannot read ({e.strerror or e})") from None
    if len(data) != length:
        raise SequenceError(f"{path}: the file shrank while it was read ({len(data)} of {length} bytes)")
    return data


def read_rgb(path: str | os.PathLike, width: int, height: int, num_frames: int | None = None,
             start: int = 0) -> np.ndarray:
    """Read planar RGB 4:4:4 frames -> (N, H, W, 3) uint8."""
    available = count_frames(path, width, height, "444")
    n = _check_request(path, available, start, num_frames)
    fb = frame_size_bytes(width, height, "444")
    data = _read_frames(path, start * fb, n * fb)
    planes = np.frombuffer(data, np.uint8).reshape(n, 3, height, width)
    return np.ascontiguousarray(planes.transpose(0, 2, 3, 1))


@dataclass
class Yuv420:
    """YUV 4:2:0 frames: y (N, H, W), u and v (N, H/2, W/2), uint8."""

    y: np.ndarray
    u: np.ndarray
    v: np.ndarray

    def __post_init__(self):
        if self.y.ndim == 2:
            self.y, self.u, self.v = self.y[None], self.u[None], self.v[None]
        n, h, w = self.y.shape
        if self.u.shape != (n, h // 2, w // 2) or self.v.shape != (n, h // 2, w // 2):
            raise ValueError(f"chroma {self.u.shape}/{self.v.shape} does not fit luma {self.y.shape} for 4:2:0")

    @property
    def num_frames(self) -> int:
        return self.y.shape[0]

    @property
    def width(self) -> int:
        return self.y.shape[2]

    @property
    def height(self) -> int:
        return self.y.shape[1]

    def frame(self, i: int) -> "Yuv420":
        return Yuv420(self.y[i:i + 1], self.u[i:i + 1], self.v[i:i + 1])

    def frame_bytes(self, i: int) -> bytes:
        """One frame in I420 file order (Y, U, V)."""
        return self.y[i].tobytes() + self.u[i].tobytes() + self.v[i].tobytes()

    def tobytes(self) -> bytes:
        return b"".join(self.frame_bytes(i) for i in range(self.num_frames))

    @classmethod
    def frombuffer(cls, data: bytes, width: int, height: int) -> "Yuv420":
        fb = frame_size_bytes(width, height, "420")
        if len(data) % fb:
            raise SequenceError(f"{len(data)} bytes are not a whole number of {width}x{height} 4:2:0 frames")
        n = len(data) // fb
        a = np.frombuffer(data, np.uint8).reshape(n, fb)
        ys, cs = width * height, (width // 2) * (height // 2)
        return cls(a[:, :ys].reshape(n, height, width).copy(),
                   a[:, ys:ys + cs].reshape(n, height // 2, width // 2).copy(),
                   a[:, ys + cs:].reshape(n, height // 2, width // 2).copy())


def read_yuv420(path: str | os.PathLike, width: int, height: int, num_frames: int | None = None,
                start: int = 0) -> Yuv420:
    available = count_frames(path, width, height, "420")
    n = _check_request(path, available, start, num_frames)
    fb = frame_size_bytes(width, height, "420")
    data = _read_frames(path, start * fb, n * fb)
    return Yuv420.frombuffer(data, width, height)


def rgb_to_planar_bytes(frames: np.ndarray) -> bytes:
    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"expected (N, H, W, 3) uint8 frames, got {frames.dtype} {frames.shape}")
    return np.ascontiguousarray(frames.transpose(0, 3, 1, 2)).tobytes()


def write_rgb(path: str | os.PathLike, frames: np.ndarray) -> None:
    """Write (N, H, W, 3) uint8 frames as planar RGB 4:4:4 (atomically)."""
    atomic_write_bytes(path, rgb_to_planar_bytes(frames))


def write_yuv420(path: str | os.PathLike, yuv: Yuv420) -> None:
    atomic_write_bytes(path, yuv.tobytes())


def read_sequence(path: str | os.PathLike, num_frames: int | None = None, start: int = 0,
                  width: int | None = None, height: int | None = None) -> np.ndarray:
    """Read a JVET-named .rgb (or .yuv 4:2:0, converted with BT.601 limited) file -> RGB frames.

    ``width``/``height``, when given, must agree with the name: a mismatch is an error that
    names the file.
    """
    seq = parse_jvet_name(path)
    for what, want, got in (("width", width, seq.width), ("height", height, seq.height)):
        if want is not None and want != got:
            raise SequenceError(f"{path}: expected {what} {want}, the file name says {got}")
    if seq.ext == "rgb":
        return read_rgb(path, seq.width, seq.height, num_frames, start)
    from .colour import yuv420_to_rgb

    yuv = read_yuv420(path, seq.width, seq.height, num_frames, start)
    return yuv420_to_rgb(yuv.y, yuv.u, yuv.v)
