"""The static ffmpeg executable of the pinned imageio-ffmpeg wheel, found in one place.

Both the encoders (gfvc.baselayer.ffmpeg) and the decoders (gfvc.baselayer.decoders) need it;
keeping it here lets each of them import it without importing the other.
"""
from __future__ import annotations

import functools
import subprocess

from .errors import MissingBinaryError


def static_ffmpeg() -> str:
    """Path of the static ffmpeg shipped in the pinned imageio-ffmpeg wheel."""
    try:
        import imageio_ffmpeg
    except ImportError:
        raise MissingBinaryError("the built-in backends need the imageio-ffmpeg wheel (pip install "
                                 "-c constraints.txt imageio-ffmpeg==0.8.1)", tool="ffmpeg") from None
    try:
        return imageio_ffmpeg.get_ffmpeg_exe()
    except RuntimeError as e:
        raise MissingBinaryError(f"imageio-ffmpeg has no ffmpeg executable: {e}", tool="ffmpeg") from None


@functools.lru_cache(maxsize=None)
def ffmpeg_version(ffmpeg: str) -> str:
    """First line of ``ffmpeg -version`` (names the build, hence the x265/vvenc inside)."""
    out = subprocess.run([ffmpeg, "-hide_banner", "-version"], capture_output=True, check=False).stdout
    return out.decode("utf-8", "replace").splitlines()[0].split(" Copyright")[0].strip() if out else "unknown"
