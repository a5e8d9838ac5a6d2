"""Running the codec executables: one place that starts a process, times it, and turns a
failure into a BaseLayerError carrying the tool's own last words."""
from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import FileProblem
from ..files import check_input_file
from .errors import MissingBinaryError, ToolFailedError

# How much of a tool's stderr goes into an error message.
_TAIL_LINES = 4
_TAIL_CHARS = 600


def stderr_tail(stderr: bytes | str, lines: int = _TAIL_LINES) -> str:
    """The last non-empty lines of a tool's stderr, joined into one line."""
    if isinstance(stderr, bytes):
        stderr = stderr.decode("utf-8", "replace")
    kept = [ln.strip() for ln in stderr.replace("\r", "\n").splitlines() if ln.strip()]
    text = " | ".join(kept[-lines:])
    return text[-_TAIL_CHARS:]


@dataclass
class ToolRun:
    stdout: bytes
    stderr: bytes
    seconds: float
    command: str  # shell-quoted, as a user would type it


def run_tool(cmd: list[str], *, tool: str, stdin: bytes | None = None, cwd: str | os.PathLike | None = None,
             what: str = "run") -> ToolRun:
    """Run ``cmd``; raise ToolFailedError (with the stderr tail) on a non-zero exit status."""
    quoted = shlex.join(str(c) for c in cmd)
    t0 = time.perf_counter()
    try:
        proc = subprocess.run([str(c) for c in cmd], input=stdin, capture_output=True, cwd=cwd, check=False)
    except FileNotFoundError:
        raise MissingBinaryError(f"{tool}: executable {cmd[0]} not found", tool=tool) from None
    except PermissionError:
        raise MissingBinaryError(f"{tool}: {cmd[0]} is not executable", tool=tool) from None
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise ToolFailedError(f"{tool} {what} failed (exit status {proc.returncode})", tool=tool,
                              stderr_tail=stderr_tail(proc.stderr) or stderr_tail(proc.stdout) or "(no output)")
    return ToolRun(proc.stdout, proc.stderr, seconds, quoted)


def resolve_executable(value: str | os.PathLike | None, *, tool: str, how_to_set: str) -> str:
    """Path of an executable named by config/env; a clear MissingBinaryError otherwise."""
    if not value:
        raise MissingBinaryError(f"{tool} is not configured: {how_to_set}", tool=tool)
    value = str(value)
    if os.sep in value and os.path.lexists(value):
        try:  # a directory, FIFO or device is named as such
            check_input_file(value, f"{tool} executable")
        except FileProblem as e:
            raise MissingBinaryError(f"{e} ({how_to_set})", tool=tool) from None
    found = shutil.which(value) if os.sep not in value else (value if Path(value).is_file() else None)
    if found is None:
        raise MissingBinaryError(f"{tool} executable {value!r} does not exist or is not on PATH ({how_to_set})",
                                 tool=tool)
    if not os.access(found, os.X_OK):
        raise MissingBinaryError(f"{tool} executable {found!r} is not executable ({how_to_set})", tool=tool)
    return found
