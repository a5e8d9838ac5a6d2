"""gfvc.baselayer: the HEVC/VVC codecs that code key pictures, HDAC base layers and anchors.

One interface (:class:`Backend`): ``encode(pictures, qp, structure, fps)`` -> EncodeResult
(Annex-B bytes, bytes per picture, time, command), ``decode(bitstream, width, height,
expected_frames)`` -> DecodeResult (pictures from a real decoder). Backends:
``x265`` and ``vvenc`` (built in: the static ffmpeg of the pinned imageio-ffmpeg wheel),
``hm`` and ``vtm`` (the JVET reference apps, binaries supplied by the user).
"""
from __future__ import annotations

from .errors import (
    BaseLayerError, MissingBinaryError, PictureCountError, PictureFormatError, StreamTruncatedError, ToolFailedError,
    UnsupportedStructureError,
)
from .interface import STRUCTURES, Backend, DecodeResult, EncodeResult
from .md5 import hm_md5_line, picture_md5, picture_md5_list

BACKENDS = ("x265", "vvenc", "hm", "vtm")
#: the backend each codec uses when none is named
DEFAULT_BACKEND = {"hevc": "x265", "vvc": "vvenc"}


def get_backend(name: str, **options) -> Backend:
    """A backend by name: 'x265', 'vvenc' (built in), 'hm', 'vtm' (JVET reference apps)."""
    if name == "x265":
        from .ffmpeg import X265Backend

        return X265Backend(**options)
    if name == "vvenc":
        from .ffmpeg import VvencBackend

        return VvencBackend(**options)
    if name == "hm":
        from .jvet import HMBackend

        return HMBackend(**options)
    if name == "vtm":
        from .jvet import VTMBackend

        return VTMBackend(**options)
    raise ValueError(f"unknown base-layer backend {name!r}; choose one of {', '.join(BACKENDS)}")


__all__ = [
    "BACKENDS", "DEFAULT_BACKEND", "STRUCTURES", "Backend", "BaseLayerError", "DecodeResult", "EncodeResult",
    "MissingBinaryError", "PictureCountError", "PictureFormatError", "StreamTruncatedError", "ToolFailedError", "UnsupportedStructureError",
    "get_backend", "hm_md5_line", "picture_md5", "picture_md5_list",
]
