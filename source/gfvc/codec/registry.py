"""The codec interface of the CTC harness and the registry that maps a codec name to it.

A *sequence codec* takes the RGB frames of one sequence and one rate point and returns the
single Annex-B bitstream, the pictures a decoder produced from that bitstream, and its own
metadata. Conventional anchors (``hevc_anchor``, ``vvc_anchor``) and every GFVC codec
implement it, so the CTC runner (gfvc.ctc) never needs to know which kind it is running.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np


@dataclass
class CodingResult:
    """What one sequence x rate-point coding produced."""

    bitstream: bytes  # the one Annex-B file a decoder gets
    decoded: np.ndarray  # (N, H, W, 3) uint8 RGB, from the DECODER's output, never the encoder's recon
    metadata: dict[str, Any] = field(default_factory=dict)  # JSON-serialisable: settings, commands, rate breakdown
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage: 'encode', 'decode', ...
    decoded_yuv: Any = None  # optional gfvc.io.Yuv420 when the codec works in YUV 4:2:0 (YUV metrics use it)


class SequenceCodec(ABC):
    """One codec of the harness. Instances are cheap; heavy state (models) loads lazily."""

    #: registry name, e.g. "hevc_anchor"
    name: str = ""
    #: the rate points the CTC uses when the config names none (e.g. QPs)
    default_rate_points: tuple = ()

    @abstractmethod
    def settings(self) -> dict[str, Any]:
        """Everything (besides the input and the rate point) that determines the result.

        JSON-serialisable; the CTC hashes it into the cell digest, so changing any of it redoes
        exactly the affected cells.
        """

    def validate_rate_point(self, rate_point: Any) -> None:
        """Raise ValueError with a clear message when ``rate_point`` is not valid for this codec."""

    @abstractmethod
    def code(self, frames: np.ndarray, fps: float, rate_point: Any, workdir: Path) -> CodingResult:
        """Encode ``frames`` ((N, H, W, 3) uint8 RGB) at ``rate_point``, decode the bitstream, return both."""


_REGISTRY: dict[str, Callable[..., SequenceCodec]] = {}


def register_codec(name: str):
    """Class/factory decorator: ``@register_codec("hevc_anchor")``."""

    def deco(factory):
        if name in _REGISTRY and _REGISTRY[name] is not factory:
            raise ValueError(f"codec {name!r} registered twice")
        _REGISTRY[name] = factory
        return factory

    return deco


def _load_builtin_codecs() -> None:
    # Importing these modules registers their codecs. Kept lazy so that importing the registry
    # does not pull in torch or the base-layer backends.
    import importlib

    for mod in ("gfvc.codec.anchors", "gfvc.codec.face_codecs"):
        try:
            importlib.import_module(mod)
        except ModuleNotFoundError as e:
            if e.name != mod:
                raise


def available_codecs() -> list[str]:
    _load_builtin_codecs()
    return sorted(_REGISTRY)


def get_codec(name: str, **options) -> SequenceCodec:
    _load_builtin_codecs()
    try:
        factory = _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown codec {name!r}; available: {', '.join(sorted(_REGISTRY)) or 'none'}") from None
    return factory(**options)
