"""Where the gfvc data folder is: the folder that holds ``test_sequences/`` (the sequence lists and
the built-in clip manifest), ``cfg/`` and ``anchors/``.

The package does not assume it sits inside that folder: a non-editable install puts it in
site-packages, far from the data. The root is, in order:

1. the folder named by the environment variable ``GFVC_ROOT``, which must hold the marker file;
2. the nearest folder at or above the current directory that holds the marker (you run the tools
   from inside a checkout);
3. the nearest folder above this package's own files that holds the marker (an editable install,
   or ``PYTHONPATH=source``).

The marker is ``test_sequences/builtin_manifest.yaml``. No match is a :class:`DataRootError`, a
one-line message that says how to fix it.
"""
from __future__ import annotations

import os
from pathlib import Path

from .errors import DataRootError

ROOT_ENV = "GFVC_ROOT"
MARKER = Path("test_sequences") / "builtin_manifest.yaml"


def _holds_marker(folder: Path) -> bool:
    return (folder / MARKER).is_file()


def _search_upward(start: Path) -> Path | None:
    for folder in (start, *start.parents):
        if _holds_marker(folder):
            return folder
    return None


def data_root() -> Path:
    """The gfvc data folder (absolute), found as the module docstring says."""
    given = os.environ.get(ROOT_ENV)
    if given:
        folder = Path(given).expanduser().resolve()
        if not _holds_marker(folder):
            raise DataRootError(f"{ROOT_ENV}={given} is not a gfvc folder: it holds no {MARKER.as_posix()}")
        return folder
    try:
        cwd = Path.cwd().resolve()
    except OSError:  # the current directory was removed
        cwd = None
    for start in ((cwd,) if cwd else ()) + (Path(__file__).resolve().parent,):
        found = _search_upward(start)
        if found is not None:
            return found
    raise DataRootError(f"cannot find the gfvc data folder (the one holding {MARKER.as_posix()}): run from "
                        f"inside a gfvc checkout or set {ROOT_ENV} to it")


def data_path(*parts: str) -> Path:
    """A path inside the gfvc data folder, e.g. ``data_path("test_sequences", "jvet_ah0114.yaml")``."""
    return data_root().joinpath(*parts)
