"""Files as a careful reference decoder treats them: one place for every rule.

- Inputs: a path that should be a file must be a regular file (a directory, FIFO or device is
  named as such, never reported as "missing" or "empty"); reads are bounded, so ``/dev/zero``
  or a huge file cannot exhaust memory.
- Outputs: written atomically (readers see the old file or the whole new one); an output never
  replaces an input of the same command; a character device or FIFO given as output (``/dev/null``,
  ``/dev/stdout``, a pipe) is opened and written, never replaced by a regular file.
- YAML: UTF-8 only, no aliases (a 700-byte alias bomb expands to gigabytes), bounded size.
- One SHA-256 of a file and one canonical JSON: the model-identity digest carried in streams
  and the CTC cell digests are defined with them.

Nothing here imports numpy or torch: every package may use it.
"""
from __future__ import annotations

import hashlib
import json
import os
import stat
import tempfile
from pathlib import Path
from typing import Any, Iterable, Optional, Union

from .errors import FileProblem

PathLike = Union[str, os.PathLike]

#: default read limit for configuration-like files (YAML, JSON, CSV)
MAX_CONFIG_BYTES = 16 << 20


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def check_input_file(path: PathLike, what: str = "input") -> Path:
    """``path`` as a Path when it is an existing regular file; FileProblem naming what it is otherwise."""
    p = Path(path)
    try:
        st = os.stat(p)
    except FileNotFoundError:
        raise FileProblem(f"{what} {p}: no such file") from None
    except NotADirectoryError:
        raise FileProblem(f"{what} {p}: a component of the path is not a directory") from None
    except PermissionError:
        raise FileProblem(f"{what} {p}: permission denied") from None
    except OSError as exc:
        raise FileProblem(f"{what} {p}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(st.st_mode):
        raise FileProblem(f"{what} {p} is {_kind(st.st_mode)}, not a regular file")
    return p


def read_input_bytes(path: PathLike, what: str = "input", max_bytes: Optional[int] = None) -> bytes:
    """The bytes of a regular file, refusing files larger than ``max_bytes`` before reading them."""
    p = check_input_file(path, what)
    try:
        with open(p, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if max_bytes is not None and size > max_bytes:
                raise FileProblem(f"{what} {p} is {size} bytes; more than the limit of {max_bytes} bytes")
            # never ask read() for more than the file holds: it allocates what is asked first
            data = f.read() if max_bytes is None else f.read(min(size, max_bytes) + 1)
    except PermissionError:
        raise FileProblem(f"{what} {p}: permission denied") from None
    except IsADirectoryError:
        raise FileProblem(f"{what} {p} is a directory, not a regular file") from None
    except OSError as exc:
        if isinstance(exc, FileProblem):
            raise
        raise FileProblem(f"{what} {p}: {exc.strerror or exc}") from None
    if max_bytes is not None and len(data) > max_bytes:  # grew while we read it
        raise FileProblem(f"{what} {p} is larger than the limit of {max_bytes} bytes")
    return data


def read_input_text(path: PathLike, what: str = "input", max_bytes: int = MAX_CONFIG_BYTES) -> str:
    """A UTF-8 text file (bounded); a non-UTF-8 byte is named with its offset."""
    data = read_input_bytes(path, what, max_bytes)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FileProblem(f"{what} {path} is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset "
                          f"{exc.start})") from None


class _NoAliasLoader:  # built lazily so that importing gfvc.files does not need yaml
    cls = None


def _no_alias_loader():
    if _NoAliasLoader.cls is None:
        import yaml

        class NoAliasSafeLoader(yaml.SafeLoader):
            """SafeLoader that refuses anchors/aliases (no expansion bombs)."""

            def compose_node(self, parent, index):  # noqa: D401 - yaml hook
                if self.check_event(yaml.AliasEvent):
                    event = self.peek_event()
                    raise yaml.composer.ComposerError(
                        None, None, "YAML aliases (*name) are not accepted in gfvc files", event.start_mark)
                return super().compose_node(parent, index)

        _NoAliasLoader.cls = NoAliasSafeLoader
    return _NoAliasLoader.cls


def parse_yaml_text(text: str, what: str = "YAML") -> Any:
    """Parse YAML text safely (no aliases); FileProblem with the first line of the parser's message."""
    import yaml

    try:
        return yaml.load(text, Loader=_no_alias_loader())  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        first = str(exc).strip().splitlines()
        detail = " ".join(line.strip() for line in first[:3]) if first else type(exc).__name__
        raise FileProblem(f"{what} is not valid YAML: {detail}") from None
    except RecursionError:
        raise FileProblem(f"{what} is nested too deeply") from None


def load_yaml_file(path: PathLike, what: str = "YAML file", max_bytes: int = MAX_CONFIG_BYTES) -> Any:
    """A YAML file read with every rule above: regular, bounded, UTF-8, no aliases."""
    text = read_input_text(path, what, max_bytes)
    return parse_yaml_text(text, f"{what} {path}")


def sha256_file(path: PathLike, chunk: int = 1 << 22) -> str:
    """Hex SHA-256 of a file's bytes (the one definition; checkpoint and input digests use it)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def _json_default(obj):
    # numpy scalars and paths appear in settings; give them their plain JSON form
    if hasattr(obj, "item"):
        return obj.item()
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if isinstance(obj, (set, frozenset)):
        return sorted(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON-serialisable")


def canonical_json(value: Any) -> bytes:
    """One byte string per value: sorted keys, no spaces, ASCII, no NaN (which has no JSON form)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                      allow_nan=False, default=_json_default).encode()


def _same_file(a: os.stat_result, b: os.stat_result) -> bool:
    return a.st_dev == b.st_dev and a.st_ino == b.st_ino


def check_output_path(path: PathLike, inputs: Iterable[PathLike] = (), what: str = "output") -> Path:
    """Refuse an output path that is an input of the same command, or a directory."""
    p = Path(path)
    try:
        st = os.stat(p)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise FileProblem(f"{what} {p}: {exc.strerror or exc}") from None
    if st is not None:
        if stat.S_ISDIR(st.st_mode):
            raise FileProblem(f"{what} {p} is a directory")
        for inp in inputs:
            if inp is None:
                continue
            try:
                ist = os.stat(inp)
            except OSError:
                continue
            if _same_file(st, ist) and stat.S_ISREG(st.st_mode):
                raise FileProblem(f"{what} {p} is also an input of this command; refusing to overwrite it")
    return p


_UMASK: Optional[int] = None


def _umask() -> int:
    global _UMASK
    if _UMASK is None:
        mask = os.umask(0)
        os.umask(mask)
        _UMASK = mask
    return _UMASK


def atomic_write_bytes(path: PathLike, data: bytes, inputs: Iterable[PathLike] = (),
                       what: str = "output") -> None:
    """Write ``data`` to ``path`` so readers see the old file or the whole new one.

    An existing character device, FIFO or socket is opened and written (``/dev/null``, a pipe),
    never replaced. ``inputs`` are files of the same command that must not be overwritten.
    A full disk or a permission problem is a FileProblem; a partial temporary file is removed.
    """
    p = check_output_path(path, inputs, what)
    try:
        st = os.stat(p)
    except OSError:
        st = None
    if st is not None and not stat.S_ISREG(st.st_mode):
        try:
            with open(p, "wb", buffering=0) as f:
                view = memoryview(data)
                while view:
                    n = f.write(view)
                    view = view[n:]
        except OSError as exc:
            raise FileProblem(f"cannot write {what} {p}: {exc.strerror or exc}") from None
        return
    tmp = None
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".part", dir=p.parent)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, p)
        tmp = None
    except OSError as exc:
        raise FileProblem(f"cannot write {what} {p}: {exc.strerror or exc}") from None
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
