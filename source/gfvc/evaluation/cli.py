"""gfvc-bdrate: BD-rate / BD-quality tables and RD plots of test results against anchors.

    gfvc-bdrate RESULTS [RESULTS ...] --anchor ANCHOR_RESULTS [--anchor ...] -o OUT_DIR
                [--metrics psnr_y,dists,...] [--anchor-codec NAME ...] [--test-codec NAME ...]

RESULTS and ANCHOR_RESULTS are result stores (a folder with results.csv + provenance.json, or
the results.csv itself). Codecs found in the anchor stores are the anchors, codecs in the
other stores the tests. Writes bdrate.csv, bdquality.csv, bdrate.md, bdrate.xlsx,
rd_<metric>.png, rd_<metric>_per_sequence.png, index.html (the RD plots and, per sequence, the rate
point of each codec closest to a common target; a result store has no pictures) and inputs.json
(the inputs' provenance).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..errors import GfvcError
from ..io.sequence import atomic_write_bytes
from ..metrics.base import MetricError, available_metrics
from .report import write_report
from .results import ResultFormatError, ResultTable, load_results
from .tables import ReportError

PROG = "gfvc-bdrate"


class CliError(GfvcError, ValueError):
    pass


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description="BD-rate tables and RD plots: test results vs anchors.")
    p.add_argument("results", nargs="+", help="test result store(s): folder with results.csv + provenance.json")
    p.add_argument("--anchor", action="append", required=True, metavar="STORE",
                   help="anchor result store (repeat for several anchors)")
    p.add_argument("-o", "--out", required=True, help="output folder")
    p.add_argument("--metrics", help="comma-separated metric names (default: every metric both sides have)")
    p.add_argument("--anchor-codec", action="append", help="use only this anchor codec (repeatable)")
    p.add_argument("--test-codec", action="append", help="use only this test codec (repeatable)")
    return p


def _load(paths: list[str]) -> tuple[ResultTable, list[dict]]:
    table, records = ResultTable([]), []
    for path in paths:
        t, provenance = load_results(path)
        clash = set(t.codecs) & set(table.codecs)
        if clash:
            raise CliError(f"{path}: codec(s) {', '.join(sorted(clash))} already loaded from another store")
        table = table.merged(t)
        records.append({"store": str(Path(path)), "codecs": t.codecs, "provenance": provenance})
    return table, records


def _select(found: list[str], wanted: list[str] | None, role: str) -> list[str]:
    if not wanted:
        return found
    missing = [c for c in wanted if c not in found]
    if missing:
        raise CliError(f"{role} codec(s) {', '.join(missing)} not in the {role} stores (found: {', '.join(found)})")
    return wanted


def _unavailable(records: list[dict]) -> dict[str, str]:
    """{metric: why} from the stores' provenance ``unavailable_metrics`` (distinct reasons joined)."""
    reasons: dict[str, list[str]] = {}
    for rec in records:
        found = rec["provenance"].get("unavailable_metrics")
        for metric, why in (found.items() if isinstance(found, dict) else ()):
            if str(why) not in reasons.setdefault(str(metric), []):
                reasons[str(metric)].append(str(why))
    return {m: "; ".join(whys) for m, whys in reasons.items()}


def run(args: argparse.Namespace) -> dict:
    tests_table, test_records = _load(args.results)
    anchors_table, anchor_records = _load(args.anchor)
    clash = set(tests_table.codecs) & set(anchors_table.codecs)
    if clash:
        raise CliError(f"codec(s) {', '.join(sorted(clash))} appear in both test and anchor stores")
    anchors = _select(anchors_table.codecs, args.anchor_codec, "anchor")
    tests = _select(tests_table.codecs, args.test_codec, "test")
    if args.metrics:
        metrics = [m.strip() for m in args.metrics.split(",") if m.strip()]
    else:
        common = set(tests_table.metrics) & set(anchors_table.metrics)
        metrics = [m for m in available_metrics() if m in common]
        if not metrics:
            raise CliError("test and anchor stores have no metric column in common")
    table = tests_table.merged(anchors_table)
    written = write_report(table, anchors, metrics, args.out, tests=tests,
                           unavailable=_unavailable(anchor_records + test_records))
    from .html import table_views, write_html_report

    written.update(write_html_report(args.out, "gfvc BD-rate report", table_views(table, anchors, tests), metrics))
    inputs = {"anchors": anchor_records, "tests": test_records, "metrics": metrics}
    inputs_path = Path(args.out) / "inputs.json"
    atomic_write_bytes(inputs_path, (json.dumps(inputs, indent=2, sort_keys=True) + "\n").encode("utf-8"))
    written["inputs"] = inputs_path
    return written


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        written = run(args)
    except (CliError, ResultFormatError, ReportError, MetricError, OSError) as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 2
    for key in sorted(written):
        print(f"{key}: {written[key]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
