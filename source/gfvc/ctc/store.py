"""The run folder and its cell store.

Layout of a run folder::

    run.yaml              the resolved configuration of the latest start (for people; not read back)
    cells/<digest>.json   one record per finished cell (the commit marker, written last)
    cells/<digest>.bin    that cell's bitstream, the one Annex-B file a decoder gets
    cells/<digest>.pictures/p<index>.png  a few decoded pictures for report/index.html
    failures/<digest>.json  the error of a failed cell (removed when the cell later succeeds)
    logs/<digest>.log     the log of the cell's latest attempt
    decoded/<codec>/<rate point>/<NAME>_WxH_FPS_8bit_444.rgb  decoded pictures (keep_decoded only)
    results/              results.csv, provenance.json, cells.csv (the table of the run)
    report/               BD-rate tables and plots, index.html (the visual report) and its pictures/
    timing.json           time per stage of the latest start

Every file is written atomically (temporary file + rename), and a cell's JSON record is written
after its bitstream, so a run killed at any moment leaves either a whole cell or none.
"""
from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from ..files import MAX_CONFIG_BYTES, read_input_bytes
from ..io import atomic_write_bytes
from .cell import RECORD_FORMAT, CellOutcome, CellTask
from .config import path_component_problem, rate_point_label
from .errors import CtcError, RunLockedError

#: a cell record holds per-picture values of every metric: far below this
MAX_RECORD_BYTES = 256 << 20


def json_bytes(value: Any) -> bytes:
    return (json.dumps(value, indent=1, sort_keys=True, allow_nan=False) + "\n").encode()


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _whole(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def record_problem(rec: Any, digest: str) -> str | None:
    """None when a parsed cell record has every field the runner and the tables read, with the
    right types; else what is wrong (a record damaged or edited by hand is computed again)."""
    if not isinstance(rec, dict):
        return f"not a JSON object but {type(rec).__name__}"
    if rec.get("format") != RECORD_FORMAT:
        return f"format {rec.get('format')!r}, not {RECORD_FORMAT}"
    if rec.get("digest") != digest:
        return "it names another cell"
    for key, ok, what in (("bytes", _whole, "a whole number"), ("frames", _whole, "a whole number"),
                          ("fps", _number, "a number"), ("kbps", _number, "a number"),
                          ("bitstream_sha256", lambda v: isinstance(v, str), "a string"),
                          ("metrics", lambda v: isinstance(v, dict), "an object"),
                          ("computed", lambda v: isinstance(v, dict) and isinstance(v.get("id"), str),
                           "an object with an id")):
        if not ok(rec.get(key)):
            return f"{key} is {rec.get(key)!r}, not {what}"
    for name, m in rec["metrics"].items():
        if not isinstance(m, dict):
            return f"metrics.{name} is {m!r}, not an object"
        if not isinstance(m.get("digest"), str) or not _number(m.get("mean")):
            return f"metrics.{name} lacks a digest or a numeric mean"
        pp = m.get("per_picture")
        if not isinstance(pp, list) or not all(_number(x) for x in pp):
            return f"metrics.{name}.per_picture is not a list of numbers"
    timings = rec.get("timings", {})
    if not isinstance(timings, dict) or not all(_number(v) for v in timings.values()):
        return "timings is not an object of numbers"
    if not isinstance(rec.get("codec_metadata", {}), dict):
        return "codec_metadata is not an object"
    df = rec.get("decoded_file")
    if df is not None and (not isinstance(df, str) or Path(df).is_absolute() or ".." in Path(df).parts):
        return f"decoded_file {df!r} is not a path inside the run folder"
    return None


class RunStore:
    def __init__(self, root: Path):
        self.root = Path(root)
        self.warnings: list[str] = []  # records found damaged (they are computed again)
        self.cells = self.root / "cells"
        self.failures = self.root / "failures"
        self.logs = self.root / "logs"
        self.decoded = self.root / "decoded"
        self._lock_fd: int | None = None

    # -- lifetime ---------------------------------------------------------------------------
    def open(self) -> None:
        """Create the folder, take the run lock, and sweep temporary files of killed writes."""
        try:
            for d in (self.root, self.cells, self.failures, self.logs):
                d.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.root / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise CtcError(f"{self.root}: cannot open the run folder ({e.strerror or e}: "
                           f"{e.filename or self.root})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            os.close(fd)
            if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise RunLockedError(f"{self.root}: another gfvc-ctc process is running in this folder") from None
            raise
        self._lock_fd = fd  # the kernel drops the lock when this process dies, even by SIGKILL
        for d in (self.root, self.cells, self.failures, self.logs, self.decoded):
            if d.is_dir():
                for p in d.rglob(".*.part"):
                    p.unlink(missing_ok=True)

    def close(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    # -- paths ------------------------------------------------------------------------------
    def record_path(self, digest: str) -> Path:
        return self.cells / f"{digest}.json"

    def bitstream_path(self, digest: str) -> Path:
        return self.cells / f"{digest}.bin"

    def picture_path(self, digest: str, index: int) -> Path:
        from .visual import picture_file_name

        return self.cells / f"{digest}.pictures" / picture_file_name(index)

    def failure_path(self, digest: str) -> Path:
        return self.failures / f"{digest}.json"

    def log_path(self, digest: str) -> Path:
        return self.logs / f"{digest}.log"

    def decoded_path(self, task: CellTask) -> Path:
        fps = int(task.fps) if float(task.fps).is_integer() else task.fps
        parts = (task.codec_label, rate_point_label(task.rate_point),
                 f"{task.sequence}_{task.width}x{task.height}_{fps}_8bit_444.rgb")
        for part in parts:  # the configuration checked them; a path never leaves the run folder
            why = path_component_problem(part)
            if why:
                raise CtcError(f"decoded pictures of {task.title}: the path component {why}")
        return self.decoded.joinpath(*parts)

    # -- reading ----------------------------------------------------------------------------
    def load_record(self, digest: str) -> dict[str, Any] | None:
        """The committed record of a cell, or None when there is none or it does not hold up
        (unreadable, another digest, bitstream missing or not the one recorded)."""
        path = self.record_path(digest)
        if not path.exists():
            return None
        try:
            rec = json.loads(read_input_bytes(path, "cell record", MAX_RECORD_BYTES))
        except (OSError, ValueError, RecursionError):
            self.warnings.append(f"{path}: unreadable or torn cell record; computing the cell again")
            return None
        problem = record_problem(rec, digest)
        if problem is not None:
            self.warnings.append(f"{path}: damaged cell record ({problem}); computing the cell again")
            return None
        try:
            data = read_input_bytes(self.bitstream_path(digest), "bitstream", max(rec["bytes"], 0))
        except OSError:
            self.warnings.append(f"{path}: its bitstream is missing or not the one recorded; computing the cell again")
            return None
        if len(data) != rec["bytes"] or hashlib.sha256(data).hexdigest() != rec["bitstream_sha256"]:
            self.warnings.append(f"{path}: its bitstream is not the one recorded; computing the cell again")
            return None
        return rec

    def load_failure(self, digest: str) -> dict[str, Any] | None:
        """The failure record of a cell, when there is one that holds up (a damaged one is ignored:
        it only says that the cell failed before)."""
        path = self.failure_path(digest)
        if not path.exists():
            return None
        try:
            rec = json.loads(read_input_bytes(path, "failure record", MAX_CONFIG_BYTES))
        except (OSError, ValueError, RecursionError):
            return None
        if not isinstance(rec, dict) or not isinstance(rec.get("error"), str):
            return None
        return rec

    # -- writing ----------------------------------------------------------------------------
    def commit(self, task: CellTask, outcome: CellOutcome, previous: dict[str, Any] | None) -> dict[str, Any] | None:
        """Store a worker's outcome; returns the committed record (None for a failure)."""
        atomic_write_bytes(self.log_path(task.digest), outcome.log.encode())
        if not outcome.ok:
            atomic_write_bytes(self.failure_path(task.digest), json_bytes(outcome.record))
            return None
        rec = dict(outcome.record)
        if previous and previous.get("bitstream_sha256") == rec["bitstream_sha256"]:
            # only the missing metrics were measured: keep the earlier ones
            merged = {k: v for k, v in previous.get("metrics", {}).items() if k in task.measured}
            merged.update(rec["metrics"])
            rec["metrics"] = merged
            rec["computed"] = dict(rec["computed"], coded_first=previous.get("computed"))
        if outcome.decoded is not None:
            path = self.decoded_path(task)
            atomic_write_bytes(path, outcome.decoded)
            rec["decoded_file"] = str(path.relative_to(self.root))
        elif previous and previous.get("decoded_file") and previous.get("bitstream_sha256") == rec["bitstream_sha256"]:
            rec["decoded_file"] = previous["decoded_file"]
        for name, data in sorted(outcome.pictures.items()):  # named by the record, so before it
            atomic_write_bytes(self.cells / f"{task.digest}.pictures" / name, data)
        atomic_write_bytes(self.bitstream_path(task.digest), outcome.bitstream)
        atomic_write_bytes(self.record_path(task.digest), json_bytes(rec))  # the commit
        self.failure_path(task.digest).unlink(missing_ok=True)
        return rec

