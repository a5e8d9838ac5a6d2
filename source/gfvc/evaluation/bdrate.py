"""Bjontegaard deltas as the JVET spreadsheet computes them (piecewise cubic Hermite, pchip).

The computation itself is the pinned ``bjontegaard`` 1.3.0 package (``method="pchip"``,
documented to match the JVET BD-rate spreadsheet). This module decides, before calling it,
whether a number can be computed at all, and says why not:
- fewer than 4 RD points on a curve;
- a rate that is not positive and finite, or a quality value that is not finite;
- a curve that is not monotonic (quality must rise strictly with rate, rates must differ);
- no overlap of the quality ranges (BD-rate) or of the rate ranges (BD-quality).

Metrics where lower is better (LPIPS, DISTS, msVGG) enter as 1 - x, as the GFVC CTC reports
them, so that every curve rises with rate. BD-rate is in percent (negative = the test needs
less rate); BD-quality is in the metric's unit (for 1 - x metrics: the decrease of x).
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np

MIN_POINTS = 4
METHOD = "pchip"


@dataclass(frozen=True)
class BDResult:
    value: float | None
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.value is not None

    def cell(self, decimals: int = 2) -> str:
        """Table text: the number, or ``N/A (why)``."""
        return f"{self.value:.{decimals}f}" if self.ok else f"N/A ({self.reason})"


def quality_for_bd(values, higher_is_better: bool) -> np.ndarray:
    """The quality axis BD works on: x for higher-is-better metrics, 1 - x otherwise."""
    v = np.asarray(values, dtype=np.float64)
    return v if higher_is_better else 1.0 - v


def metric_higher_is_better(metric: str) -> bool:
    """Direction of a registered metric (read from its class; nothing is built)."""
    from ..metrics.base import _FACTORIES, MetricError

    try:
        return bool(_FACTORIES[metric].higher_is_better)
    except KeyError:
        raise MetricError(f"unknown metric {metric!r}; known: {', '.join(_FACTORIES)}") from None


def _curve(name: str, rate, quality) -> tuple[np.ndarray, np.ndarray] | str:
    """Sorted (rate, quality) arrays, or the reason the curve cannot be used."""
    try:
        r = np.asarray(rate, dtype=np.float64).reshape(-1)
        q = np.asarray(quality, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        return f"{name} points are not numbers"
    if r.shape != q.shape:
        return f"{name} has {r.size} rates but {q.size} quality values"
    if r.size < MIN_POINTS:
        return f"{name} has {r.size} RD points, {MIN_POINTS} needed"
    if not np.all(np.isfinite(q)):
        return f"{name} has a missing or non-finite quality value"
    if not np.all(np.isfinite(r)) or np.any(r <= 0):
        return f"{name} has a rate that is not positive"
    order = np.argsort(r, kind="stable")
    r, q = r[order], q[order]
    for i in range(1, r.size):
        if r[i] == r[i - 1]:
            return f"{name} is not monotonic: two points at {r[i]:.4g} kbps"
        if q[i] <= q[i - 1]:
            return (f"{name} is not monotonic: quality {q[i - 1]:.6g} at {r[i - 1]:.4g} kbps, "
                    f"{q[i]:.6g} at {r[i]:.4g} kbps")
    return r, q


def _prepare(anchor_rate, anchor_quality, test_rate, test_quality):
    anchor = _curve("anchor", anchor_rate, anchor_quality)
    if isinstance(anchor, str):
        return anchor
    test = _curve("test", test_rate, test_quality)
    if isinstance(test, str):
        return test
    return anchor, test


def _overlap(a: np.ndarray, b: np.ndarray) -> float:
    return min(a.max(), b.max()) - max(a.min(), b.min())


def _run(function, *args) -> BDResult:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # overlap is checked here; the package's warnings add nothing
        try:
            value = float(function(*args, method=METHOD, require_matching_points=False, min_overlap=0.0))
        except (ValueError, AssertionError) as e:
            return BDResult(None, f"interpolation failed: {e}")
    if not math.isfinite(value):
        return BDResult(None, "interpolation gave no finite value")
    return BDResult(value)


def bd_rate(anchor_rate, anchor_quality, test_rate, test_quality) -> BDResult:
    """Average rate difference in percent at equal quality (pchip on log10 rate over quality)."""
    import bjontegaard

    prepared = _prepare(anchor_rate, anchor_quality, test_rate, test_quality)
    if isinstance(prepared, str):
        return BDResult(None, prepared)
    (ar, aq), (tr, tq) = prepared
    if _overlap(aq, tq) <= 0:
        return BDResult(None, f"quality ranges do not overlap (anchor {aq.min():.6g}..{aq.max():.6g}, "
                              f"test {tq.min():.6g}..{tq.max():.6g})")
    return _run(bjontegaard.bd_rate, ar, aq, tr, tq)


def bd_quality(anchor_rate, anchor_quality, test_rate, test_quality) -> BDResult:
    """Average quality difference at equal rate (pchip of quality over log10 rate); BD-PSNR for PSNR."""
    import bjontegaard

    prepared = _prepare(anchor_rate, anchor_quality, test_rate, test_quality)
    if isinstance(prepared, str):
        return BDResult(None, prepared)
    (ar, aq), (tr, tq) = prepared
    if _overlap(np.log10(ar), np.log10(tr)) <= 0:
        return BDResult(None, f"rate ranges do not overlap (anchor {ar.min():.4g}..{ar.max():.4g} kbps, "
                              f"test {tr.min():.4g}..{tr.max():.4g} kbps)")
    return _run(bjontegaard.bd_psnr, ar, aq, tr, tq)


def bd_for_metric(kind: str, metric_or_direction, anchor_rate, anchor_values, test_rate, test_values) -> BDResult:
    """``bd_rate``/``bd_quality`` (kind "rate"/"quality") on a metric's raw values; a metric name or
    ``higher_is_better`` bool says whether the values enter as x or 1 - x."""
    higher = (metric_or_direction if isinstance(metric_or_direction, bool)
              else metric_higher_is_better(metric_or_direction))
    function = {"rate": bd_rate, "quality": bd_quality}[kind]
    for name, values in (("anchor", anchor_values), ("test", test_values)):
        if any(v is None for v in values):
            return BDResult(None, f"{name} has RD points without this metric")
    return function(anchor_rate, quality_for_bd(anchor_values, higher),
                    test_rate, quality_for_bd(test_values, higher))
