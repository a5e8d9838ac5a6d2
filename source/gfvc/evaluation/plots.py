"""RD plots (matplotlib, Agg backend): per metric, one curve per codec.

- ``rd_<metric>.png``: the average over sequences; point k of a codec's curve is the mean kbps
  and mean metric value of the k-th lowest-rate point of every sequence the codec has
  complete (all points carry the metric); the legend says how many sequences that is.
- ``rd_<metric>_per_sequence.png``: one small panel per sequence.
PNG bytes are deterministic: fixed size and dpi, no "Software" metadata.
"""
from __future__ import annotations

import io
import math

import numpy as np

from .results import ResultTable

DPI = 100
PNG_METADATA = {"Software": None}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _curve(table: ResultTable, codec: str, sequence: str, metric: str):
    points = table.select(codec, sequence)
    values = [p.metrics.get(metric) for p in points]
    if not points or any(v is None for v in values):
        return None
    return np.array([p.kbps for p in points]), np.array(values, dtype=np.float64)


def average_curve(table: ResultTable, codec: str, metric: str):
    """(kbps, values, number of sequences) averaged per rate rank, or None."""
    curves = [c for s in table.sequences if (c := _curve(table, codec, s, metric)) is not None]
    if not curves:
        return None
    n = min(len(c[0]) for c in curves)
    rates = np.mean([c[0][:n] for c in curves], axis=0)
    values = np.mean([c[1][:n] for c in curves], axis=0)
    return rates, values, len(curves)


def _label(metric: str, higher_is_better: bool) -> str:
    return f"{metric} ({'higher' if higher_is_better else 'lower'} is better)"


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata=PNG_METADATA)
    return buf.getvalue()


def average_plot_png(table: ResultTable, metric: str, codecs: list[str], higher_is_better: bool) -> bytes:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.8))
    try:
        for codec in codecs:
            curve = average_curve(table, codec, metric)
            if curve is not None:
                ax.plot(curve[0], curve[1], marker="o", label=f"{codec} ({curve[2]} seq.)")
        ax.set_xlabel("rate (kbps)")
        ax.set_ylabel(_label(metric, higher_is_better))
        ax.set_title(f"RD: {metric}, average over sequences")
        ax.grid(True, alpha=0.3)
        if ax.lines:
            ax.legend()
        else:
            ax.text(0.5, 0.5, "no complete RD curves", ha="center", va="center", transform=ax.transAxes)
        fig.subplots_adjust(left=0.12, right=0.97, bottom=0.11, top=0.92)  # fixed: tight_layout is slow
        return _png(fig)
    finally:
        plt.close(fig)


def per_sequence_plot_png(table: ResultTable, metric: str, codecs: list[str], higher_is_better: bool) -> bytes:
    plt = _pyplot()
    sequences = table.sequences
    cols = min(5, max(1, len(sequences)))
    rows = math.ceil(len(sequences) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.6 * rows), squeeze=False)
    try:
        for ax, sequence in zip(axes.flat, sequences):
            for codec in codecs:
                curve = _curve(table, codec, sequence, metric)
                if curve is not None:
                    ax.plot(curve[0], curve[1], marker="o", markersize=3, label=codec)
            ax.set_title(sequence, fontsize=8)
            ax.tick_params(labelsize=7)
            ax.grid(True, alpha=0.3)
        for ax in list(axes.flat)[len(sequences):]:
            ax.axis("off")
        handles, labels = next(((a.get_legend_handles_labels()) for a in axes.flat if a.lines), ([], []))
        if handles:
            fig.legend(handles, labels, loc="upper right", fontsize=8)
        fig.suptitle(f"RD per sequence: {_label(metric, higher_is_better)} over kbps", fontsize=10)
        fig.subplots_adjust(left=0.06, right=0.98, bottom=0.08, top=1 - 0.5 / (2.6 * rows), hspace=0.45, wspace=0.3)
        return _png(fig)
    finally:
        plt.close(fig)
