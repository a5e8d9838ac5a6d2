"""The trivial baseline of a GFVC codec: its key pictures, coded the same way, each repeated until
the next one; no face parameters at all.

A GFVC model is only worth its parameter bits if its pictures beat this baseline at equal or lower
rate: repeating a key picture is what a decoder could show with the base layer alone. The baseline
codes each key picture exactly as :class:`gfvc.codec.encoder.GfvcEncoder` does (the same backend,
key-picture colour format and intra coding at the key QP), so at a GFVC codec's own key QP its bytes
are that stream's base-layer bytes (key-picture VCL + parameter sets) and its pictures are the
GFVC decoder's key pictures; at other QPs it fills the rate axis between them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Sequence

import numpy as np

from .encoder import base_layer_backend, code_base_layer
from .settings import GfvcSettings


@dataclass
class RepeatKeyResult:
    pictures: np.ndarray       # (N, H, W, 3) uint8: each key picture repeated until the next one
    key_pictures: List[int]
    bytes: int                 # the base-layer bytes of the key pictures: the whole rate


def hold_key_pictures(pictures: np.ndarray, key_pictures: Sequence[int]) -> np.ndarray:
    """Output picture i = decoded key picture max{k <= i} (the first picture is always a key picture)."""
    keys = sorted(set(int(k) for k in key_pictures))
    if not keys or keys[0] != 0:
        raise ValueError("the first picture must be a key picture")
    index = np.searchsorted(np.asarray(keys), np.arange(len(pictures)), side="right") - 1
    return pictures[np.asarray(keys)[index]]


class RepeatKeyBaseline:
    def __init__(self, settings: GfvcSettings):
        self.settings = settings
        self.backend = base_layer_backend(settings)

    def code(self, frames: np.ndarray, key_pictures: Sequence[int], qp: int, fps: float = 25.0) -> RepeatKeyResult:
        decoded = np.zeros_like(frames)
        total = 0
        keys = sorted(set(int(k) for k in key_pictures))
        for k in keys:   # intra at the given QP, one picture at a time, as GfvcEncoder.code_key_picture
            enc, rgb = code_base_layer(self.backend, frames[k:k + 1], self.settings.key_format, qp, "intra", fps)
            decoded[k] = rgb[0]
            total += len(enc.bitstream)
        return RepeatKeyResult(hold_key_pictures(decoded, keys), keys, total)
