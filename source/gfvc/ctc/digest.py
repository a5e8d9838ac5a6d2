"""Identity of a cell: a SHA-256 digest of everything that determines its result.

A cell's digest covers the input file's content hash, the frames coded, the codec's registry
name and its full settings (which include the encoder's version), the rate point and the gfvc
version. Change any of them and the digest changes, so exactly the affected cells are redone.
Metrics are identified separately (one digest per metric), so adding a metric measures the
existing cells again without treating their coding as new.
"""
from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path
from typing import Any

from ..files import MAX_CONFIG_BYTES, read_input_bytes
from ..files import atomic_write_bytes, canonical_json, sha256_file  # noqa: F401 - re-exported


def digest_of(value: Any) -> str:
    return hashlib.sha256(canonical_json(value)).hexdigest()


_HEX = frozenset("0123456789abcdef")


def _stat_key(st: os.stat_result) -> dict[str, int]:
    """What a cached hash is keyed on: the file's identity (device, inode) and every time stamp
    the kernel keeps. Rewriting the content changes the ctime even when the size stays and the
    mtime is put back with os.utime (no call lets a user set the ctime), and replacing the file
    by another one changes the inode."""
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "ctime_ns": st.st_ctime_ns,
            "ino": st.st_ino, "dev": st.st_dev}


def _valid_entry(e: Any) -> bool:
    if not isinstance(e, dict):
        return False
    sha = e.get("sha256")
    if not (isinstance(sha, str) and len(sha) == 64 and set(sha) <= _HEX):
        return False
    return all(isinstance(e.get(k), int) and not isinstance(e.get(k), bool)
               for k in ("size", "mtime_ns", "ctime_ns", "ino", "dev"))


class FileHashCache:
    """SHA-256 of input files, cached in a JSON file by absolute path and the file's stat
    (size, mtime, ctime, inode, device; see :func:`_stat_key`).

    A full CTC reads 30 files of up to 49 MB; rehashing them on every resume is wasted time.
    A file whose content may have changed (any of those values differs) is hashed again. An
    entry that does not hold up (no SHA-256, wrong types: a damaged or hand-edited cache) is
    dropped with a warning in ``warnings`` and the file hashed again.
    """

    def __init__(self, cache_file: Path | None):
        self.cache_file = cache_file
        self._lock = threading.Lock()
        self._entries: dict[str, dict[str, Any]] = {}
        self._dirty = False
        self.warnings: list[str] = []
        if cache_file is not None and cache_file.is_file():
            try:
                data = json.loads(read_input_bytes(cache_file, "input hash cache", MAX_CONFIG_BYTES))
            except (OSError, ValueError, RecursionError):
                data = None
            if not isinstance(data, dict):
                self.warnings.append(f"{cache_file}: damaged input hash cache; hashing the inputs again")
                data = {}
            bad = [k for k, v in data.items() if not _valid_entry(v)]
            if bad:
                self.warnings.append(f"{cache_file}: {len(bad)} damaged entr{'y' if len(bad) == 1 else 'ies'} "
                                     f"(e.g. {bad[0][:80]!r}); hashing those files again")
                self._dirty = True
            self._entries = {k: v for k, v in data.items() if k not in bad}

    def sha256(self, path: Path) -> str:
        path = Path(path).resolve()
        key = str(path)
        st = path.stat()
        stamp = _stat_key(st)
        with self._lock:
            e = self._entries.get(key)
            if e and all(e.get(k) == v for k, v in stamp.items()):
                return e["sha256"]
        value = sha256_file(path)
        if _stat_key(path.stat()) != stamp:  # changed while it was read: do not cache a torn hash
            return value
        with self._lock:
            self._entries[key] = dict(stamp, sha256=value)
            self._dirty = True
        return value

    def save(self) -> None:
        if self.cache_file is None or not self._dirty:
            return
        with self._lock:
            data = json.dumps(self._entries, sort_keys=True, indent=1).encode()
            self._dirty = False
        atomic_write_bytes(self.cache_file, data, what="input hash cache")


def metric_digest(name: str, options: dict[str, Any], weights_info: dict[str, Any], version: str,
                  metric_version: str = "1") -> str:
    """Identity of one metric's values: its name, options, the content of its weight files (by
    SHA-256, not by path, so another install location gives the same identity), gfvc's version and
    the metric definition's version (``Metric.version``; version "1" adds nothing, so the identities
    of metrics that never changed stay as they were)."""
    weights = {role: (w.get("sha256") if isinstance(w, dict) else w) for role, w in sorted(weights_info.items())}
    identity = {"metric": name, "options": options, "weights": weights, "gfvc_version": version}
    if str(metric_version) != "1":
        identity["metric_version"] = str(metric_version)
    return digest_of(identity)
