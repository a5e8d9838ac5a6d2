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

from ..files import atomic_write_bytes, canonical_json, sha256_file  # noqa: F401 - re-exported


def digest_of(value: Any) -> str:
    return hashlib.sha256(canonical_json(value)).hexdigest()


class FileHashCache:
    """SHA-256 of input files, cached by (absolute path, size, mtime) in a JSON file.

    A full CTC reads 30 files of up to 49 MB; rehashing them on every resume is wasted time.
    A file whose size or modification time changed is hashed again.
    """

    def __init__(self, cache_file: Path | None):
        self.cache_file = cache_file
        self._lock = threading.Lock()
        self._entries: dict[str, dict[str, Any]] = {}
        self._dirty = False
        if cache_file is not None and cache_file.is_file():
            try:
                data = json.loads(cache_file.read_text())
                if isinstance(data, dict):
                    self._entries = {k: v for k, v in data.items() if isinstance(v, dict)}
            except (OSError, ValueError):
                self._entries = {}  # a damaged cache only costs rehashing

    def sha256(self, path: Path) -> str:
        path = Path(path).resolve()
        st = path.stat()
        key = str(path)
        with self._lock:
            e = self._entries.get(key)
            if e and e.get("size") == st.st_size and e.get("mtime_ns") == st.st_mtime_ns:
                return e["sha256"]
        value = sha256_file(path)
        with self._lock:
            self._entries[key] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": value}
            self._dirty = True
        return value

    def save(self) -> None:
        if self.cache_file is None or not self._dirty:
            return
        with self._lock:
            data = json.dumps(self._entries, sort_keys=True, indent=1).encode()
            self._dirty = False
        atomic_write_bytes(self.cache_file, data)


def metric_digest(name: str, options: dict[str, Any], weights_info: dict[str, Any], version: str) -> str:
    """Identity of one metric's values: its name, options, the content of its weight files (by
    SHA-256, not by path, so another install location gives the same identity) and gfvc's version."""
    weights = {role: (w.get("sha256") if isinstance(w, dict) else w) for role, w in sorted(weights_info.items())}
    return digest_of({"metric": name, "options": options, "weights": weights, "gfvc_version": version})
