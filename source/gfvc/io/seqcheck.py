"""gfvc-seqcheck: check a folder of sequences against a sequence list (the CTC set by default).

For every listed sequence it says exactly what is wrong: the file is missing (and which
similarly named file is there instead, e.g. another size or format in the name), its size is
not a whole number of frames (truncated), it holds another number of frames than the list says,
or (with --md5) its MD5 differs. The CTC runner calls :func:`check_folder` before a run.

Exit status: 0 all good, 1 problems found, 2 the check itself could not run (bad list, no folder).
"""
from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from .builtin import md5_file
from .errors import SequenceError, SequenceFileError
from .root import data_path
from .seqlist import SequenceEntry, load_sequence_list
from .sequence import count_frames, parse_jvet_name

CTC_LIST_NAME = "jvet_ah0114.yaml"


def ctc_list() -> Path:
    """The JVET-AH0114 CTC sequence list of the gfvc data folder (gfvc.io.root)."""
    return data_path("test_sequences", CTC_LIST_NAME)


def builtin_list() -> Path:
    return data_path("test_sequences", "builtin_manifest.yaml")


def builtin_folder() -> Path:
    return data_path("test_sequences", "builtin")


@dataclass(frozen=True)
class Problem:
    sequence: str
    kind: str  # missing | truncated | frames | md5 | unreadable
    path: Path
    detail: str

    def __str__(self) -> str:
        return f"{self.sequence}: {self.kind}: {self.detail}"


def _look_alikes(folder: Path, entry: SequenceEntry) -> list[str]:
    """Files in ``folder`` that look meant for ``entry`` (same NAME, any case or other fields)."""
    found = []
    for p in sorted(folder.iterdir()):
        if p.name.lower() == entry.file.lower():
            found.append(f"{p.name} (letter case differs)")
            continue
        try:
            other = parse_jvet_name(p)
        except SequenceError:
            if p.name.lower().startswith(entry.name.lower() + "_") or p.stem.lower() == entry.name.lower():
                found.append(f"{p.name} (not a JVET sequence name)")
            continue
        if other.name.lower() != entry.name.lower():
            continue
        want = entry.jvet
        diffs = [f"{what} {getattr(other, attr)} instead of {getattr(want, attr)}"
                 for what, attr in (("width", "width"), ("height", "height"), ("fps", "fps"),
                                    ("bit depth", "bit_depth"), ("sampling", "chroma_format"), ("type", "ext"))
                 if getattr(other, attr) != getattr(want, attr)]
        found.append(f"{p.name} ({', '.join(diffs) or 'differs'})")
    return found


def check_entry(folder: Path, entry: SequenceEntry, md5: bool = False) -> Problem | None:
    path = folder / entry.file
    if not os.path.lexists(path):
        alike = _look_alikes(folder, entry)
        hint = f"; found {'; '.join(alike)}" if alike else ""
        return Problem(entry.name, "missing", path, f"no file {entry.file} in {folder}{hint}")
    seq = entry.jvet
    try:
        frames = count_frames(path, seq.width, seq.height, seq.chroma_format)
    except SequenceFileError as e:  # a directory, FIFO or device under the name, a dangling link
        return Problem(entry.name, "unreadable", path, str(e))
    except SequenceError as e:
        return Problem(entry.name, "truncated", path, str(e))
    except OSError as e:
        return Problem(entry.name, "unreadable", path, f"{path}: {e.strerror}")
    if frames != entry.frames:
        return Problem(entry.name, "frames", path,
                       f"{path} holds {frames} frames of {seq.width}x{seq.height}, the list says {entry.frames}")
    if md5 and entry.md5:
        got = md5_file(path)
        if got != entry.md5:
            return Problem(entry.name, "md5", path, f"{path} has MD5 {got}, the list says {entry.md5}")
    return None


def check_folder(folder: str | os.PathLike, list_yaml: str | os.PathLike | None = None,
                 roles: tuple[str, ...] = ("test",), md5: bool = False,
                 names: list[str] | None = None) -> list[Problem]:
    """Check ``folder`` against the sequence list; returns the problems (empty: all good).

    ``list_yaml`` defaults to the CTC list. Raises SequenceError when the list cannot be read or
    the folder does not exist.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise SequenceError(f"{folder}: {'not a folder' if folder.exists() else 'no such folder'}")
    entries = load_sequence_list(list_yaml if list_yaml is not None else ctc_list()).select(roles, names)
    return [p for p in (check_entry(folder, e, md5) for e in entries) if p is not None]


def _parse_args(argv):
    ap = argparse.ArgumentParser(
        prog="gfvc-seqcheck",
        description="Check a folder of sequences against a sequence list (default: the JVET-AH0114 "
                    "CTC set): present, whole frames, frame counts, optionally MD5.")
    ap.add_argument("folder", nargs="?", type=Path,
                    help="folder holding the sequence files (with --builtin: default test_sequences/builtin)")
    ap.add_argument("--list", type=Path, dest="list_yaml", help=f"sequence list YAML (default test_sequences/{CTC_LIST_NAME})")
    ap.add_argument("--builtin", action="store_true", help="check against the built-in clip manifest")
    ap.add_argument("--training", action="store_true", help="also check entries with role: training")
    ap.add_argument("--md5", action="store_true", help="also compare MD5 sums where the list gives them")
    ap.add_argument("--sequence", action="append", metavar="NAME", help="check only this sequence; repeatable")
    args = ap.parse_args(argv)
    if args.builtin and args.list_yaml:
        ap.error("give either --builtin or --list, not both")
    if args.folder is None and not args.builtin:
        ap.error("name the folder that holds the sequences")
    return args


def main(argv=None) -> int:
    args = _parse_args(argv)
    roles = ("test", "training") if args.training else ("test",)
    try:
        if args.list_yaml is None:
            args.list_yaml = builtin_list() if args.builtin else ctc_list()
        if args.folder is None:
            args.folder = builtin_folder()
        problems = check_folder(args.folder, args.list_yaml, roles, args.md5, args.sequence)
        total = len(load_sequence_list(args.list_yaml).select(roles, args.sequence))
    except SequenceError as e:
        print(f"gfvc-seqcheck: error: {e}", file=sys.stderr)
        return 2
    for p in problems:
        print(f"gfvc-seqcheck: {p}")
    if problems:
        print(f"gfvc-seqcheck: {total - len(problems)} of {total} sequences OK in {args.folder}; "
              f"{len(problems)} missing or wrong")
        return 1
    print(f"gfvc-seqcheck: all {total} sequences of {Path(args.list_yaml).name} OK in {args.folder}"
          + (" (MD5 checked)" if args.md5 else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
