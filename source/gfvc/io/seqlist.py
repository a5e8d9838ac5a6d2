"""Sequence lists as data: the CTC set (jvet_ah0114.yaml) and the built-in clip manifest.

Both are YAML files with a top-level ``sequences:`` list. Each entry has at least

    name:   the JVET NAME part, e.g. VOXCELEB_001
    file:   the full file name, {NAME}_{W}x{H}_{FPS}_{BITS}bit_{444|420}.{rgb|yuv}
    frames: the number of frames the file holds

and optionally ``md5`` (of the whole file), ``role`` (``test`` or ``training``; default test)
and ``dataset_class``. Width, height, frame rate, bit depth and sampling are read from the
file name only, so they are stated exactly once. Other keys are kept in ``extra`` for the
tools that need them (the built-in builder keeps its provenance there).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import GfvcError
from ..files import load_yaml_file  # regular file, bounded, UTF-8, no YAML aliases
from .errors import SequenceError
from .sequence import SequenceName, parse_jvet_name

ROLES = ("test", "training")


@dataclass(frozen=True)
class SequenceEntry:
    name: str
    file: str
    frames: int
    md5: str | None = None
    role: str = "test"
    dataset_class: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def jvet(self) -> SequenceName:
        return parse_jvet_name(self.file)


@dataclass(frozen=True)
class SequenceList:
    path: Path
    title: str
    entries: list[SequenceEntry]
    data: dict[str, Any]  # the whole document, for list-level keys (e.g. sources)

    def select(self, roles: tuple[str, ...] = ("test",), names: list[str] | None = None) -> list[SequenceEntry]:
        """Entries with one of ``roles``; or, when ``names`` is given, exactly those (any role)."""
        if names:
            by_name = {e.name: e for e in self.entries}
            unknown = [n for n in names if n not in by_name]
            if unknown:
                raise SequenceError(f"{self.path}: no sequence named {', '.join(unknown)} "
                                    f"(known: {', '.join(by_name)})")
            return [by_name[n] for n in names]
        return [e for e in self.entries if e.role in roles]


def _entry(path: Path, i: int, raw: Any) -> SequenceEntry:
    where = f"{path}: sequences[{i}]"
    if not isinstance(raw, dict):
        raise SequenceError(f"{where} is not a mapping")
    missing = [k for k in ("name", "file", "frames") if k not in raw]
    if missing:
        raise SequenceError(f"{where} lacks {', '.join(missing)}")
    name, file, frames = str(raw["name"]), str(raw["file"]), raw["frames"]
    try:
        seq = parse_jvet_name(file)
    except SequenceError as e:
        raise SequenceError(f"{where}: {e}") from None
    if seq.name != name:
        raise SequenceError(f"{where}: file {file} does not start with the name {name}")
    if not isinstance(frames, int) or isinstance(frames, bool) or frames <= 0:
        raise SequenceError(f"{where} ({name}): frames must be a positive integer, got {frames!r}")
    role = str(raw.get("role", "test"))
    if role not in ROLES:
        raise SequenceError(f"{where} ({name}): role must be one of {', '.join(ROLES)}, got {role!r}")
    md5 = raw.get("md5")
    if md5 is not None and (not isinstance(md5, str) or len(md5) != 32):
        raise SequenceError(f"{where} ({name}): md5 must be 32 hex digits, got {md5!r}")
    known = {"name", "file", "frames", "md5", "role", "dataset_class"}
    return SequenceEntry(name, file, frames, md5, role, raw.get("dataset_class"),
                         {k: v for k, v in raw.items() if k not in known})


def load_sequence_list(path: str | os.PathLike) -> SequenceList:
    """Read and validate a sequence list; any problem is a SequenceError naming the file."""
    path = Path(path)
    try:
        data = load_yaml_file(path, "sequence list")
    except GfvcError as e:
        raise SequenceError(f"cannot read the sequence list: {e}") from None
    if not isinstance(data, dict) or not isinstance(data.get("sequences"), list) or not data["sequences"]:
        raise SequenceError(f"{path}: expected a top-level 'sequences:' list")
    entries = [_entry(path, i, raw) for i, raw in enumerate(data["sequences"])]
    seen: set[str] = set()
    for e in entries:
        if e.name in seen:
            raise SequenceError(f"{path}: sequence {e.name} is listed twice")
        seen.add(e.name)
    return SequenceList(path, str(data.get("title", path.stem)), entries, data)
