"""The one interface every base-layer backend implements, and the checks they all share.

Pictures in: a :class:`gfvc.io.Yuv420` (8-bit 4:2:0) or, where a backend supports it, an
(N, H, W, 3) uint8 RGB array (coded as GBR 4:4:4). Pictures out: the same kind, 8-bit.
Structures:
- ``intra``: every picture an IRAP picture (key pictures of GFVC),
- ``lowdelay_B``: one intra picture, then B pictures that reference earlier pictures only
  (VTM/HM low-delay B, the GFVC CTC's VVC anchor and HDAC base layer),
- ``lowdelay_P``: the same with P pictures.
Decoding order equals output order in all three, so per-picture byte counts and decoded
pictures line up index by index.
"""
from __future__ import annotations

import numbers
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Union

import numpy as np

from ..io import Yuv420
from .errors import PictureCountError, PictureFormatError, UnsupportedStructureError

STRUCTURES = ("intra", "lowdelay_B", "lowdelay_P")

Pictures = Union[Yuv420, np.ndarray]


@dataclass
class EncodeResult:
    bitstream: bytes  # the Annex-B byte stream
    bytes_per_picture: list[int]  # access-unit sizes in decoding (= output) order; sum = len(bitstream)
    seconds: float  # wall time of the encoder
    command: str  # the exact command line (or settings) used
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def num_pictures(self) -> int:
        return len(self.bytes_per_picture)


@dataclass
class DecodeResult:
    pictures: Pictures  # Yuv420 (8-bit) for 4:2:0 streams, (N, H, W, 3) uint8 RGB for GBR 4:4:4 streams
    seconds: float
    command: str  # the decoder command line, or the in-process decoder used
    decoder: str = ""  # 'pyav', 'ffmpeg', 'dec265', 'TAppDecoder', ...
    bit_depth: int = 8  # bit depth of the decoded stream (before conversion to 8-bit output)
    # HM-style MD5 of each picture at the stream's own bit depth (what HM/VTM print for a
    # 10-bit stream); None when the stream is 8-bit (then it equals the output's MD5).
    native_md5: list[str] | None = None

    @property
    def num_pictures(self) -> int:
        return picture_count(self.pictures)


def picture_count(pictures: Pictures) -> int:
    return pictures.shape[0] if isinstance(pictures, np.ndarray) else pictures.num_frames


def picture_size(pictures: Pictures) -> tuple[int, int]:
    """(width, height)"""
    if isinstance(pictures, np.ndarray):
        return pictures.shape[2], pictures.shape[1]
    return pictures.width, pictures.height


def is_rgb(pictures: Pictures) -> bool:
    return isinstance(pictures, np.ndarray)


def check_pictures(pictures: Pictures, tool: str, rgb_ok: bool) -> None:
    """Raise PictureFormatError unless ``pictures`` is codable: uint8, even size, >= 1 picture."""
    if isinstance(pictures, np.ndarray):
        if not rgb_ok:
            raise PictureFormatError(f"{tool} codes YUV 4:2:0 only; convert RGB with gfvc.io.rgb_to_yuv420 first",
                                     tool=tool)
        if pictures.dtype != np.uint8 or pictures.ndim != 4 or pictures.shape[-1] != 3:
            raise PictureFormatError(f"{tool}: RGB pictures must be (N, H, W, 3) uint8, got "
                                     f"{pictures.dtype} {pictures.shape}", tool=tool)
        planes = (pictures,)
    elif isinstance(pictures, Yuv420):
        planes = (pictures.y, pictures.u, pictures.v)
        if any(p.dtype != np.uint8 for p in planes):
            raise PictureFormatError(f"{tool}: YUV pictures must be 8-bit (uint8)", tool=tool)
    else:
        raise PictureFormatError(f"{tool}: expected gfvc.io.Yuv420 or an RGB array, got {type(pictures).__name__}",
                                 tool=tool)
    n = picture_count(pictures)
    w, h = picture_size(pictures)
    if n < 1:
        raise PictureFormatError(f"{tool}: no pictures to encode", tool=tool)
    if w % 2 or h % 2 or w < 8 or h < 8:
        raise PictureFormatError(f"{tool}: picture size {w}x{h} is not codable; width and height must be even "
                                 f"and at least 8 (4:2:0 sampling and the codecs' minimum CU size)", tool=tool)


def check_qp(qp: Any, qp_max: int, codec_name: str) -> int:
    """The QP as int; ValueError for non-integers and values outside 0..qp_max."""
    if isinstance(qp, bool) or not isinstance(qp, numbers.Integral):
        raise ValueError(f"{codec_name} QP must be an integer, got {qp!r}")
    qp = int(qp)
    if not 0 <= qp <= qp_max:
        raise ValueError(f"{codec_name} QP {qp} is outside 0..{qp_max}")
    return qp


def check_picture_count(got: int, expected: int | None, tool: str, what: str = "decoder") -> None:
    if expected is not None and got != expected:
        raise PictureCountError(f"{tool} {what} returned {got} pictures, expected {expected}", tool=tool)


class Backend(ABC):
    """A base-layer codec: encode pictures at a QP in a structure, decode its Annex-B stream."""

    name: str = ""
    codec: str = ""  # 'hevc' or 'vvc'
    structures: tuple[str, ...] = ()
    qp_max: int = 51
    rgb_ok: bool = False  # codes RGB 4:4:4 (as GBR) besides YUV 4:2:0

    def encode(self, pictures: Pictures, qp: int, structure: str, fps: float = 25,
               intra_qp: int | None = None) -> EncodeResult:
        """``intra_qp``: the QP of the first (intra) picture when it differs from ``qp`` (HDAC codes
        its key picture as the base layer's IRAP at the key QP); None: every picture at ``qp``."""
        self.check_structure(structure)
        qp = check_qp(qp, self.qp_max, self.codec.upper())
        if intra_qp is not None:
            intra_qp = check_qp(intra_qp, self.qp_max, self.codec.upper())
            if intra_qp == qp:
                intra_qp = None
        check_pictures(pictures, self.name, self.rgb_ok)
        if not fps or fps <= 0:
            raise ValueError(f"{self.name}: frame rate must be positive, got {fps!r}")
        result = self._encode(pictures, qp, structure, fps) if intra_qp is None else \
            self._encode(pictures, qp, structure, fps, intra_qp=intra_qp)
        check_picture_count(result.num_pictures, picture_count(pictures), self.name, "encoder")
        return result

    def check_structure(self, structure: str) -> None:
        if structure not in self.structures:
            hint = "" if structure in STRUCTURES else f" (known structures: {', '.join(STRUCTURES)})"
            raise UnsupportedStructureError(
                f"{self.name} cannot code structure {structure!r}; it codes {', '.join(self.structures)}{hint}",
                tool=self.name)

    @abstractmethod
    def _encode(self, pictures: Pictures, qp: int, structure: str, fps: float) -> EncodeResult: ...

    @abstractmethod
    def decode(self, bitstream: bytes, width: int, height: int, expected_frames: int | None = None) -> DecodeResult:
        """Decode with this backend's decoder (never the encoder's reconstruction)."""

    @abstractmethod
    def settings(self) -> dict[str, Any]:
        """Everything besides pictures, QP and structure that determines the bitstream."""
