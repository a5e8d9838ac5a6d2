"""gfvc-crosscheck: decode every finished cell of a CTC run again, in fresh processes, and compare.

For each cell of a run folder (``cells/<digest>.json`` + ``.bin``) a worker process that never
encoded anything (a ``spawn`` pool: no model, decoder or cache of the run's processes is
reused) decodes the stored bitstream with the decoder alone and checks, against the record:

- the rate: size and SHA-256 of the ``.bin``, and the kbps recomputed from its size;
- the pictures: the MD5 of every decoded picture (``md5_per_picture``, planar RGB as gfvc-decode
  prints it) and, where the codec records them, the decoder-native MD5s
  (``codec_metadata.md5_per_picture``: HM-style YUV MD5s of the anchors);
- the rate breakdown the GFVC decoder reads from the stream;
- every metric, recomputed from the original sequence and the re-decoded pictures, per picture
  and mean: equal, or within ``--metric-tolerance``.

It writes ``crosscheck/report.md``, ``report.csv`` and ``report.json`` and exits 0 when every
cell matches, 1 when any differs (one line on stderr), 2 for bad input (one line).

``gfvc-crosscheck --export RUN_DIR PACKAGE_DIR`` writes a self-contained package (bitstreams,
records, MD5 logs, configurations, model configurations, checkpoint digests, results, a README);
``gfvc-crosscheck PACKAGE_DIR`` verifies it. See doc/ctc.md, "Cross-check".
"""
from __future__ import annotations

import argparse
import csv
import fcntl
import hashlib
import io
import json
import math
import os
import re
import shutil
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from ..errors import GfvcError
from ..files import MAX_CONFIG_BYTES, atomic_write_bytes, load_yaml_file, read_input_bytes, sha256_file
from .store import MAX_RECORD_BYTES, json_bytes, record_problem

PROG = "gfvc-crosscheck"
REPORT_FORMAT = "gfvc-crosscheck-report/1"
PACKAGE_FORMAT = "gfvc-crosscheck-package/1"
PACKAGE_FILE = "package.json"
#: conventional anchors: codec name -> coded standard (decoded with a base-layer decoder)
ANCHORS = {"hevc_anchor": "hevc", "vvc_anchor": "vvc"}
#: GFVC codecs (decoded with gfvc.codec.decoder.GfvcDecoder; the model is found by the stream's identity)
GFVC_CODECS = ("fomm", "cfte", "fv2v", "dac", "hdac", "mrdac", "rdac", "rdac_plus")
#: --decoder-backend values: FFmpeg-based decoders (any codec), the JVET apps (anchors of their standard)
STREAM_DECODERS = ("pyav", "ffmpeg", "dec265")
JVET_DECODERS = {"hm": "hevc", "vtm": "vvc"}
DECODER_BACKENDS = STREAM_DECODERS + tuple(JVET_DECODERS)


class CrossCheckError(GfvcError):
    """Bad input: not a run folder or package, a missing or damaged file, an impossible option."""


# ------------------------------------------------------------------------------------------
# the worker side (runs in a fresh process)
# ------------------------------------------------------------------------------------------

def _worker_init(env: dict[str, str]) -> None:
    from .cell import limit_threads

    os.environ.update(env)
    limit_threads()


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def _decode_anchor(job: dict[str, Any], data: bytes):
    """(RGB pictures, decoder-native MD5s, notes, decoder used) of a conventional anchor's stream."""
    from ..baselayer import get_backend, picture_md5_list
    from ..baselayer.decoders import decode_stream
    from ..io import yuv420_to_rgb

    settings = job["settings"]
    codec = ANCHORS[job["codec_name"]]
    backend = settings.get("backend") or {}
    chosen = job["decoder_backend"] or backend.get("decoder") or "pyav"
    if chosen not in DECODER_BACKENDS:  # a JVET backend records its app's path as 'decoder'
        chosen = backend.get("backend") if backend.get("backend") in JVET_DECODERS else "pyav"
    n, w, h = job["frames"], job["width"], job["height"]
    if chosen in JVET_DECODERS:
        dec = get_backend(chosen).decode(data, w, h, expected_frames=n)
    else:
        dec = decode_stream(data, codec, chosen, width=w, height=h, expected_frames=n)
    rgb = yuv420_to_rgb(dec.pictures.y, dec.pictures.u, dec.pictures.v, settings.get("matrix"))
    return rgb, picture_md5_list(dec.pictures), {}, f"{chosen} ({dec.decoder})"


def _decode_gfvc(job: dict[str, Any], data: bytes):
    from ..codec.decoder import GfvcDecoder

    base = job["decoder_backend"] or job["settings"].get("base_decoder") or "pyav"
    dec = GfvcDecoder(base_decoder=base, device=job["device"]).decode(data)
    return dec.pictures, dec.md5_per_picture, {"rate_breakdown": dict(dec.rate)}, f"GfvcDecoder (base layer: {base})"


def _diff(out: list, what: str, expected: Any, got: Any) -> None:
    out.append({"what": what, "expected": expected, "got": got})


def _compare_md5(out: list, what: str, expected: Any, got: list[str]) -> None:
    if not isinstance(expected, list):
        return
    if len(expected) != len(got):
        _diff(out, f"{what}: number of pictures", len(expected), len(got))
    for i, (a, b) in enumerate(zip(expected, got)):
        if a != b:
            _diff(out, f"{what}: picture {i}", a, b)


def _close(a: float, b: float, tol: float) -> bool:
    return a == b or (tol > 0 and math.isfinite(a) and math.isfinite(b) and abs(a - b) <= tol)


def check_cell(job: dict[str, Any]) -> dict[str, Any]:
    """Decode one cell's bitstream again and compare with its record. Never raises."""
    rec = job["record"]
    diffs: list[dict[str, Any]] = []
    notes: list[str] = []
    checked: dict[str, Any] = {"metrics": [], "not_checked": {}}
    result = {"digest": rec["digest"], "sequence": rec.get("sequence"), "codec": rec.get("codec"),
              "codec_name": rec.get("codec_name"), "rate_point": rec.get("rate_point"),
              "differences": diffs, "notes": notes, "checked": checked, "decoder": None}
    try:
        data = read_input_bytes(job["bitstream"], "bitstream", None)
        # -- rate ---------------------------------------------------------------------------
        if len(data) != rec["bytes"]:
            _diff(diffs, "bytes (size of the .bin)", rec["bytes"], len(data))
        sha = hashlib.sha256(data).hexdigest()
        if sha != rec["bitstream_sha256"]:
            _diff(diffs, "bitstream SHA-256", rec["bitstream_sha256"], sha)
        kbps = len(data) * 8 / 1000 / (rec["frames"] / rec["fps"])
        if kbps != rec["kbps"]:
            _diff(diffs, "kbps (8 x bytes / duration)", rec["kbps"], kbps)
        # -- decoding -----------------------------------------------------------------------
        try:
            if job["codec_name"] in ANCHORS:
                pictures, native_md5, extra, used = _decode_anchor(job, data)
            else:
                pictures, native_md5, extra, used = _decode_gfvc(job, data)
        except Exception as e:  # noqa: BLE001 - a stream that does not decode is this cell's mismatch
            _diff(diffs, "decoding", "decodes", f"failed: {_one_line(e)}")
            return result
        result["decoder"] = used
        import numpy as np

        from .cell import decoded_md5_list

        pictures = np.asarray(pictures)
        want_shape = (rec["frames"], job["height"], job["width"], 3)
        if pictures.shape != want_shape or pictures.dtype != np.uint8:
            _diff(diffs, "decoded pictures", f"uint8 {want_shape}", f"{pictures.dtype} {pictures.shape}")
            return result
        md5 = decoded_md5_list(pictures)
        result["md5_per_picture"] = md5
        checked["pictures"] = len(md5)
        if isinstance(rec.get("md5_per_picture"), list):
            _compare_md5(diffs, "MD5", rec["md5_per_picture"], md5)
            checked["md5"] = "md5_per_picture"
        meta = rec.get("codec_metadata") or {}
        if isinstance(meta.get("md5_per_picture"), list):
            _compare_md5(diffs, "decoder MD5", meta["md5_per_picture"], native_md5)
            checked["decoder_md5"] = "codec_metadata.md5_per_picture"
        if not isinstance(rec.get("md5_per_picture"), list) and not isinstance(meta.get("md5_per_picture"), list):
            notes.append("the record holds no per-picture MD5s: pictures checked through the metrics only")
        _check_decoded_file(job, rec, md5, diffs, notes)
        if "rate_breakdown" in extra and isinstance(meta.get("rate_breakdown"), dict):
            if extra["rate_breakdown"] != meta["rate_breakdown"]:
                _diff(diffs, "rate breakdown", meta["rate_breakdown"], extra["rate_breakdown"])
        # -- metrics --------------------------------------------------------------------------
        if rec.get("metrics"):
            _check_metrics(job, rec, pictures, diffs, notes, checked)
    except Exception as e:  # noqa: BLE001 - reported as this cell's problem
        _diff(diffs, "cross-check", "completes", f"failed: {_one_line(e)}")
    return result


def _check_decoded_file(job, rec, md5: list[str], diffs, notes) -> None:
    """The pictures the run kept (``--keep-decoded``: planar R, G, B per picture) against the
    re-decoded ones, picture by picture."""
    if not isinstance(rec.get("decoded_file"), str):
        return
    path = Path(job["run_dir"]) / rec["decoded_file"]
    if not path.is_file():
        notes.append(f"the decoded pictures the run kept ({rec['decoded_file']}) are not here: not compared")
        return
    size = 3 * job["width"] * job["height"]
    data = read_input_bytes(path, "decoded pictures", None)
    if len(data) != size * len(md5):
        _diff(diffs, "decoded file: size", size * len(md5), len(data))
        return
    for i, redecoded in enumerate(md5):
        kept = hashlib.md5(data[i * size:(i + 1) * size]).hexdigest()
        if kept != redecoded:
            _diff(diffs, f"decoded file: picture {i}", kept, redecoded)


def _check_metrics(job, rec, pictures, diffs, notes, checked) -> None:
    import numpy as np

    from .. import __version__
    from ..io import read_sequence
    from ..metrics import MetricUnavailable, get_metric
    from .digest import metric_digest

    frames = read_sequence(job["sequence_path"], num_frames=rec["frames"])
    tol = job["metric_tolerance"]
    for name in sorted(rec["metrics"]):
        stored = rec["metrics"][name]
        options = job["metric_options"].get(name) or {}
        try:
            metric = get_metric(name, **options)
            if metric_digest(name, options, metric.weights_info(), __version__, metric.version) != stored["digest"]:
                notes.append(f"metric {name}: its identity here differs from the run's (other gfvc version, "
                             "options or weight files); values compared anyway")
            res = metric.compute(frames, pictures)
        except MetricUnavailable as e:
            checked["not_checked"][name] = e.reason
            continue
        except (GfvcError, KeyError, ValueError, TypeError) as e:
            checked["not_checked"][name] = _one_line(e)
            continue
        checked["metrics"].append(name)
        per = [float(x) for x in np.asarray(res.per_picture, dtype=np.float64).ravel()]
        # values as the record stores them (JSON round trip of a float is exact)
        want = stored["per_picture"]
        if len(per) != len(want):
            _diff(diffs, f"metric {name}: number of pictures", len(want), len(per))
        for i, (a, b) in enumerate(zip(want, per)):
            if not _close(float(a), b, tol):
                _diff(diffs, f"metric {name}: picture {i}", a, b)
        if not _close(float(stored["mean"]), float(res.mean), tol):
            _diff(diffs, f"metric {name}: mean", stored["mean"], float(res.mean))


# ------------------------------------------------------------------------------------------
# the driver: read the run folder, plan the jobs, run them in fresh processes, report
# ------------------------------------------------------------------------------------------

def _load_json(path: Path, what: str, limit: int) -> Any:
    try:
        return json.loads(read_input_bytes(path, what, limit))
    except OSError as e:
        raise CrossCheckError(str(e) if isinstance(e, GfvcError) else f"{path}: cannot read the {what} "
                              f"({e.strerror or e})") from None
    except (ValueError, RecursionError):
        raise CrossCheckError(f"{path}: the {what} is not valid JSON (damaged?)") from None


def load_records(run_dir: Path) -> list[dict[str, Any]]:
    """Every cell record of a run folder or package, checked; CrossCheckError for bad input."""
    if not run_dir.exists():
        raise CrossCheckError(f"{run_dir}: no such folder")
    if not run_dir.is_dir():
        raise CrossCheckError(f"{run_dir}: not a folder (give a gfvc-ctc run folder or a cross-check package)")
    cells = run_dir / "cells"
    if not cells.is_dir():
        raise CrossCheckError(f"{run_dir}: not a gfvc-ctc run folder or cross-check package (no cells/ folder)")
    paths = sorted(p for p in cells.glob("*.json") if not p.name.startswith("."))
    if not paths:
        raise CrossCheckError(f"{run_dir}: the run has no finished cell (cells/*.json)")
    records = []
    for path in paths:
        rec = _load_json(path, "cell record", MAX_RECORD_BYTES)
        problem = record_problem(rec, path.stem)
        identity = rec.get("identity") if problem is None else None
        if problem is None and not (isinstance(identity, dict) and isinstance(identity.get("sequence"), dict)
                                    and isinstance(identity.get("codec"), dict)
                                    and isinstance(identity["codec"].get("settings"), dict)):
            problem = "its identity lacks the sequence or the codec settings"
        if problem is not None:
            raise CrossCheckError(f"{path}: damaged cell record ({problem})")
        bin_path = cells / f"{path.stem}.bin"
        if not bin_path.is_file():
            raise CrossCheckError(f"{path}: its bitstream {bin_path.name} is missing")
        records.append(rec)
    return records


def _sort_key(rec: dict[str, Any]):
    return (str(rec.get("sequence")), str(rec.get("codec")), json.dumps(rec.get("rate_point")), rec["digest"])


def _read_run_yaml(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "run.yaml"
    if not path.is_file():
        return {}
    try:
        data = load_yaml_file(path, "run configuration snapshot")
    except GfvcError as e:
        raise CrossCheckError(str(e)) from None
    return data if isinstance(data, dict) else {}


def _find_sequences(records, snapshot: dict[str, Any], folder: Path | None) -> dict[str, Path]:
    """Input file of every sequence the records name (by SHA-256 check): from --sequences, else
    from the run's configuration snapshot. CrossCheckError naming what is missing."""
    from .digest import FileHashCache

    known: dict[str, Path] = {}
    for s in snapshot.get("sequences") or []:
        if isinstance(s, dict) and isinstance(s.get("name"), str) and isinstance(s.get("file"), str):
            known[s["name"]] = Path(s["file"])
    hashes = FileHashCache(None)
    found: dict[str, Path] = {}
    for rec in records:
        seq = rec["identity"].get("sequence") or {}
        sha = seq.get("sha256")
        if sha in found or not rec.get("metrics"):
            continue
        name, file = seq.get("name"), seq.get("file")
        candidates: list[Path] = []
        if folder is not None:
            candidates.append(folder / str(file))
            candidates += sorted(p for p in folder.rglob(str(file)) if p != folder / str(file))
        elif name in known:
            candidates.append(known[name])
        path = next((p for p in candidates if p.is_file()), None)
        if path is None:
            where = f"in {folder}" if folder is not None else (
                f"at {known[name]}" if name in known else "in the run's run.yaml")
            raise CrossCheckError(f"sequence {name} ({file}) not found {where}: give --sequences FOLDER")
        got = hashes.sha256(path)
        if got != sha:
            raise CrossCheckError(f"{path}: not the sequence the run coded (SHA-256 {got[:12]}..., the run's "
                                  f"{str(sha)[:12]}...)")
        found[sha] = path
    return found


def _model_files(run_dir: Path, snapshot: dict[str, Any]) -> list[Path]:
    """Model configurations and checkpoints the run (or package) names that exist here."""
    files: list[Path] = []
    base = Path(str(snapshot.get("source") or run_dir / "run.yaml")).parent
    for c in snapshot.get("codecs") or []:
        options = c.get("options") if isinstance(c, dict) else None
        for key in ("model_config", "checkpoint"):
            value = options.get(key) if isinstance(options, dict) else None
            if isinstance(value, str):
                p = Path(value) if Path(value).is_absolute() else base / value
                if p.is_file():
                    files.append(p)
    if (run_dir / "models").is_dir():
        files += sorted(p for p in (run_dir / "models").iterdir() if p.is_file())
    return files


def _model_dir(files: list[Path], tmp: Path) -> Path:
    """A folder of links to the model files (the decoder finds a model by the stream's identity
    among the files of a folder; linking keeps their neighbours out of the search)."""
    from ..codec.model_source import CHECKPOINT_SUFFIXES, CONFIG_SUFFIXES

    d = tmp / "models"
    d.mkdir()
    for i, f in enumerate(dict.fromkeys(p.resolve() for p in files)):
        suffix = next((s for s in CONFIG_SUFFIXES + CHECKPOINT_SUFFIXES if f.name.endswith(s)), "")
        if not suffix:
            suffix = ".pth" if not f.name.endswith(CONFIG_SUFFIXES) else ".yaml"
        (d / f"m{i:03d}{suffix}").symlink_to(f)
    return d


def _check_options(records, decoder_backend: str | None, device: str) -> None:
    problems = []
    for rec in records:
        name = rec.get("codec_name")
        if name not in ANCHORS and name not in GFVC_CODECS:
            problems.append(f"codec {name!r} (cell {rec['digest'][:12]}): gfvc-crosscheck cannot decode it "
                            f"(it decodes {', '.join(ANCHORS)} and the GFVC codecs)")
        elif decoder_backend in JVET_DECODERS and (name in GFVC_CODECS or ANCHORS[name] != JVET_DECODERS[decoder_backend]):
            problems.append(f"--decoder-backend {decoder_backend} cannot decode {rec.get('codec')} cells "
                            f"({'a GFVC stream' if name in GFVC_CODECS else ANCHORS[name].upper()})")
        elif decoder_backend == "dec265" and ANCHORS.get(name) == "vvc":
            problems.append(f"--decoder-backend dec265 decodes HEVC only, not the VVC cells of {rec.get('codec')}")
    if problems:
        raise CrossCheckError(sorted(set(problems))[0] + (f" (and {len(set(problems)) - 1} more)"
                                                          if len(set(problems)) > 1 else ""))
    if decoder_backend in JVET_DECODERS and records:
        from ..baselayer import get_backend

        try:
            get_backend(decoder_backend)._exe("decoder")  # the app must be there before any work
        except GfvcError as e:
            raise CrossCheckError(f"--decoder-backend {decoder_backend}: {str(e).splitlines()[0]}") from None
    if device.startswith("cuda") and any(r.get("codec_name") in GFVC_CODECS for r in records):
        import torch

        if not torch.cuda.is_available():
            raise CrossCheckError(f"--device {device}: no CUDA device is available here")


def _lock(run_dir: Path):
    """Refuse to check a run that a gfvc-ctc process is writing (its run lock)."""
    lock = run_dir / ".lock"
    if not lock.is_file():
        return None
    try:
        fd = os.open(lock, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise CrossCheckError(f"{run_dir}: a gfvc-ctc process is running in this folder; check it when it is done") from None
    return fd


def crosscheck(run_dir: Path, report_dir: Path | None = None, sequences: Path | None = None,
               decoder_backend: str | None = None, device: str = "cpu", workers: int = 1,
               models: list[Path] | None = None, metric_tolerance: float = 0.0) -> dict[str, Any]:
    """Check every finished cell of ``run_dir``; writes the reports, returns the JSON report."""
    run_dir = Path(run_dir)
    records = sorted(load_records(run_dir), key=_sort_key)
    lock_fd = _lock(run_dir)
    try:
        snapshot = _read_run_yaml(run_dir)
        _check_options(records, decoder_backend, device)
        seq_paths = _find_sequences(records, snapshot, sequences)
        metric_options = snapshot.get("metric_options") if isinstance(snapshot.get("metric_options"), dict) else {}
        with tempfile.TemporaryDirectory(prefix="gfvc-crosscheck-") as tmp:
            model_dir = _model_dir(_model_files(run_dir, snapshot), Path(tmp))
            search = [str(model_dir), *(str(Path(m).resolve()) for m in models or ()),
                      *(p for p in os.environ.get("GFVC_MODEL_PATH", "").split(os.pathsep) if p)]
            env = {"GFVC_MODEL_PATH": os.pathsep.join(search)}
            jobs = []
            for rec in records:
                seq = rec["identity"].get("sequence") or {}
                jobs.append({"record": rec, "run_dir": str(run_dir), "bitstream": str(run_dir / "cells" / f"{rec['digest']}.bin"),
                             "codec_name": rec.get("codec_name"), "settings": rec["identity"]["codec"]["settings"],
                             "frames": rec["frames"], "width": seq.get("width"), "height": seq.get("height"),
                             "sequence_path": str(seq_paths.get(seq.get("sha256"), "")),
                             "metric_options": metric_options, "decoder_backend": decoder_backend,
                             "device": device, "metric_tolerance": metric_tolerance})
            results = _run_jobs(jobs, workers, env)
    finally:
        if lock_fd is not None:
            os.close(lock_fd)
    return write_reports(run_dir, report_dir or run_dir / "crosscheck", results, decoder_backend, device,
                         metric_tolerance, records)


def _run_jobs(jobs: list[dict[str, Any]], workers: int, env: dict[str, str]) -> list[dict[str, Any]]:
    """Each job in a fresh worker process (spawn: nothing of this process is inherited)."""
    ctx = get_context("spawn")
    results: list[dict[str, Any] | None] = [None] * len(jobs)
    with ProcessPoolExecutor(max_workers=max(1, min(workers, len(jobs))), mp_context=ctx,
                             initializer=_worker_init, initargs=(env,)) as pool:
        futures = [pool.submit(check_cell, j) for j in jobs]
        for i, fut in enumerate(futures):
            try:
                results[i] = fut.result()
            except BrokenProcessPool:
                rec = jobs[i]["record"]
                results[i] = {"digest": rec["digest"], "sequence": rec.get("sequence"), "codec": rec.get("codec"),
                              "codec_name": rec.get("codec_name"), "rate_point": rec.get("rate_point"),
                              "differences": [{"what": "cross-check", "expected": "completes",
                                               "got": "the worker process died"}],
                              "notes": [], "checked": {"metrics": [], "not_checked": {}}, "decoder": None}
    return results  # type: ignore[return-value]


# ------------------------------------------------------------------------------------------
# reports
# ------------------------------------------------------------------------------------------

def _rp(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _cell_text(v: Any) -> str:
    return v if isinstance(v, str) else json.dumps(v, sort_keys=True)


def write_reports(run_dir: Path, out: Path, results, decoder_backend, device, tol, records) -> dict[str, Any]:
    from .. import __version__

    mismatched = [r for r in results if r["differences"]]
    for r in results:
        r["status"] = "mismatch" if r["differences"] else "match"
    versions = sorted({str((rec.get("computed") or {}).get("gfvc_version")) for rec in records})
    report = {"format": REPORT_FORMAT, "run": str(run_dir), "gfvc_version": __version__,
              "run_gfvc_versions": versions, "decoder_backend": decoder_backend or "the run's",
              "device": device, "metric_tolerance": tol, "cells": len(results),
              "matching": len(results) - len(mismatched), "mismatching": len(mismatched),
              "all_match": not mismatched, "results": results}
    # CSV: one row per difference, one row per matching cell
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["digest", "sequence", "codec", "rate_point", "status", "what", "expected", "got"])
    for r in results:
        base = [r["digest"], r["sequence"], r["codec"], _rp(r["rate_point"]), r["status"]]
        if not r["differences"]:
            w.writerow(base + ["", "", ""])
        for d in r["differences"]:
            w.writerow(base + [d["what"], _cell_text(d["expected"]), _cell_text(d["got"])])
    md = [f"# Cross-check of {run_dir}", "",
          f"gfvc {__version__} (the run: {', '.join(versions)}); decoder: {report['decoder_backend']}; "
          f"device: {device}; metric tolerance: {tol:g}", "",
          f"**{'All cells match' if not mismatched else 'MISMATCH'}**: {report['matching']} of {len(results)} "
          f"cells match, {len(mismatched)} differ.", ""]
    if mismatched:
        md += ["## Mismatches", "", "| cell | sequence | codec | rate point | what | expected | got |",
               "|---|---|---|---|---|---|---|"]
        for r in mismatched:
            for d in r["differences"]:
                md.append(f"| {r['digest'][:12]} | {r['sequence']} | {r['codec']} | {_rp(r['rate_point'])} | "
                          f"{d['what']} | {_md(d['expected'])} | {_md(d['got'])} |")
        md.append("")
    md += ["## Cells", "", "| cell | sequence | codec | rate point | status | pictures | metrics checked | "
           "not checked | decoder |", "|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        nc = "; ".join(f"{k} ({v})" for k, v in sorted(r["checked"].get("not_checked", {}).items()))
        md.append(f"| {r['digest'][:12]} | {r['sequence']} | {r['codec']} | {_rp(r['rate_point'])} | {r['status']} | "
                  f"{r['checked'].get('pictures', '')} | {', '.join(r['checked'].get('metrics', []))} | {_md(nc)} | "
                  f"{r['decoder'] or ''} |")
    notes = sorted({f"{n}" for r in results for n in r["notes"]})
    if notes:
        md += ["", "## Notes", ""] + [f"- {n}" for n in notes]
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out / "report.json", json_bytes(report))
    atomic_write_bytes(out / "report.csv", buf.getvalue().encode())
    atomic_write_bytes(out / "report.md", ("\n".join(md) + "\n").encode())
    return report


def _md(v: Any) -> str:
    return _cell_text(v).replace("|", "\\|")[:200]


# ------------------------------------------------------------------------------------------
# export
# ------------------------------------------------------------------------------------------

def md5_log(rec: dict[str, Any]) -> str:
    """HM-style MD5 lines of a cell's decoded pictures (as gfvc-decode prints them)."""
    from ..baselayer import hm_md5_line

    lines = [f"# {rec.get('sequence')} {rec.get('codec')} {_rp(rec.get('rate_point'))} cell {rec['digest']}",
             "# MD5 of each decoded picture, planar R, G, B (gfvc-decode)"]
    lines += [hm_md5_line(i, m) for i, m in enumerate(rec.get("md5_per_picture") or [])]
    native = (rec.get("codec_metadata") or {}).get("md5_per_picture")
    if rec.get("codec_name") in ANCHORS and isinstance(native, list):
        lines.append("# the decoder's MD5 per picture, Y,Cb,Cr (HM/VTM style)")
        lines += [hm_md5_line(i, m) for i, m in enumerate(native)]
    return "\n".join(lines) + "\n"


README = """# Cross-check package of a gfvc CTC run

Verify it with one command (gfvc {version} installed):

    gfvc-crosscheck {name} --sequences FOLDER_WITH_THE_SEQUENCES

Exit status 0: every cell's bitstream decodes to the recorded pictures (MD5 per picture), at the
recorded rate, with the recorded metric values. 1: some cell differs (report in
`crosscheck/report.md`, `.csv`, `.json`; `--report-dir` to write it elsewhere). 2: bad input.

Contents:
- `cells/<digest>.json`, `cells/<digest>.bin`: each cell's record and its bitstream (one Annex-B file),
- `md5/<digest>.md5`: the decoded pictures' MD5s, one HM-style line per picture,
- `run.yaml`: the run's resolved configuration; `config/`: the CTC configuration it was started with;
  `models/`: the model configurations the GFVC codecs used,
- `results/`, `report/`: the run's tables,
- `package.json`: the cells, the sequences (file name and SHA-256) and the checkpoints.

The sequences are not included: give the folder that holds them with `--sequences` (found by
file name, checked by SHA-256). Model weights are not included either: the GFVC cells need these
checkpoints, found by content (SHA-256) in the folders of `GFVC_MODEL_PATH` or `--models FOLDER`:

{checkpoints}
"""


def export_package(run_dir: Path, package: Path) -> dict[str, Any]:
    run_dir = Path(run_dir)
    records = sorted(load_records(run_dir), key=_sort_key)
    if package.exists() and (not package.is_dir() or any(package.iterdir())):
        raise CrossCheckError(f"{package}: exists and is not an empty folder; give a new folder")
    try:
        if package.resolve().is_relative_to(run_dir.resolve()):
            raise CrossCheckError(f"{package}: inside the run folder; give a folder outside it")
    except OSError:
        pass
    snapshot = _read_run_yaml(run_dir)
    for rec in records:  # export only what holds up
        data = read_input_bytes(run_dir / "cells" / f"{rec['digest']}.bin", "bitstream", None)
        if len(data) != rec["bytes"] or hashlib.sha256(data).hexdigest() != rec["bitstream_sha256"]:
            raise CrossCheckError(f"{run_dir / 'cells' / (rec['digest'] + '.bin')}: not the bitstream its record "
                                  "names (damaged?); not exported")
    from .. import __version__

    sequences: dict[str, Any] = {}
    checkpoints: dict[str, Any] = {}
    for rec in records:
        seq = rec["identity"].get("sequence") or {}
        sequences[seq.get("sha256")] = {k: seq.get(k) for k in ("name", "file", "sha256", "frames", "width",
                                                                  "height", "fps")}
        settings = rec["identity"]["codec"]["settings"]
        if rec.get("codec_name") in GFVC_CODECS:
            c = checkpoints.setdefault(str(settings.get("checkpoint")), {
                "family": settings.get("family") or rec.get("codec_name"), "sha256": settings.get("checkpoint"),
                "model_config_sha256": settings.get("model_config"), "codecs": []})
            if rec.get("codec") not in c["codecs"]:
                c["codecs"] = sorted(c["codecs"] + [str(rec.get("codec"))])
    # the model configurations (small, not weights) the GFVC cells were coded with, found first
    wanted = {c["model_config_sha256"] for c in checkpoints.values()}
    config_files: dict[str, Path] = {}
    for f in _model_files(run_dir, snapshot):
        if f.name.endswith((".yaml", ".yml")):
            config_files.setdefault(sha256_file(f), f)
    for c in checkpoints.values():
        if c["model_config_sha256"] not in config_files:
            raise CrossCheckError(f"the {c['family']} model configuration (SHA-256 "
                                  f"{str(c['model_config_sha256'])[:12]}...) the run names in run.yaml is not found")
    source = Path(str(snapshot["source"])) if snapshot.get("source") else None
    try:
        package.mkdir(parents=True, exist_ok=True)
        (package / "cells").mkdir()
        (package / "md5").mkdir()
        for rec in records:
            for ext in (".json", ".bin"):
                shutil.copyfile(run_dir / "cells" / f"{rec['digest']}{ext}", package / "cells" / f"{rec['digest']}{ext}")
            (package / "md5" / f"{rec['digest']}.md5").write_text(md5_log(rec))
        if (run_dir / "run.yaml").is_file():
            shutil.copyfile(run_dir / "run.yaml", package / "run.yaml")
        if source is not None and source.is_file():  # the CTC configuration the run was started with
            (package / "config").mkdir()
            shutil.copyfile(source, package / "config" / source.name)
        for sub in ("results", "report"):
            if (run_dir / sub).is_dir():
                shutil.copytree(run_dir / sub, package / sub)
        configs = []
        for sha in sorted(wanted):
            (package / "models").mkdir(exist_ok=True)
            dest = package / "models" / f"{sha[:16]}_{config_files[sha].name}"
            shutil.copyfile(config_files[sha], dest)
            configs.append(str(dest.relative_to(package)))
        manifest = {"format": PACKAGE_FORMAT, "gfvc_version": __version__, "source_run": str(run_dir.resolve()),
                    "cells": [{"digest": r["digest"], "sequence": r.get("sequence"), "codec": r.get("codec"),
                               "rate_point": r.get("rate_point"), "bytes": r["bytes"],
                               "bitstream_sha256": r["bitstream_sha256"]} for r in records],
                    "sequences": sorted(sequences.values(), key=lambda s: str(s["name"])),
                    "checkpoints": sorted(checkpoints.values(), key=lambda c: str(c["sha256"])),
                    "model_configs": configs}
        (package / PACKAGE_FILE).write_bytes(json_bytes(manifest))
        lines = [f"- {c['family']} ({', '.join(c['codecs'])}): checkpoint SHA-256 `{c['sha256']}`"
                 for c in manifest["checkpoints"]] or ["(none: this run has no GFVC cell)"]
        (package / "README.md").write_text(README.format(version=__version__, name=package.name,
                                                         checkpoints="\n".join(lines)))
    except OSError as e:
        if isinstance(e, GfvcError):
            raise
        raise CrossCheckError(f"cannot write the package {package}: {e.strerror or e}") from None
    return manifest


# ------------------------------------------------------------------------------------------
# command line
# ------------------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG, description="Decode every finished cell of a gfvc-ctc run again in fresh processes and "
        "compare pictures (MD5), rate and metrics with the run's records; or export a cross-check package.",
        epilog="Exit status: 0 every cell matches, 1 a cell differs, 2 bad input. See doc/ctc.md, 'Cross-check'.")
    p.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="a gfvc-ctc run folder or a cross-check package")
    p.add_argument("package_dir", type=Path, nargs="?", metavar="PACKAGE_DIR", help="with --export: the new package")
    p.add_argument("--export", action="store_true", help="write a cross-check package of RUN_DIR into PACKAGE_DIR")
    p.add_argument("--decoder-backend", choices=DECODER_BACKENDS,
                   help="decoder of the (base-layer) streams: pyav, ffmpeg, dec265 (HEVC), hm (HEVC anchors), "
                   "vtm (VVC anchors); default: the one the run used")
    p.add_argument("--device", default="cpu", help="device of the GFVC models (cpu, cuda, cuda:1; default cpu)")
    p.add_argument("-j", "--workers", type=int, default=1, metavar="N", help="worker processes (default 1)")
    p.add_argument("--sequences", type=Path, metavar="FOLDER",
                   help="folder holding the original sequences (default: the paths in the run's run.yaml)")
    p.add_argument("--models", type=Path, action="append", metavar="FOLDER",
                   help="a folder with model checkpoints/configurations (also GFVC_MODEL_PATH)")
    p.add_argument("--report-dir", type=Path, metavar="FOLDER", help="where the report goes (default RUN_DIR/crosscheck)")
    p.add_argument("--metric-tolerance", type=float, default=0.0, metavar="X",
                   help="largest absolute metric difference taken as equal (default 0: exact)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    def fail(msg: str) -> int:
        print(f"{PROG}: error: {msg}", file=sys.stderr)
        return 2

    if args.export != (args.package_dir is not None):
        return fail("--export needs RUN_DIR and PACKAGE_DIR" if args.export else
                    f"a second folder ({args.package_dir}) is only for --export")
    if args.workers < 1:
        return fail(f"-j must be a positive whole number, got {args.workers}")
    if not (args.metric_tolerance >= 0 and math.isfinite(args.metric_tolerance)):
        return fail(f"--metric-tolerance must be a finite number >= 0, got {args.metric_tolerance}")
    if not re.fullmatch(r"cpu|cuda(:[0-9]+)?", args.device):
        return fail(f"--device must be cpu, cuda or cuda:N, got {args.device!r}")
    for what, folder in (("--sequences", args.sequences), *(("--models", m) for m in args.models or ())):
        if folder is not None and not folder.is_dir():
            return fail(f"{what} {folder}: not a folder")
    try:
        if args.export:
            manifest = export_package(args.run_dir, args.package_dir)
            print(f"{PROG}: wrote {args.package_dir} ({len(manifest['cells'])} cells); verify it with: "
                  f"{PROG} {args.package_dir}")
            return 0
        report = crosscheck(args.run_dir, args.report_dir, args.sequences, args.decoder_backend, args.device,
                            args.workers, args.models, args.metric_tolerance)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except (GfvcError, OSError) as e:
        return fail(str(e).splitlines()[0] if str(e) else type(e).__name__)
    where = (args.report_dir or args.run_dir / "crosscheck") / "report.md"
    if report["all_match"]:
        print(f"{PROG}: all {report['cells']} cells match ({where})")
        return 0
    bad = [r for r in report["results"] if r["differences"]]
    first = bad[0]
    print(f"{PROG}: {len(bad)} of {report['cells']} cells differ, e.g. {first['sequence']}/{first['codec']}/"
          f"{_rp(first['rate_point'])} ({first['differences'][0]['what']}); see {where}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
