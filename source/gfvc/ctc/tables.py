"""The run's tables, assembled from the cell records in plan order.

Plan order (sequences in list order, then codecs in configuration order, then rate points in
configuration order) and values taken only from the records make the tables' bytes the same
whichever executor ran the cells and in whatever order they finished. Nothing here depends on
time, host or path of the run folder.
"""
from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from ..io import atomic_write_bytes
from .errors import CtcError
from .plan import Plan


def result_rows(plan: Plan, records: list[dict[str, Any] | None]) -> list[dict[str, Any]]:
    """One row per finished cell: the RESULT_COLUMNS of gfvc.evaluation.results plus one column
    per metric (its sequence mean); a metric that could not be computed is left empty."""
    rows = []
    for task, rec in zip(plan.tasks, records):
        if rec is None:
            continue
        row = {"sequence": task.sequence, "dataset_class": task.dataset_class, "codec": task.codec_label,
               "rate_point": task.rate_point, "frames": rec["frames"], "fps": rec["fps"],
               "bytes": rec["bytes"], "kbps": rec["kbps"]}
        for name in plan.config.metrics:
            m = rec.get("metrics", {}).get(name)
            row[name] = m["mean"] if m is not None else None
        rows.append(row)
    return rows


def provenance(plan: Plan, records: list[dict[str, Any] | None]) -> dict[str, Any]:
    """What the table was computed from: software, codec settings, metric identities, inputs and
    every cell's digest and bitstream hash (no times, hosts or paths: those differ between runs
    whose tables are the same)."""
    cfg = plan.config
    return {
        "ctc": cfg.name,
        "sequences": [{"name": s.name, "file": s.path.name, "dataset_class": s.dataset_class, "frames": s.frames,
                       "sha256": next(t.input_sha256 for t in plan.tasks if t.sequence == s.name)}
                      for s in plan.sequences if any(t.sequence == s.name for t in plan.tasks)],
        "codecs": [{"label": c.spec.label, "name": c.spec.name, "options": c.spec.written_options,
                    "rate_points": c.rate_points, "settings": c.settings} for c in plan.codecs],
        **({"stored_anchors": [{"codecs": a.codecs, "results_sha256": a.results_sha256, "notes": a.notes}
                               for a in cfg.stored_anchors]} if cfg.stored_anchors else {}),
        "metrics": {name: _metric_provenance(plan, name) for name in cfg.metrics},
        "metric_weights": {name: info.get("weights", {}) for name, info in plan.metric_info.items()},
        "unavailable_metrics": _unavailable(plan, records),
        "bdrate": {"anchors": cfg.bdrate_anchors, "tests": cfg.bdrate_tests},
        "cells": [{"sequence": t.sequence, "codec": t.codec_label, "rate_point": t.rate_point, "digest": t.digest,
                   "bitstream_sha256": rec["bitstream_sha256"] if rec else None,
                   "status": "finished" if rec else "missing"} for t, rec in zip(plan.tasks, records)],
    }


def _unavailable(plan: Plan, records: list[dict[str, Any] | None]) -> dict[str, str]:
    """Metrics that cannot be computed here (found while planning), with the reason."""
    return dict(sorted(plan.unavailable.items()))


def _metric_provenance(plan: Plan, name: str) -> dict[str, Any]:
    info = dict(plan.metric_info.get(name, {}))
    digest = next((m.digest for m in plan.metrics if m.name == name), None)
    if digest:
        info["digest"] = digest
    return info


def cells_csv(plan: Plan, records: list[dict[str, Any] | None], run_dir: Path) -> bytes:
    """Index from (sequence, codec, rate point) to the cell's files in the run folder."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["sequence", "codec", "rate_point", "status", "digest", "bitstream", "bytes", "log", "decoded"])
    for t, rec in zip(plan.tasks, records):
        w.writerow([t.sequence, t.codec_label, t.rate_point, "finished" if rec else "missing", t.digest,
                    f"cells/{t.digest}.bin" if rec else "", rec["bytes"] if rec else "",
                    f"logs/{t.digest}.log", (rec or {}).get("decoded_file", "")])
    return buf.getvalue().encode()


#: rate-breakdown columns of rates.csv (gfvc.codec.stream.RATE_CATEGORIES; anchors report base_layer)
RATE_COLUMNS = ("key_picture_vcl", "base_layer_vcl", "parameter_sets", "gfv_sei", "entropy_coded_parameters",
                "gfve_sei", "reference_selection", "residual", "prediction_modes", "model_identity", "picture_hash",
                "other_sei", "sei_framing", "base_layer")


def rates_csv(plan: Plan, records: list[dict[str, Any] | None]) -> bytes:
    """Per finished cell: kbps from the file size, the reference-style kbps as the public GFVC
    tools count it (key pictures + parameters, no SEI framing or project payloads), and the rate
    breakdown in bytes (columns sum to ``bytes``)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["sequence", "codec", "rate_point", "bytes", "kbps", "reference_style_bytes",
                "reference_style_kbps", *RATE_COLUMNS])
    for t, rec in zip(plan.tasks, records):
        if not rec:
            continue
        meta = rec.get("codec_metadata") or {}
        breakdown = meta.get("rate_breakdown") if isinstance(meta.get("rate_breakdown"), dict) else {}
        ref = meta.get("reference_style_bytes", rec["bytes"])
        seconds = rec["frames"] / rec["fps"]
        w.writerow([t.sequence, t.codec_label, t.rate_point, rec["bytes"], f"{rec['kbps']:.4f}", ref,
                    f"{ref * 8 / 1000 / seconds:.4f}", *[breakdown.get(c, "") for c in RATE_COLUMNS]])
    return buf.getvalue().encode()


def write_run_tables(plan: Plan, records: list[dict[str, Any] | None], run_dir: Path,
                     report: bool = True) -> dict[str, str]:
    """Write results/ (table, provenance, cell index) and, when asked, report/; -> written paths."""
    from ..evaluation.results import ResultTable, make_provenance, write_results

    run_dir = Path(run_dir)
    table = ResultTable(result_rows(plan, records), metrics=list(plan.config.metrics))
    prov = make_provenance(**provenance(plan, records))
    written: dict[str, str] = {}
    csv_path, prov_path = write_results(run_dir / "results", table, prov)
    written["results table"] = str(csv_path)
    written["provenance"] = str(prov_path)
    atomic_write_bytes(run_dir / "results" / "cells.csv", cells_csv(plan, records, run_dir))
    written["cell index"] = str(run_dir / "results" / "cells.csv")
    atomic_write_bytes(run_dir / "results" / "rates.csv", rates_csv(plan, records))
    written["rates"] = str(run_dir / "results" / "rates.csv")
    if report and not plan.config.bdrate_anchors:
        written["report"] = "none (no BD-rate anchors in this run)"
    if report and plan.config.bdrate_anchors and len(table):
        from ..evaluation.report import write_report
        from ..evaluation.tables import ReportError

        try:
            # The BD tables are computed from the result table as written (its stored precision), so
            # that a stored anchor (a result store too) gives the numbers of a run that codes it;
            # the stored anchors' RD points join the computed ones in the BD tables only.
            from ..evaluation.results import load_results

            report_table = load_results(csv_path)[0]
            if plan.stored_rows:
                report_table = report_table.merged(ResultTable(plan.stored_rows, metrics=list(plan.config.metrics)))
            out = write_report(report_table, plan.config.bdrate_anchors, list(plan.config.metrics), run_dir / "report",
                               tests=plan.config.bdrate_tests, unavailable=_unavailable(plan, records))
        except ReportError as e:
            raise CtcError(f"the BD-rate report cannot be made: {e}") from None
        written.update(_paths("report", out, run_dir / "report"))
        path = run_dir / "report" / "metrics.md"
        atomic_write_bytes(path, metrics_markdown(plan, records))
        written["report metrics"] = str(path)
    if report and len(table):
        written["report html"] = str(write_visual_report(plan, records, run_dir,
                                                         rd=bool(plan.config.bdrate_anchors)))
    return written


def write_visual_report(plan: Plan, records: list[dict[str, Any] | None], run_dir: Path, rd: bool) -> Path:
    """report/index.html (gfvc.evaluation.html) from the cell records; -> its path."""
    from ..evaluation.html import write_html_report
    from .visual import sequence_views

    rd_metrics = [m for m in plan.config.metrics if rd and m not in plan.unavailable]
    notes = [f"Metrics not computed in this run: {', '.join(sorted(plan.unavailable))} "
             f"(metrics.md says why)"] if plan.unavailable else []
    out = write_html_report(Path(run_dir) / "report", f"gfvc CTC run {plan.config.name}",
                            sequence_views(plan, records, Path(run_dir)), rd_metrics, notes)
    return out["html"]


def metrics_markdown(plan: Plan, records: list[dict[str, Any] | None]) -> bytes:
    """Which metrics the report has, and for each one it lacks, why (never dropped silently)."""
    unavailable = _unavailable(plan, records)
    lines = ["# Metrics of this report", "",
             "| metric | status | higher is better | weights / reason |", "|---|---|---|---|"]
    for name in plan.config.metrics:
        info = plan.metric_info.get(name, {})
        hib = "yes" if info.get("higher_is_better", True) else "no (BD-rate uses 1 - x)"
        if name in unavailable:
            lines.append(f"| {name} | **unavailable** | {hib} | {unavailable[name]} |")
        else:
            weights = ", ".join(f"{role}: {w.get('sha256', '')[:12]}" for role, w in
                                sorted((info.get("weights") or {}).items()) if isinstance(w, dict)) or "none needed"
            lines.append(f"| {name} | computed | {hib} | {weights} |")
    if plan.notes:
        lines += ["", "## Stored anchors", ""] + [f"- {note}" for note in plan.notes]
    return ("\n".join(lines) + "\n").encode()


def _paths(kind: str, value: Any, default: Path) -> dict[str, str]:
    if isinstance(value, dict):
        return {f"{kind} {k}": str(v) for k, v in value.items()}
    return {kind: str(value if value is not None else default)}
