"""BD-rate / BD-quality: closed-form cases, an independent pchip integration, every N/A case."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.interpolate import PchipInterpolator

from gfvc.evaluation.bdrate import (
    bd_for_metric, bd_quality, bd_rate, metric_higher_is_better, quality_for_bd,
)
from gfvc.metrics import MetricError

ANCHOR_RATE = [12.5, 21.0, 37.0, 66.0]
ANCHOR_PSNR = [29.1, 31.4, 33.2, 34.6]  # concave, as real RD curves are


@pytest.mark.parametrize("factor", [0.5, 0.8, 1.0, 1.37])
def test_rate_scaled_by_a_constant_gives_that_bd_rate(factor):
    # log10(rate) shifts by log10(factor) at every quality, so BD-rate = (factor - 1) * 100 exactly.
    r = bd_rate(ANCHOR_RATE, ANCHOR_PSNR, [x * factor for x in ANCHOR_RATE], ANCHOR_PSNR)
    assert r.ok and r.reason is None
    assert r.value == pytest.approx((factor - 1) * 100, abs=1e-9)


def test_quality_shifted_by_a_constant_gives_that_bd_quality():
    r = bd_quality(ANCHOR_RATE, ANCHOR_PSNR, ANCHOR_RATE, [q + 0.42 for q in ANCHOR_PSNR])
    assert r.value == pytest.approx(0.42, abs=1e-12)


def test_partial_overlap_against_independent_pchip_integration():
    test_rate = [10.0, 17.0, 30.0, 58.0]
    test_psnr = [29.6, 31.8, 33.9, 35.3]
    # Independent: pchip of log10(rate) over quality, integrated over the common quality range.
    lo, hi = max(min(ANCHOR_PSNR), min(test_psnr)), min(max(ANCHOR_PSNR), max(test_psnr))
    fa = PchipInterpolator(ANCHOR_PSNR, np.log10(ANCHOR_RATE))
    ft = PchipInterpolator(test_psnr, np.log10(test_rate))
    expected = (10 ** ((ft.integrate(lo, hi) - fa.integrate(lo, hi)) / (hi - lo)) - 1) * 100
    got = bd_rate(ANCHOR_RATE, ANCHOR_PSNR, test_rate, test_psnr)
    assert got.value == pytest.approx(expected, abs=1e-9)
    assert got.value < 0  # the test curve is better
    # Point order does not matter (points are sorted by rate).
    shuffled = bd_rate(ANCHOR_RATE[::-1], ANCHOR_PSNR[::-1], test_rate[::-1], test_psnr[::-1])
    assert shuffled.value == pytest.approx(got.value, abs=1e-12)


def test_lower_is_better_metrics_enter_as_one_minus_x():
    lpips = [0.31, 0.22, 0.15, 0.11]  # falls as rate rises
    assert metric_higher_is_better("lpips_vgg") is False and metric_higher_is_better("psnr_yuv") is True
    np.testing.assert_allclose(quality_for_bd(lpips, False), [0.69, 0.78, 0.85, 0.89])
    r = bd_for_metric("rate", "lpips_vgg", ANCHOR_RATE, lpips, [x * 0.7 for x in ANCHOR_RATE], lpips)
    assert r.value == pytest.approx(-30.0, abs=1e-9)
    # Taken as higher-is-better, the LPIPS curve falls with rate: not monotonic -> N/A.
    wrong = bd_for_metric("rate", True, ANCHOR_RATE, lpips, ANCHOR_RATE, lpips)
    assert not wrong.ok and "not monotonic" in wrong.reason
    q = bd_for_metric("quality", "dists", ANCHOR_RATE, lpips, ANCHOR_RATE, [x - 0.01 for x in lpips])
    assert q.value == pytest.approx(0.01, abs=1e-12)  # a 0.01 lower DISTS = +0.01 on 1 - x
    with pytest.raises(MetricError):
        metric_higher_is_better("psnr_q")


@pytest.mark.parametrize("anchor_rate,anchor_q,test_rate,test_q,reason", [
    (ANCHOR_RATE[:3], ANCHOR_PSNR[:3], ANCHOR_RATE, ANCHOR_PSNR, "anchor has 3 RD points, 4 needed"),
    (ANCHOR_RATE, ANCHOR_PSNR, ANCHOR_RATE[1:], ANCHOR_PSNR[1:], "test has 3 RD points, 4 needed"),
    (ANCHOR_RATE, [29.1, 31.4, 31.0, 34.6], ANCHOR_RATE, ANCHOR_PSNR, "anchor is not monotonic: quality 31.4"),
    (ANCHOR_RATE, ANCHOR_PSNR, ANCHOR_RATE, [29.1, 31.4, 31.4, 34.6], "test is not monotonic"),
    (ANCHOR_RATE, ANCHOR_PSNR, [12.5, 21.0, 21.0, 66.0], ANCHOR_PSNR, "two points at 21 kbps"),
    (ANCHOR_RATE, ANCHOR_PSNR, ANCHOR_RATE, [40.0, 41.0, 42.0, 43.0], "quality ranges do not overlap"),
    (ANCHOR_RATE, ANCHOR_PSNR, ANCHOR_RATE, [25.0, 27.0, 28.0, 29.1], "quality ranges do not overlap"),
    (ANCHOR_RATE, [29.1, math.nan, 33.2, 34.6], ANCHOR_RATE, ANCHOR_PSNR, "non-finite quality"),
    ([0.0, 21.0, 37.0, 66.0], ANCHOR_PSNR, ANCHOR_RATE, ANCHOR_PSNR, "rate that is not positive"),
    (ANCHOR_RATE, ANCHOR_PSNR[:3] + [35.0, 36.0], ANCHOR_RATE, ANCHOR_PSNR, "4 rates but 5 quality values"),
])
def test_bd_rate_not_computable_says_why(anchor_rate, anchor_q, test_rate, test_q, reason):
    r = bd_rate(anchor_rate, anchor_q, test_rate, test_q)
    assert r.value is None and not r.ok
    assert reason in r.reason
    assert r.cell().startswith("N/A (") and reason in r.cell()


def test_bd_quality_without_rate_overlap_is_na():
    r = bd_quality(ANCHOR_RATE, ANCHOR_PSNR, [x * 10 for x in ANCHOR_RATE], ANCHOR_PSNR)
    assert r.value is None and "rate ranges do not overlap" in r.reason
    # The same curves overlap in quality, so BD-rate exists (+900 %).
    assert bd_rate(ANCHOR_RATE, ANCHOR_PSNR, [x * 10 for x in ANCHOR_RATE], ANCHOR_PSNR).value == \
        pytest.approx(900.0, abs=1e-9)


def test_missing_metric_values_are_na():
    r = bd_for_metric("rate", "psnr_y", ANCHOR_RATE, ANCHOR_PSNR, ANCHOR_RATE, [29.0, None, 33.0, 34.0])
    assert r.value is None and "test has RD points without this metric" in r.reason
