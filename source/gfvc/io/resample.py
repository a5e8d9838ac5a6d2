"""Bit-exact resampling for building sequences: square crops, picture resizing, frame rates.

Every result must be the same bytes on every machine, so nothing here uses a library resizer
(OpenCV or swscale may pick CPU-specific code that rounds differently). The filters have
exact rational weights; scaled to integers over a common denominator, the whole separable
filter is computed in exact integer arithmetic (so the order of the sums cannot matter), and
the one final division rounds half up.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache

import numpy as np


@dataclass(frozen=True)
class FilterMatrix:
    """Output sample j = sum_i weight[j, i] * source[i] / denominator (integer weights)."""

    weight: np.ndarray  # (dst_len, src_len) small non-negative integers
    denominator: int

    def taps(self) -> tuple[np.ndarray, np.ndarray]:
        """(index, weight), both (dst_len, taps) int64: the non-zero weights of each row.

        Rows with fewer taps are padded with weight 0 (index repeated), keeping shapes regular.
        """
        rows = [np.flatnonzero(r) for r in self.weight]
        n = max(len(r) for r in rows)
        index = np.array([np.pad(r, (0, n - len(r)), mode="edge") for r in rows], np.int64)
        weight = np.array([np.pad(self.weight[j, r], (0, n - len(r))) for j, r in enumerate(rows)], np.int64)
        return index, weight


def area_filter(src_len: int, dst_len: int) -> FilterMatrix:
    """Box (area-average) filter for shrinking ``src_len`` samples to ``dst_len``.

    Output sample j covers the source interval [j*src/dst, (j+1)*src/dst); each source sample
    contributes the length of its overlap with that interval. Measured in units of 1/dst the
    overlaps are integers summing to src_len, which is the denominator.
    """
    if not 0 < dst_len <= src_len:
        raise ValueError(f"area filter shrinks: got {src_len} -> {dst_len}")
    w = np.zeros((dst_len, src_len), np.int64)
    for j in range(dst_len):
        lo, hi = j * src_len, (j + 1) * src_len
        for i in range(lo // dst_len, -(-hi // dst_len)):
            w[j, i] = max(0, min((i + 1) * dst_len, hi) - max(i * dst_len, lo))
    return FilterMatrix(w, src_len)


def linear_filter(src_len: int, dst_len: int) -> FilterMatrix:
    """Linear interpolation for enlarging, pixel centres aligned (x_src = (j+0.5)*src/dst - 0.5).

    Source positions are multiples of 1/(2*dst), so the weights are integers over 2*dst.
    """
    if not 0 < src_len <= dst_len:
        raise ValueError(f"linear filter enlarges: got {src_len} -> {dst_len}")
    den = 2 * dst_len
    w = np.zeros((dst_len, src_len), np.int64)
    for j in range(dst_len):
        x = min(max((2 * j + 1) * src_len - dst_len, 0), den * (src_len - 1))  # position * den
        i0, frac = divmod(x, den)
        w[j, i0] += den - frac
        if frac:
            w[j, i0 + 1] += frac
    return FilterMatrix(w, den)


@lru_cache(maxsize=16)
def resize_filter(src_len: int, dst_len: int) -> FilterMatrix:
    return area_filter(src_len, dst_len) if src_len >= dst_len else linear_filter(src_len, dst_len)


def round_to_u8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.floor(x + 0.5), 0, 255).astype(np.uint8)


def _apply_taps(x: np.ndarray, index: np.ndarray, weight: np.ndarray, axis: int) -> np.ndarray:
    shape = [1] * x.ndim
    shape[axis] = index.shape[0]
    out = None
    for t in range(index.shape[1]):
        term = np.take(x, index[:, t], axis=axis) * weight[:, t].reshape(shape)
        out = term if out is None else out + term
    return out


def resize_frames(frames: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """(N, H, W, C) uint8 -> (N, out_h, out_w, C) uint8, separable filter, rounded half up."""
    n, h, w, c = frames.shape
    fv, fh = resize_filter(h, out_h), resize_filter(w, out_w)
    den = fv.denominator * fh.denominator
    # Narrow integers are several times faster (memory traffic); int64 only for huge pictures.
    dtype = np.int32 if 2 * 255 * den + den < 2 ** 31 else np.int64
    if 2 * 255 * den + den >= 2 ** 62:
        raise ValueError(f"resize {w}x{h} -> {out_w}x{out_h} is too large for exact integer arithmetic")
    (vi, vw), (hi, hw) = fv.taps(), fh.taps()
    vw, hw = vw.astype(dtype), hw.astype(dtype)
    out = np.empty((n, out_h, out_w, c), np.uint8)
    for k in range(n):  # one frame at a time keeps the temporaries small
        x = frames[k].astype(dtype)
        total = _apply_taps(_apply_taps(x, vi, vw, axis=0), hi, hw, axis=1)
        out[k] = (2 * total + den) // (2 * den)
    return out


@dataclass(frozen=True)
class SquareBox:
    """A square crop in source pixels: top-left (x, y) and side length, all integers."""

    x: int
    y: int
    size: int

    def as_list(self) -> list[int]:
        return [self.x, self.y, self.size]


def enlarge_box(face_x: int, face_y: int, face_w: int, face_h: int, factor: Fraction,
                frame_w: int, frame_h: int) -> SquareBox:
    """A square around a face box, ``factor`` times its longer side, shifted/clamped into the frame.

    As in the VoxCeleb preprocessing, the crop is larger than the face so that hair, chin and
    shoulders stay in the picture while the head moves. Integer arithmetic throughout; the
    corner is made even so that 4:2:0 chroma of the source stays aligned with the crop.
    """
    side = min(int(Fraction(max(face_w, face_h)) * factor), frame_w, frame_h)
    side -= side % 2
    cx2 = 2 * face_x + face_w  # twice the centre, to stay in integers
    cy2 = 2 * face_y + face_h
    x = min(max((cx2 - side) // 2, 0), frame_w - side)
    y = min(max((cy2 - side) // 2, 0), frame_h - side)
    return SquareBox(x - x % 2, y - y % 2, side)


def nearest_source_frames(num_out: int, out_fps: Fraction, src_fps: Fraction, first: int = 0,
                          offset: int = 0) -> list[int]:
    """Source frame shown at each output time, for output frames offset .. offset+num_out-1.

    The source is taken to start at its frame ``first`` (time 0). Exact rational arithmetic:
    source frame first+k is shown at k/src_fps, so the nearest one to output time j/out_fps is
    k = floor(j*src_fps/out_fps + 1/2) (a tie goes to the later frame).
    """
    ratio = Fraction(src_fps) / Fraction(out_fps)
    return [first + int((j * ratio + Fraction(1, 2)) // 1) for j in range(offset, offset + num_out)]
