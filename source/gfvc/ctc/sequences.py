"""Which sequences a run codes: the built-in clips, or a user's folder checked against a CTC list.

Both the built-in manifest (test_sequences/builtin_manifest.yaml) and a CTC list
(test_sequences/jvet_ah0114.yaml) name each sequence's file, its dataset class and its frame
count; gfvc.io.seqcheck checks each file against its entry. Every problem (missing file,
truncated file, other frame count, unknown name in ``include``) is collected so that the
runner can report all of them before any work starts.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..io import SequenceError, parse_jvet_name
from ..io.seqcheck import check_entry
from ..evaluation.results import dataset_class_of
from ..io.seqlist import load_sequence_list
from ..errors import GfvcError
from ..files import check_input_file
from .config import SequenceSelection, builtin_manifest
from .errors import CtcError


@dataclass(frozen=True)
class SequenceSpec:
    """One sequence of the run, as the cells see it."""

    name: str  # the JVET name's NAME part, e.g. VOXCELEB_001; the table's sequence column
    path: Path
    dataset_class: str
    frames: int  # frames coded (the first ``frames`` of the file)
    fps: float
    width: int
    height: int


def resolve_sequences(sel: SequenceSelection) -> tuple[list[SequenceSpec], list[str]]:
    """The run's sequences, in list order -> (sequences, problems)."""
    if sel.builtin:
        try:
            list_file = builtin_manifest()
        except CtcError as e:
            return [], [f"built-in sequences: {e}"]
        folder = list_file.parent / "builtin"
        if not list_file.is_file():
            return [], [f"built-in sequences missing: {list_file} does not exist (run bash tools/setup.sh)"]
    else:
        list_file, folder = sel.list_file, sel.folder
        problems = []
        if folder is None or not folder.exists():
            problems.append(f"sequence folder {folder} does not exist")
        elif not folder.is_dir():
            problems.append(f"sequence folder {folder} is not a folder")
        if list_file is None:
            problems.append("no sequence list given")
        else:
            try:
                check_input_file(list_file, "sequence list")
            except GfvcError as e:
                problems.append(str(e))
        if problems:
            return [], problems
    try:
        seqlist = load_sequence_list(list_file)
        listed = seqlist.select(roles=("test",), names=sel.include)
    except SequenceError as e:
        return [], [str(e)]
    problems: list[str] = []
    specs: list[SequenceSpec] = []
    for entry in listed:
        problem = check_entry(folder, entry)  # present, whole frames, the listed frame count
        if problem is not None:
            hint = " (run bash tools/setup.sh)" if sel.builtin and problem.kind == "missing" else ""
            problems.append(f"sequence {problem}{hint}")
            continue
        jn = parse_jvet_name(entry.file)
        want = sel.frames if sel.frames is not None else entry.frames
        if want > entry.frames:
            problems.append(f"sequence {entry.name}: {want} frames asked for, the file holds {entry.frames}")
            continue
        dataset_class = dataset_class_of(entry.name, entry.dataset_class or entry.name.split("_")[0])
        if not str(dataset_class).isprintable():  # a table column and an XLSX cell
            problems.append(f"sequence {entry.name}: dataset class {str(dataset_class)!r} holds control characters")
            continue
        specs.append(SequenceSpec(name=entry.name, path=folder / entry.file, dataset_class=str(dataset_class),
                                  frames=want, fps=jn.fps, width=jn.width, height=jn.height))
    if not specs and not problems:
        problems.append(f"{list_file}: no test sequences selected")
    return specs, problems
