"""Stored anchors: the RD points of an anchor codec kept in a result store (anchors/<set>/<codec>/,
format of gfvc.evaluation.results) and used by a CTC run's BD tables without coding the anchor.

A stored anchor is exported from a run folder (:func:`export_anchor`, ``python -m
gfvc.ctc.anchors``): its rows are the run's own ``results/results.csv`` rows of that codec, byte
for byte, and its provenance is the run's provenance for that codec (software version, codec
settings with encoder versions, metric identities, input SHA-256, every cell's digest, bitstream
SHA-256 and coding commands) plus the command that regenerates it.

A run that names it (``stored_anchors:`` in the configuration) checks, before any work starts,
that the stored anchor covers every sequence of the run with the same content (input SHA-256)
and frame count; a metric the anchor measured with another definition (options, weights or
metric version) is left out of its rows, so that its BD column is N/A rather than comparing two
different metrics (:func:`anchor_rows`).
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import GfvcError
from ..files import sha256_file
from .errors import CtcError

PROG = "gfvc-ctc-anchor"
#: the provenance fields that identify a metric's definition (not the gfvc version)
METRIC_IDENTITY_KEYS = ("options", "weights", "version", "colour_space", "higher_is_better")


@dataclass
class StoredAnchor:
    path: Path
    table: Any  # gfvc.evaluation.results.ResultTable
    provenance: dict[str, Any]
    codecs: list[str]
    results_sha256: str
    notes: list[str] = field(default_factory=list)  # metrics left out, filled by anchor_rows


def load_stored_anchor(path: Path) -> StoredAnchor:
    """Read a result store; CtcError (one line, naming it) when it cannot be used."""
    from ..evaluation.results import RESULTS_FILE, ResultFormatError, load_results

    path = Path(path)
    if not path.is_dir():
        raise CtcError(f"stored anchor {path}: no such folder (a result store: results.csv + provenance.json)")
    try:
        table, prov = load_results(path)
    except (ResultFormatError, GfvcError) as e:
        raise CtcError(f"stored anchor {path}: {str(e).splitlines()[0]}") from None
    return StoredAnchor(path=path, table=table, provenance=prov, codecs=table.codecs,
                        results_sha256=sha256_file(path / RESULTS_FILE))


def _metric_identity(info: Any) -> dict[str, Any]:
    """What defines a metric's values: its settings and its weight files by content (not path)."""
    info = info if isinstance(info, dict) else {}
    out = {k: info.get(k) for k in METRIC_IDENTITY_KEYS}
    weights = out["weights"] if isinstance(out["weights"], dict) else {}
    out["weights"] = {role: (w.get("sha256") if isinstance(w, dict) else w) for role, w in weights.items()}
    return out


def anchor_rows(anchor: StoredAnchor, plan) -> tuple[list[Any], list[str]]:
    """(the anchor's rows for the plan's sequences, problems). Problems: a sequence of the run that
    the anchor lacks, or has with other content or another frame count. Metrics measured with
    another definition than the run's are emptied in the returned rows (noted in anchor.notes)."""
    from ..evaluation.results import ResultRow

    problems = []
    prov_seqs = {s.get("name"): s for s in anchor.provenance.get("sequences", []) if isinstance(s, dict)}
    sha_of = {t.sequence: t.input_sha256 for t in plan.tasks}
    wanted = [s for s in plan.sequences if s.name in sha_of]
    for s in wanted:
        rows = [r for r in anchor.table.rows if r.sequence == s.name and r.codec in anchor.codecs]
        if not rows:
            problems.append(f"stored anchor {anchor.path} has no RD points for sequence {s.name}")
            continue
        stored = prov_seqs.get(s.name, {})
        if stored.get("sha256") != sha_of[s.name]:
            problems.append(f"stored anchor {anchor.path} was computed on another {s.name} (sha256 "
                            f"{str(stored.get('sha256'))[:16]}..., this run's input {sha_of[s.name][:16]}...)")
        bad = sorted({r.frames for r in rows if r.frames != s.frames})
        if bad:
            problems.append(f"stored anchor {anchor.path} coded {bad[0]} frames of {s.name}, this run codes "
                            f"{s.frames}: name {','.join(anchor.codecs)} in --codecs to code it in this run")
    problems += model_file_problems(anchor)
    prov_metrics = anchor.provenance.get("metrics", {}) if isinstance(anchor.provenance.get("metrics"), dict) else {}
    differing, anchor.notes = [], []
    for name in plan.config.metrics:
        measured = any(r.metrics.get(name) is not None for r in anchor.table.rows)
        if measured and name not in plan.unavailable:
            if _metric_identity(prov_metrics.get(name)) != _metric_identity(plan.metric_info.get(name)):
                differing.append(name)
                anchor.notes.append(f"stored anchor {anchor.path}: metric {name} was measured with another "
                                    f"definition than this run's (options, weights or version): left out")
    names = {s.name for s in wanted}
    out = []
    for r in anchor.table.rows:
        if r.sequence in names and r.codec in anchor.codecs:
            metrics = {m: (None if m in differing else r.metrics.get(m)) for m in plan.config.metrics}
            out.append(ResultRow(r.sequence, r.dataset_class, r.codec, r.rate_point, r.frames, r.fps, r.bytes,
                                 r.kbps, metrics))
    return out, problems


MODEL_FILE_OPTIONS = ("model_config", "checkpoint")


def model_file_problems(anchor: StoredAnchor) -> list[str]:
    """A GFVC anchor coded with model files of this gfvc folder (a CTC configuration names them
    relative to it, e.g. models/hdac_small/checkpoint.pth.tar, and the provenance keeps them as
    written) must still find those files with the content it was coded with: a retrained model
    makes its stored RD points stale."""
    from .config import project_root

    problems = []
    for entry in anchor.provenance.get("codecs", []):
        if not isinstance(entry, dict) or entry.get("label") not in anchor.codecs:
            continue
        options, settings = entry.get("options") or {}, entry.get("settings") or {}
        for what in MODEL_FILE_OPTIONS:
            path, digest = options.get(what), settings.get(what)
            if not isinstance(path, str) or not isinstance(digest, str) or Path(path).is_absolute():
                continue
            try:
                full = project_root() / path
            except CtcError:
                continue
            if full.is_file() and sha256_file(full) != digest:
                problems.append(f"stored anchor {anchor.path} was coded with another {path} than this gfvc "
                                f"folder's (sha256 {digest[:16]}...): regenerate it (anchors/README.md)")
    return problems


def export_anchor(run_dir: Path, codec: str, out: Path, command: str | None = None) -> Path:
    """Write the result store of ``codec`` from a finished CTC run folder into ``out``."""
    from ..evaluation.results import ResultTable, load_results, write_results
    from .store import RunStore

    run_dir = Path(run_dir)
    try:
        table, prov = load_results(run_dir / "results")
    except GfvcError as e:
        raise CtcError(f"{run_dir}: {str(e).splitlines()[0]}") from None
    rows = [r for r in table.rows if r.codec == codec]
    if not rows:
        raise CtcError(f"{run_dir}: the result table has no codec {codec!r} (it has {', '.join(table.codecs)})")
    cells = [c for c in prov.get("cells", []) if c.get("codec") == codec]
    if any(c.get("status") != "finished" for c in cells):
        raise CtcError(f"{run_dir}: some cells of {codec} are not finished: finish the run first")
    store = RunStore(run_dir)
    commands = []
    for c in cells:
        rec = store.load_record(c["digest"]) or {}
        meta = rec.get("codec_metadata") or {}
        commands.append({"sequence": c["sequence"], "rate_point": c["rate_point"], "digest": c["digest"],
                         "bitstream_sha256": c.get("bitstream_sha256"),
                         **{k: meta[k] for k in ("encoder_command", "decoder_command", "base_layer_commands",
                                                 "checkpoint_sha256", "model_config_digest") if k in meta}})
    codec_prov = [c for c in prov.get("codecs", []) if c.get("label") == codec]
    sub = {k: v for k, v in prov.items() if k not in ("codecs", "cells", "bdrate")}
    sub.update({"anchor": codec, "exported_from": {"ctc": prov.get("ctc")},
                "codecs": codec_prov, "cells": commands})
    if command:
        sub["regenerate"] = command
    write_results(Path(out), ResultTable(rows, metrics=list(table.metrics)), sub)
    return Path(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog=PROG, description="Export the RD points of one codec of a finished CTC "
                                "run as a stored anchor (a result store usable by stored_anchors:).")
    p.add_argument("run", type=Path, help="the run folder (runs/ctc/<name>)")
    p.add_argument("--codec", required=True, help="the codec label to export")
    p.add_argument("-o", "--output", type=Path, required=True, help="the anchor folder (anchors/<set>/<codec>)")
    p.add_argument("--command", help="the command that produced the run (kept in the provenance)")
    args = p.parse_args(argv)
    try:
        out = export_anchor(args.run, args.codec, args.output, args.command)
    except GfvcError as e:
        print(f"{PROG}: error: {str(e).splitlines()[0]}", file=sys.stderr)
        return 2
    print(json.dumps({"anchor": str(out)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
