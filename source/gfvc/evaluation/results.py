"""The result store: RD points as a tidy table (``results.csv``) plus a provenance record
(``provenance.json``). Anchors in ``anchors/`` and CTC outputs use the same format.

``results.csv``: one row per (codec, sequence, rate point); columns ``RESULT_COLUMNS`` then one
column per metric (registry names). An empty metric cell means "not computed" (the metric was
unavailable; provenance says why). Floats are written with fixed formats and rows are sorted,
so the same table always gives the same bytes.
"""
from __future__ import annotations

import csv
import io
import json
import math
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import FileProblem, GfvcError
from ..files import MAX_CONFIG_BYTES, read_input_text
from ..io.sequence import atomic_write_bytes

RESULT_COLUMNS = ("sequence", "dataset_class", "codec", "rate_point", "frames", "fps", "bytes", "kbps")
RESULTS_FILE = "results.csv"
PROVENANCE_FILE = "provenance.json"
KBPS_FORMAT = "{:.4f}"
FPS_FORMAT = "{:.6g}"
METRIC_FORMAT = "{:.6f}"
_METRIC_NAME = re.compile(r"^[a-z][a-z0-9_]*$")

#: the text columns of a row; each holds a name (printed in tables, sheets and plots)
NAME_COLUMNS = ("sequence", "dataset_class", "codec", "rate_point")
MAX_NAME_CHARS = 200
#: a results.csv is read whole; this bounds it (about 300,000 rows)
MAX_RESULTS_BYTES = 64 << 20
#: provenance records are small trees; deeper nesting is refused before anything walks it
MAX_PROVENANCE_DEPTH = 64

CLASS_BY_PREFIX = {"VOXCELEB_": "VoxCeleb", "CFVQA_": "CFVQA"}
ALL_CLASSES = "All"


class ResultFormatError(GfvcError, ValueError):
    """A result store that does not follow the format; the message names the file and row."""


def name_problem(text: str) -> str | None:
    """Why ``text`` cannot be a codec, sequence, rate-point or class name (None when it can): names
    are 1 to MAX_NAME_CHARS characters without control or format characters (NUL, newline, tab,
    bidirectional overrides), which no table, spreadsheet or terminal shows faithfully."""
    if not text:
        return "is empty"
    if len(text) > MAX_NAME_CHARS:
        return f"is {len(text)} characters long (at most {MAX_NAME_CHARS})"
    for ch in text:
        if unicodedata.category(ch).startswith("C"):
            return f"holds the control or format character U+{ord(ch):04X}"
    return None


def json_depth_problem(value, limit: int = MAX_PROVENANCE_DEPTH) -> str | None:
    """None when ``value`` (parsed JSON) nests at most ``limit`` containers deep (walked without
    recursion), else a short reason."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list, tuple)):
            if depth > limit:
                return f"nests more than {limit} levels deep"
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return None


def dataset_class_of(sequence: str, fallback: str | None = None) -> str:
    """VOXCELEB_* -> VoxCeleb, CFVQA_* -> CFVQA; other sequences keep the class they were given."""
    for prefix, cls in CLASS_BY_PREFIX.items():
        if sequence.upper().startswith(prefix):
            return cls
    if not fallback:
        raise ResultFormatError(f"sequence {sequence!r} is neither VOXCELEB_* nor CFVQA_* and has no dataset_class")
    return fallback


def rd_order(rate_point: str) -> tuple:
    """Natural sort key ("QP22" < "QP102"); numbers compare as numbers."""
    return tuple((0, int(t), "") if t.isdigit() else (1, 0, t) for t in re.findall(r"\d+|\D+", str(rate_point)))


@dataclass
class ResultRow:
    sequence: str
    dataset_class: str
    codec: str
    rate_point: str
    frames: int
    fps: float
    bytes: int
    kbps: float
    metrics: dict[str, float | None] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, d: dict) -> "ResultRow":
        metrics = dict(d.get("metrics") or {})
        metrics.update({k: v for k, v in d.items() if k not in RESULT_COLUMNS and k != "metrics"})
        return cls(sequence=str(d["sequence"]), dataset_class=str(d.get("dataset_class") or ""),
                   codec=str(d["codec"]), rate_point=str(d["rate_point"]), frames=int(d["frames"]),
                   fps=float(d["fps"]), bytes=int(d["bytes"]), kbps=float(d["kbps"]),
                   metrics={k: (None if v is None or v == "" else float(v)) for k, v in metrics.items()})

    def sort_key(self) -> tuple:
        return (self.codec, self.dataset_class, self.sequence, rd_order(self.rate_point))


class ResultTable:
    """RD points of one or more codecs; rows are ``ResultRow`` (dicts are converted)."""

    def __init__(self, rows=(), metrics: list[str] | None = None):
        self.rows: list[ResultRow] = [r if isinstance(r, ResultRow) else ResultRow.from_dict(r) for r in rows]
        for r in self.rows:
            if not r.dataset_class:
                r.dataset_class = dataset_class_of(r.sequence)
        seen = metrics if metrics is not None else sorted({m for r in self.rows for m in r.metrics})
        self.metrics: list[str] = list(seen)

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def codecs(self) -> list[str]:
        return sorted({r.codec for r in self.rows})

    @property
    def sequences(self) -> list[str]:
        return sorted({r.sequence for r in self.rows})

    def sorted_rows(self) -> list[ResultRow]:
        return sorted(self.rows, key=ResultRow.sort_key)

    def select(self, codec: str, sequence: str) -> list[ResultRow]:
        """The RD points of one codec on one sequence, lowest rate first."""
        return sorted((r for r in self.rows if r.codec == codec and r.sequence == sequence), key=lambda r: r.kbps)

    def class_of(self, sequence: str) -> str:
        return next(r.dataset_class for r in self.rows if r.sequence == sequence)

    def merged(self, other: "ResultTable") -> "ResultTable":
        metrics = list(self.metrics) + [m for m in other.metrics if m not in self.metrics]
        return ResultTable(self.rows + other.rows, metrics)


def _format_float(fmt: str, x: float | None) -> str:
    if x is None:
        return ""
    if not math.isfinite(x):
        raise ResultFormatError(f"cannot store a non-finite value {x!r}")
    s = fmt.format(x)
    return "0" + s[2:] if s.startswith("-0") and float(s) == 0 else s  # no "-0.000000"


def results_csv_bytes(table: ResultTable) -> bytes:
    for m in table.metrics:
        if not _METRIC_NAME.match(m) or m in RESULT_COLUMNS:
            raise ResultFormatError(f"bad metric column name {m!r}")
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(list(RESULT_COLUMNS) + table.metrics)
    keys = set()
    for r in table.rows:
        for column in NAME_COLUMNS:
            problem = name_problem(getattr(r, column))
            if problem:
                raise ResultFormatError(f"{column} {getattr(r, column)!r} {problem}")
    for r in table.sorted_rows():
        key = (r.codec, r.sequence, r.rate_point)
        if key in keys:
            raise ResultFormatError(f"duplicate RD point {key}")
        keys.add(key)
        w.writerow([r.sequence, r.dataset_class, r.codec, r.rate_point, r.frames, _format_float(FPS_FORMAT, r.fps),
                    r.bytes, _format_float(KBPS_FORMAT, r.kbps)]
                   + [_format_float(METRIC_FORMAT, r.metrics.get(m)) for m in table.metrics])
    return buf.getvalue().encode("utf-8")


def _store_paths(path) -> tuple[Path, Path]:
    path = Path(path)
    if path.suffix == ".csv":
        return path, path.with_name(PROVENANCE_FILE)
    if path.suffix == ".json":
        return path.with_name(RESULTS_FILE), path
    return path / RESULTS_FILE, path / PROVENANCE_FILE


def make_provenance(**fields) -> dict:
    """A provenance record: ``software`` (gfvc and its version) plus the caller's fields, e.g.
    ``codec_config``, ``checkpoints`` ({path: sha256}), ``metric_weights`` (Metric.weights_info()
    per metric), ``unavailable_metrics`` ({metric: reason}), ``date`` (ISO 8601)."""
    from .. import __version__

    return {"software": {"name": "gfvc", "version": __version__}, **fields}


def write_results(path, table: ResultTable, provenance: dict) -> tuple[Path, Path]:
    """Write ``results.csv`` and ``provenance.json`` into the folder ``path`` (created if needed).

    ``provenance`` gets a ``software`` entry (gfvc version) when it has none."""
    csv_path, prov_path = _store_paths(path)
    if "software" not in provenance:
        provenance = {**make_provenance(), **provenance}
    problem = json_depth_problem(provenance)
    if problem:
        raise ResultFormatError(f"{prov_path}: the provenance record {problem}")
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    data = results_csv_bytes(table)
    prov = json.dumps(provenance, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n"
    atomic_write_bytes(csv_path, data)
    atomic_write_bytes(prov_path, prov.encode("utf-8"))
    return csv_path, prov_path


def _parse_cell(path: Path, line: int, column: str, text: str, kind):
    try:
        value = kind(text)
    except ValueError:
        raise ResultFormatError(f"{path}: row {line}: column {column!r}: {text!r} is not {kind.__name__}") from None
    if kind is float and not math.isfinite(value):
        raise ResultFormatError(f"{path}: row {line}: column {column!r}: {text!r} is not finite")
    return value


def _csv_problem(error: csv.Error) -> str:
    text = str(error)
    if "field larger than field limit" in text:
        return f"a cell is longer than {csv.field_size_limit()} characters"
    return f"not valid CSV ({text})"


def _csv_rows(reader, csv_path: Path):
    """The rows of ``reader``; a CSV syntax problem becomes a ResultFormatError naming the row."""
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            raise ResultFormatError(f"{csv_path}: row {reader.line_num}: {_csv_problem(e)}") from None
        yield cells


def load_results(path) -> tuple[ResultTable, dict]:
    """Read and validate a result store (folder, its results.csv, or its provenance.json)."""
    csv_path, prov_path = _store_paths(path)
    if not csv_path.exists():
        raise ResultFormatError(f"{csv_path}: no such result table")
    try:
        text = read_input_text(csv_path, "result table", MAX_RESULTS_BYTES)
    except FileProblem as e:
        raise ResultFormatError(str(e)) from None
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader, None)
    except csv.Error as e:
        raise ResultFormatError(f"{csv_path}: row 1: {_csv_problem(e)}") from None
    if header is None or tuple(header[:len(RESULT_COLUMNS)]) != RESULT_COLUMNS:
        shown = ",".join(header or [])
        shown = shown if len(shown) <= 200 else shown[:200] + "..."
        raise ResultFormatError(f"{csv_path}: row 1: header must start with {','.join(RESULT_COLUMNS)}, "
                                f"got {shown!r}")
    metrics = header[len(RESULT_COLUMNS):]
    for m in metrics:
        if not _METRIC_NAME.match(m) or m in RESULT_COLUMNS or metrics.count(m) > 1:
            raise ResultFormatError(f"{csv_path}: row 1: bad or repeated metric column {m!r}")
    rows, keys = [], set()
    for line, cells in enumerate(_csv_rows(reader, csv_path), start=2):
        if not cells:
            continue
        if len(cells) != len(header):
            raise ResultFormatError(f"{csv_path}: row {line}: {len(cells)} cells, header has {len(header)}")
        d = dict(zip(header, cells))
        for column in NAME_COLUMNS:
            if column == "dataset_class" and not d[column]:
                continue  # derived from the sequence name
            problem = name_problem(d[column])
            if problem:
                raise ResultFormatError(f"{csv_path}: row {line}: column {column!r} {problem}")
        frames = _parse_cell(csv_path, line, "frames", d["frames"], int)
        nbytes = _parse_cell(csv_path, line, "bytes", d["bytes"], int)
        fps = _parse_cell(csv_path, line, "fps", d["fps"], float)
        kbps = _parse_cell(csv_path, line, "kbps", d["kbps"], float)
        if frames <= 0 or nbytes <= 0 or fps <= 0 or kbps <= 0:
            raise ResultFormatError(f"{csv_path}: row {line}: frames, bytes, fps and kbps must be positive")
        # Rate = 8 x file size: kbps must agree with bytes, frames and fps (to the stored precision).
        expected = nbytes * 8 / 1000 / (frames / fps)
        if abs(expected - kbps) > 1e-4 * max(1.0, expected):
            raise ResultFormatError(f"{csv_path}: row {line}: kbps {kbps} does not match {nbytes} bytes over "
                                    f"{frames} frames at {fps} fps ({expected:.4f})")
        try:
            cls = dataset_class_of(d["sequence"], d["dataset_class"])
        except ResultFormatError as e:
            raise ResultFormatError(f"{csv_path}: row {line}: {e}") from None
        if d["dataset_class"] and d["dataset_class"] != cls:
            raise ResultFormatError(f"{csv_path}: row {line}: sequence {d['sequence']} belongs to class {cls}, "
                                    f"not {d['dataset_class']}")
        key = (d["codec"], d["sequence"], d["rate_point"])
        if key in keys:
            raise ResultFormatError(f"{csv_path}: row {line}: duplicate RD point {key}")
        keys.add(key)
        values = {m: (None if d[m] == "" else _parse_cell(csv_path, line, m, d[m], float)) for m in metrics}
        rows.append(ResultRow(d["sequence"], cls, d["codec"], d["rate_point"], frames, fps, nbytes, kbps, values))
    if not rows:
        raise ResultFormatError(f"{csv_path}: no RD points")
    if not prov_path.exists():
        raise ResultFormatError(f"{prov_path}: missing provenance record next to {csv_path.name}")
    try:
        provenance = json.loads(read_input_text(prov_path, "provenance record", MAX_CONFIG_BYTES))
    except FileProblem as e:
        raise ResultFormatError(str(e)) from None
    except json.JSONDecodeError as e:
        raise ResultFormatError(f"{prov_path}: not valid JSON: {e}") from None
    except RecursionError:
        raise ResultFormatError(f"{prov_path}: the provenance record nests more than "
                                f"{MAX_PROVENANCE_DEPTH} levels deep") from None
    problem = json_depth_problem(provenance)
    if problem:
        raise ResultFormatError(f"{prov_path}: the provenance record {problem}")
    if not isinstance(provenance, dict):
        raise ResultFormatError(f"{prov_path}: provenance must be a JSON object")
    software = provenance.get("software")
    if not isinstance(software, dict) or not software.get("name") or not software.get("version"):
        raise ResultFormatError(f"{prov_path}: provenance needs software.name and software.version")
    return ResultTable(rows, metrics), provenance
