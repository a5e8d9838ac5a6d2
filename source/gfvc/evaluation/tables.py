"""BD tables: per-sequence Bjontegaard deltas of each test codec against each anchor, one column
per metric, with per-class and overall averages; written as CSV, Markdown and XLSX.

An average is the arithmetic mean of the per-sequence values of its class, as in the JVET
spreadsheet; it is N/A (with the count) when any of its sequences is N/A, because an average
over a subset would not be comparable with other contributions.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from ..errors import GfvcError
from .bdrate import BDResult, bd_for_metric
from .results import ALL_CLASSES, CLASS_BY_PREFIX, ResultTable

KINDS = {"rate": ("BD-rate", "%", 4), "quality": ("BD-quality", "", 6)}
AVERAGE = "Average"


class ReportError(GfvcError, ValueError):
    """The report cannot be made from these inputs (unknown codec or metric...)."""


def class_order(classes) -> list[str]:
    """The CTC classes first (VoxCeleb, CFVQA), then the others alphabetically."""
    known = [c for c in CLASS_BY_PREFIX.values() if c in classes]
    return known + sorted(c for c in set(classes) if c not in known)


@dataclass
class BlockRow:
    dataset_class: str
    sequence: str  # "Average" for class / overall averages
    cells: dict[str, BDResult]


@dataclass
class Block:
    """One anchor vs one test codec, one kind of delta."""

    kind: str
    anchor: str
    test: str
    metrics: list[str]
    rows: list[BlockRow]


def _sequence_result(table: ResultTable, kind, metric, anchor, test, sequence) -> BDResult:
    a, t = table.select(anchor, sequence), table.select(test, sequence)
    if not a:
        return BDResult(None, f"no {anchor} points for this sequence")
    if not t:
        return BDResult(None, f"no {test} points for this sequence")
    if metric not in table.metrics:
        return BDResult(None, "metric not in the results")
    return bd_for_metric(kind, metric, [r.kbps for r in a], [r.metrics.get(metric) for r in a],
                         [r.kbps for r in t], [r.metrics.get(metric) for r in t])


def _average(results: list[BDResult]) -> BDResult:
    missing = sum(not r.ok for r in results)
    if missing:
        return BDResult(None, f"{missing} of {len(results)} sequences N/A")
    return BDResult(sum(r.value for r in results) / len(results))


def build_block(table: ResultTable, kind: str, anchor: str, test: str, metrics: list[str]) -> Block:
    sequences = sorted({r.sequence for r in table.rows if r.codec in (anchor, test)})
    by_class: dict[str, list[str]] = {}
    for s in sequences:
        by_class.setdefault(table.class_of(s), []).append(s)
    rows, per_sequence = [], {}
    for cls in class_order(by_class):
        for s in by_class[cls]:
            per_sequence[s] = {m: _sequence_result(table, kind, m, anchor, test, s) for m in metrics}
            rows.append(BlockRow(cls, s, per_sequence[s]))
    groups = [(cls, by_class[cls]) for cls in class_order(by_class)] + [(ALL_CLASSES, sequences)]
    for cls, members in groups:
        rows.append(BlockRow(cls, AVERAGE, {m: _average([per_sequence[s][m] for s in members]) for m in metrics}))
    return Block(kind, anchor, test, list(metrics), rows)


def build_blocks(table: ResultTable, kind: str, anchors: list[str], tests: list[str], metrics: list[str]) -> list[Block]:
    if kind not in KINDS:
        raise ReportError(f"unknown delta kind {kind!r}")
    return [build_block(table, kind, a, t, metrics) for a in anchors for t in tests if t != a]


def cell_value(result: BDResult, kind: str):
    """The number a table stores (rounded as the CSV writes it) or the N/A text."""
    decimals = KINDS[kind][2]
    return round(result.value, decimals) if result.ok else f"N/A ({result.reason})"


def blocks_csv_bytes(blocks: list[Block]) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    metrics = blocks[0].metrics if blocks else []
    w.writerow(["anchor", "test", "dataset_class", "sequence"] + metrics)
    for b in blocks:
        decimals = KINDS[b.kind][2]
        for r in b.rows:
            w.writerow([b.anchor, b.test, r.dataset_class, r.sequence]
                       + [r.cells[m].cell(decimals) for m in b.metrics])
    return buf.getvalue().encode("utf-8")


def blocks_markdown(blocks: list[Block], title: str) -> str:
    lines = [f"## {title}", ""]
    for b in blocks:
        name, unit, _ = KINDS[b.kind]
        lines += [f"### Anchor {b.anchor}, test {b.test}", "",
                  "| Class | Sequence | " + " | ".join(b.metrics) + " |",
                  "|---|---|" + "---:|" * len(b.metrics)]
        for r in b.rows:
            label = f"**{AVERAGE}**" if r.sequence == AVERAGE else r.sequence
            cells = [(f"{c.value:.2f}{unit}" if b.kind == "rate" else f"{c.value:.4f}") if c.ok
                     else f"N/A ({c.reason})" for c in (r.cells[m] for m in b.metrics)]
            lines.append(f"| {r.dataset_class} | {label} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)
