"""The run folder and its cell store.

Layout of a run folder::

    run.yaml              the resolved configuration of the latest start (for people; not read back)
    cells/<digest>.json   one record per finished cell (the commit marker, written last)
    cells/<digest>.bin    that cell's bitstream, the one Annex-B file a decoder gets
    failures/<digest>.json  the error of a failed cell (removed when the cell later succeeds)
    logs/<digest>.log     the log of the cell's latest attempt
    decoded/<codec>/<rate point>/<NAME>_WxH_FPS_8bit_444.rgb  decoded pictures (keep_decoded only)
    results/              results.csv, provenance.json, cells.csv (the table of the run)
    report/               BD-rate tables and plots
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

from ..io import atomic_write_bytes
from .cell import RECORD_FORMAT, CellOutcome, CellTask
from .errors import RunLockedError


def json_bytes(value: Any) -> bytes:
    return (json.dumps(value, indent=1, sort_keys=True, allow_nan=False) + "\n").encode()


def rate_point_label(rp: Any) -> str:
    return str(rp).replace("/", "_").replace(" ", "")


class RunStore:
    def __init__(self, root: Path):
        self.root = Path(root)
        self.cells = self.root / "cells"
        self.failures = self.root / "failures"
        self.logs = self.root / "logs"
        self.decoded = self.root / "decoded"
        self._lock_fd: int | None = None

    # -- lifetime ---------------------------------------------------------------------------
    def open(self) -> None:
        """Create the folder, take the run lock, and sweep temporary files of killed writes."""
        for d in (self.root, self.cells, self.failures, self.logs):
            d.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.root / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
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

    def failure_path(self, digest: str) -> Path:
        return self.failures / f"{digest}.json"

    def log_path(self, digest: str) -> Path:
        return self.logs / f"{digest}.log"

    def decoded_path(self, task: CellTask) -> Path:
        fps = int(task.fps) if float(task.fps).is_integer() else task.fps
        return (self.decoded / task.codec_label / rate_point_label(task.rate_point)
                / f"{task.sequence}_{task.width}x{task.height}_{fps}_8bit_444.rgb")

    # -- reading ----------------------------------------------------------------------------
    def load_record(self, digest: str) -> dict[str, Any] | None:
        """The committed record of a cell, or None when there is none or it does not hold up
        (unreadable, another digest, bitstream missing or not the one recorded)."""
        try:
            rec = json.loads(self.record_path(digest).read_bytes())
        except (OSError, ValueError):
            return None
        if not isinstance(rec, dict) or rec.get("format") != RECORD_FORMAT or rec.get("digest") != digest:
            return None
        try:
            data = self.bitstream_path(digest).read_bytes()
        except OSError:
            return None
        if len(data) != rec.get("bytes") or hashlib.sha256(data).hexdigest() != rec.get("bitstream_sha256"):
            return None
        return rec

    def load_failure(self, digest: str) -> dict[str, Any] | None:
        try:
            return json.loads(self.failure_path(digest).read_bytes())
        except (OSError, ValueError):
            return None

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
        atomic_write_bytes(self.bitstream_path(task.digest), outcome.bitstream)
        atomic_write_bytes(self.record_path(task.digest), json_bytes(rec))  # the commit
        self.failure_path(task.digest).unlink(missing_ok=True)
        return rec

