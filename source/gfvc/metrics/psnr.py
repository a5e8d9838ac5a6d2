"""PSNR as JVET reports it: per picture, 8-bit peak 255, sequence value = mean over pictures.

- ``psnr_y``: luma of the YUV 4:2:0 made with ``gfvc.io.rgb_to_yuv420`` (matrix option,
  default bt601_limited, the matrix the base layer is fed with).
- ``psnr_yuv``: (6 * PSNR_Y + PSNR_U + PSNR_V) / 8 per picture, the JVET CTC weighting.
- ``psnr_rgb``: one MSE over the three RGB planes of the picture.
A picture identical to its reference (MSE = 0) gets ``max_db`` (default 100 dB) so that the
sequence mean stays finite; the cap is recorded in the metric's name in reports' docs.
"""
from __future__ import annotations

import numpy as np

from ..io.colour import DEFAULT_MATRIX, get_matrix, rgb_to_yuv420
from .base import Metric, MetricError, batches, register_metric

PEAK_8BIT = 255.0


def psnr_from_mse(mse: np.ndarray, peak: float = PEAK_8BIT, max_db: float = 100.0) -> np.ndarray:
    mse = np.asarray(mse, dtype=np.float64)
    with np.errstate(divide="ignore"):
        db = 10.0 * np.log10(peak * peak / mse)
    return np.minimum(db, max_db)


def checked_matrix(matrix: str) -> str:
    """``matrix`` when gfvc.io.colour knows it; MetricError otherwise (PSNR and VMAF options)."""
    try:
        get_matrix(matrix)
    except ValueError as e:
        raise MetricError(str(e)) from None
    return matrix


def mse_per_picture(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Mean squared error over every axis but the first (the picture index)."""
    d = a.astype(np.float64) - b.astype(np.float64)
    return (d * d).reshape(d.shape[0], -1).mean(axis=1)


class _PsnrBase(Metric):
    higher_is_better = True

    def __init__(self, matrix: str = DEFAULT_MATRIX, max_db: float = 100.0):
        self.matrix = checked_matrix(matrix)
        self.max_db = float(max_db)

    # Pictures are converted in chunks: the float64 colour conversion of a whole 250-picture
    # sequence at once needs gigabytes and runs out of cache.
    CHUNK = 16

    def _psnr(self, a, b):
        return psnr_from_mse(mse_per_picture(a, b), max_db=self.max_db)

    def _per_picture(self, reference, distorted):
        return np.concatenate([self._chunk(reference[s], distorted[s])
                               for s in batches(reference.shape[0], self.CHUNK)])


@register_metric("psnr_y")
class PsnrY(_PsnrBase):
    name = "psnr_y"
    colour_space = "y"

    def _chunk(self, reference, distorted):
        return self._psnr(rgb_to_yuv420(reference, self.matrix)[0], rgb_to_yuv420(distorted, self.matrix)[0])


@register_metric("psnr_yuv")
class PsnrYuv(_PsnrBase):
    """JVET's weighted YUV PSNR, 6:1:1 over Y, U, V per picture."""

    name = "psnr_yuv"
    colour_space = "yuv420"
    WEIGHTS = (6.0, 1.0, 1.0)

    def _chunk(self, reference, distorted):
        ref = rgb_to_yuv420(reference, self.matrix)
        dis = rgb_to_yuv420(distorted, self.matrix)
        planes = [self._psnr(r, d) for r, d in zip(ref, dis)]
        return sum(w * p for w, p in zip(self.WEIGHTS, planes)) / sum(self.WEIGHTS)


@register_metric("psnr_rgb")
class PsnrRgb(_PsnrBase):
    name = "psnr_rgb"
    colour_space = "rgb"

    def __init__(self, max_db: float = 100.0):
        super().__init__(max_db=max_db)

    def _chunk(self, reference, distorted):
        return self._psnr(reference, distorted)
