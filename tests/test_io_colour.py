"""RGB <-> YUV 4:2:0 conversion: standard values, round-trip bounds, agreement with OpenCV.

Bounds measured on this code (doc/benchmarks.md ("Sequences")):
- 2x2-constant blocks (chroma subsampling loses nothing), all 256**3 colours:
  bt601_limited max |error| 2 (60.5 % exact, 39.4 % off by 1, 0.12 % off by 2);
  bt709_full max |error| 1 (67.4 % exact).
- astronaut photo (real detail, chroma subsampled): PSNR 36.8 dB (bt601_limited),
  36.6 dB (bt709_full).
- bt601_limited vs OpenCV's fixed-point COLOR_RGB2YUV_I420 / COLOR_YUV2RGB_I420: max 1 code
  value in every plane, both directions.
"""
from __future__ import annotations

import cv2
import numpy as np
import pytest
import skimage.data

from gfvc.io import MATRICES, rgb_to_yuv420, yuv420_to_rgb


def _colour_grid(step: int) -> np.ndarray:
    """Every step-th level per channel plus 255, as 2x2-constant blocks: (H, W, 3) uint8."""
    levels = np.unique(np.r_[np.arange(0, 256, step), 255]).astype(np.uint8)
    c = np.stack(np.meshgrid(levels, levels, levels, indexing="ij"), -1).reshape(-1, 3)
    side = int(np.ceil(np.sqrt(len(c))))
    c = np.concatenate([c, np.zeros((side * side - len(c), 3), np.uint8)]).reshape(side, side, 3)
    return np.repeat(np.repeat(c, 2, axis=0), 2, axis=1)


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b) ** 2)
    return 10 * np.log10(255.0 ** 2 / mse)


@pytest.mark.parametrize("rgb, matrix, want", [
    # Values from the definitions in BT.601 / BT.709 (8-bit, rounded), not from this code.
    ((0, 0, 0), "bt601_limited", (16, 128, 128)),
    ((255, 255, 255), "bt601_limited", (235, 128, 128)),
    ((255, 0, 0), "bt601_limited", (81, 90, 240)),
    ((0, 0, 255), "bt601_limited", (41, 240, 110)),
    ((0, 0, 0), "bt709_full", (0, 128, 128)),
    ((255, 255, 255), "bt709_full", (255, 128, 128)),
    ((0, 255, 0), "bt709_full", (182, 30, 12)),
])
def test_standard_values(rgb, matrix, want):
    img = np.full((2, 2, 3), rgb, np.uint8)
    y, u, v = rgb_to_yuv420(img, matrix)
    assert (int(y[0, 0]), int(u[0, 0]), int(v[0, 0])) == want


@pytest.mark.parametrize("matrix, bound", [("bt601_limited", 2), ("bt709_full", 1)])
def test_round_trip_flat_blocks_error_bound(matrix, bound):
    img = _colour_grid(step=5)  # 53**3 colours; the full 256**3 sweep gives the same bounds
    y, u, v = rgb_to_yuv420(img, matrix)
    back = yuv420_to_rgb(y, u, v, matrix)
    err = np.abs(back.astype(int) - img)
    assert err.max() == bound  # the bound is reached, and never exceeded
    assert np.mean(err == 0) > 0.55


@pytest.mark.parametrize("matrix", list(MATRICES))
def test_round_trip_real_picture(matrix):
    img = skimage.data.astronaut()
    back = yuv420_to_rgb(*rgb_to_yuv420(img, matrix), matrix)
    assert back.shape == img.shape and back.dtype == np.uint8
    assert 36.0 < _psnr(back, img) < 40.0  # chroma subsampling loss, measured 36.6-36.8 dB


def _cv_planes(rgb):
    h, w = rgb.shape[:2]
    flat = cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420).ravel()  # Y, then U, then V
    ys, cs = h * w, (h // 2) * (w // 2)
    return (flat[:ys].reshape(h, w), flat[ys:ys + cs].reshape(h // 2, w // 2), flat[ys + cs:].reshape(h // 2, w // 2))


@pytest.mark.parametrize("picture", ["astronaut", "noise", "colours"])
def test_bt601_limited_matches_opencv_i420(picture):
    if picture == "astronaut":
        img = skimage.data.astronaut()
    elif picture == "noise":
        img = np.random.default_rng(7).integers(0, 256, (128, 192, 3), dtype=np.uint8)
    else:
        img = _colour_grid(step=9)
    ours = rgb_to_yuv420(img, "bt601_limited")
    theirs = _cv_planes(img)
    for a, b in zip(ours, theirs):
        d = np.abs(a.astype(int) - b)
        assert d.max() <= 1 and np.mean(d > 0) < 0.05
    h, w = img.shape[:2]
    i420 = np.concatenate([p.ravel() for p in ours]).reshape(-1, w)  # OpenCV's I420 layout
    d = np.abs(yuv420_to_rgb(*ours, "bt601_limited").astype(int) - cv2.cvtColor(i420, cv2.COLOR_YUV2RGB_I420))
    assert d.max() <= 1 and np.mean(d > 0) < 0.06


def test_unknown_matrix_and_odd_size_are_errors():
    with pytest.raises(ValueError, match="unknown colour matrix 'bt2020'"):
        rgb_to_yuv420(np.zeros((2, 2, 3), np.uint8), "bt2020")
    with pytest.raises(ValueError, match="even width and height"):
        rgb_to_yuv420(np.zeros((3, 4, 3), np.uint8))
