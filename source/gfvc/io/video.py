"""Container video (mp4, avi, ...) decoding through PyAV, in-process."""
from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from .errors import SequenceError


@dataclass
class DecodedVideo:
    frames: np.ndarray  # (N, H, W, 3) uint8 RGB
    fps: Fraction
    codec: str


def read_video(path: str | os.PathLike, max_frames: int | None = None) -> DecodedVideo:
    """Decode the first video stream of a container file to RGB24 frames.

    Raises SequenceError (naming the file) when the file is missing, has no video stream or
    cannot be decoded.
    """
    import av

    if not os.path.exists(path):
        raise SequenceError(f"{path}: no such file")
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise SequenceError(f"{path}: no video stream")
            stream = container.streams.video[0]
            stream.thread_type = "NONE"  # frame-exact and deterministic
            fps = stream.average_rate or stream.guessed_rate
            frames = []
            for frame in container.decode(stream):
                frames.append(frame.to_ndarray(format="rgb24"))
                if max_frames is not None and len(frames) >= max_frames:
                    break
            codec = stream.codec_context.name
    except SequenceError:
        raise
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError) as e:
        raise SequenceError(f"{path}: cannot decode video ({e})") from None
    if not frames:
        raise SequenceError(f"{path}: the video stream holds no decodable frame")
    return DecodedVideo(np.stack(frames), Fraction(fps) if fps else Fraction(0), codec)
