"""Container video (mp4, avi, ...) decoding through PyAV, in-process."""
from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from ..errors import FileProblem
from ..files import check_input_file
from .errors import SequenceError, SequenceFileError


@dataclass
class DecodedVideo:
    frames: np.ndarray  # (N, H, W, 3) uint8 RGB
    fps: Fraction
    codec: str


@dataclass
class VideoInfo:
    width: int
    height: int
    fps: Fraction
    codec: str
    pix_fmt: str


@contextmanager
def _first_video_stream(path: str | os.PathLike):
    """Open ``path`` and yield ``(container, stream, fps)`` of its first video stream.

    Decoding is single-threaded (frame-exact and deterministic). Any PyAV/FFmpeg failure, in
    opening or in the decoding done inside the ``with`` block, becomes a SequenceError that
    names the file.
    """
    import av

    try:
        check_input_file(path, "video file")  # a FIFO would block the demuxer; a folder is no video
    except FileProblem as e:
        raise SequenceFileError(str(e)) from None
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise SequenceError(f"{path}: no video stream")
            stream = container.streams.video[0]
            stream.thread_type = "NONE"
            rate = stream.average_rate or stream.guessed_rate
            yield container, stream, Fraction(rate) if rate else Fraction(0)
    except SequenceError:
        raise
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError) as e:
        raise SequenceError(f"{path}: cannot decode video ({e})") from None


def read_video(path: str | os.PathLike, max_frames: int | None = None) -> DecodedVideo:
    """Decode the first video stream of a container file to RGB24 frames.

    Raises SequenceError (naming the file) when the file is missing, has no video stream or
    cannot be decoded.
    """
    frames = []
    with _first_video_stream(path) as (container, stream, fps):
        for frame in container.decode(stream):
            frames.append(frame.to_ndarray(format="rgb24"))
            if max_frames is not None and len(frames) >= max_frames:
                break
        codec = stream.codec_context.name
    if not frames:
        raise SequenceError(f"{path}: the video stream holds no decodable frame")
    return DecodedVideo(np.stack(frames), fps, codec)


def iter_yuv420_frames(path: str | os.PathLike):
    """Decode the first video stream to its own 8-bit 4:2:0 planes, in display order.

    Yields ``(info, y, u, v)`` with uint8 planes (H, W), (H/2, W/2) x2. Unlike
    :func:`read_video`, no pixel-format conversion happens inside FFmpeg (whose swscale picks
    CPU-specific code): callers convert to RGB with :mod:`gfvc.io.colour`, so the result is the
    same bytes on every machine. Single-threaded decoding keeps frame order and bytes fixed.
    Raises SequenceError (naming the file) for a missing, undecodable or non-4:2:0 video.
    """
    with _first_video_stream(path) as (container, stream, fps):
        info = None
        for frame in container.decode(stream):
            if frame.format.name not in ("yuv420p", "yuvj420p"):
                raise SequenceError(f"{path}: decodes to {frame.format.name}, expected 8-bit 4:2:0")
            if info is None:
                info = VideoInfo(frame.width, frame.height, fps, stream.codec_context.name, frame.format.name)
            planes = []
            for p in frame.planes:
                rows = np.frombuffer(p, np.uint8).reshape(p.height, p.line_size)
                planes.append(rows[:, :p.width].copy())
            yield info, planes[0], planes[1], planes[2]
