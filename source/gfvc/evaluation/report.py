"""``write_report``: BD tables (CSV, Markdown, XLSX) and RD plots for a result table."""
from __future__ import annotations

from pathlib import Path

from ..io.sequence import atomic_write_bytes
from .bdrate import metric_higher_is_better
from .plots import average_plot_png, per_sequence_plot_png
from .results import ResultTable
from .tables import ReportError, blocks_csv_bytes, blocks_markdown, build_blocks
from .xlsx import workbook_bytes

BDRATE_CSV = "bdrate.csv"
BDQUALITY_CSV = "bdquality.csv"
XLSX = "bdrate.xlsx"
MARKDOWN = "bdrate.md"


def _check(table: ResultTable, anchors: list[str], tests: list[str], metrics: list[str]) -> None:
    from ..metrics.base import MetricError

    codecs = set(table.codecs)
    for role, names in (("anchor", anchors), ("test", tests)):
        if not names:
            raise ReportError(f"no {role} codec to report")
        for name in names:
            if name not in codecs:
                raise ReportError(f"{role} codec {name!r} has no RD points (codecs: {', '.join(sorted(codecs))})")
    if not metrics:
        raise ReportError("no metrics to report")
    for m in metrics:
        try:
            metric_higher_is_better(m)
        except MetricError as e:
            raise ReportError(str(e)) from None


def write_report(table: ResultTable, anchors: list[str], metrics: list[str], out_dir,
                 tests: list[str] | None = None, unavailable: dict[str, str] | None = None) -> dict[str, Path]:
    """Write bdrate.csv, bdquality.csv, bdrate.md, bdrate.xlsx and rd_<metric>[_per_sequence].png.

    ``tests`` defaults to every codec of the table that is not an anchor. ``unavailable``
    ({metric: why}, provenance's ``unavailable_metrics``) says why a metric with no value at all
    was not computed; the workbook lists it once and leaves its columns out. Returns {what: path}.
    """
    anchors = list(anchors)
    tests = [c for c in table.codecs if c not in anchors] if tests is None else list(tests)
    metrics = list(metrics)
    _check(table, anchors, tests, metrics)
    rate_blocks = build_blocks(table, "rate", anchors, tests, metrics)
    quality_blocks = build_blocks(table, "quality", anchors, tests, metrics)
    if not rate_blocks:
        raise ReportError("every test codec is also an anchor: nothing to compare")

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files: dict[str, bytes] = {
        BDRATE_CSV: blocks_csv_bytes(rate_blocks),
        BDQUALITY_CSV: blocks_csv_bytes(quality_blocks),
        MARKDOWN: ("# BD results\n\n"
                   "BD-rate in percent (negative: the test needs less rate for the same quality) and "
                   "BD-quality in the metric's unit, pchip interpolation as in the JVET spreadsheet. "
                   "Lower-is-better metrics enter as 1 - x.\n\n"
                   + blocks_markdown(rate_blocks, "BD-rate") + "\n"
                   + blocks_markdown(quality_blocks, "BD-quality")).encode("utf-8"),
        XLSX: workbook_bytes(table, rate_blocks, quality_blocks, anchors, tests, metrics, unavailable),
    }
    keys = {BDRATE_CSV: "bdrate_csv", BDQUALITY_CSV: "bdquality_csv", MARKDOWN: "markdown", XLSX: "xlsx"}
    codecs = anchors + [t for t in tests if t not in anchors]
    for m in metrics:
        higher = metric_higher_is_better(m)
        files[f"rd_{m}.png"] = average_plot_png(table, m, codecs, higher)
        files[f"rd_{m}_per_sequence.png"] = per_sequence_plot_png(table, m, codecs, higher)
        keys[f"rd_{m}.png"] = f"plot_{m}"
        keys[f"rd_{m}_per_sequence.png"] = f"plot_{m}_per_sequence"
    written = {}
    for name, data in files.items():
        atomic_write_bytes(out / name, data)
        written[keys[name]] = out / name
    return written
