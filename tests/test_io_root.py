"""The gfvc data folder is found without assuming where the package is installed, and the tools
that read the built-in manifest give one-line errors for bad YAML."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gfvc.io.builtin import main as build_main
from gfvc.io.errors import DataRootError
from gfvc.io.root import ROOT_ENV, data_path, data_root

REPO_ROOT = Path(__file__).resolve().parent.parent
SOURCE = REPO_ROOT / "source"


def test_found_from_the_checkout(monkeypatch):
    monkeypatch.delenv(ROOT_ENV, raising=False)
    monkeypatch.chdir(REPO_ROOT / "doc")
    assert data_root() == REPO_ROOT.resolve()
    assert data_path("test_sequences", "jvet_ah0114.yaml").is_file()


def test_environment_variable_wins_and_is_checked(monkeypatch, tmp_path):
    other = tmp_path / "data"
    (other / "test_sequences").mkdir(parents=True)
    (other / "test_sequences" / "builtin_manifest.yaml").write_text("sequences: []\n")
    monkeypatch.setenv(ROOT_ENV, str(other))
    monkeypatch.chdir(REPO_ROOT)
    assert data_root() == other.resolve()
    monkeypatch.setenv(ROOT_ENV, str(tmp_path))
    with pytest.raises(DataRootError, match=f"{ROOT_ENV}=.* is not a gfvc folder: it holds no "
                                            "test_sequences/builtin_manifest.yaml"):
        data_root()


@pytest.fixture(scope="module")
def installed_copy(tmp_path_factory):
    """The package copied alone into a site-packages-like folder, as a non-editable install leaves it."""
    site = tmp_path_factory.mktemp("site-packages")
    shutil.copytree(SOURCE / "gfvc", site / "gfvc", ignore=shutil.ignore_patterns("__pycache__"))
    return site


def _run_installed(site: Path, cwd: Path, code: str, root_env: str | None = None):
    env = {k: v for k, v in os.environ.items() if k != ROOT_ENV}
    env["PYTHONPATH"] = str(site)
    if root_env is not None:
        env[ROOT_ENV] = root_env
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)


def test_non_editable_install_finds_the_checkout_it_runs_in(installed_copy):
    code = "import gfvc.io.root as r; print(r.__file__); print(r.data_root())"
    proc = _run_installed(installed_copy, REPO_ROOT / "tests", code)
    assert proc.returncode == 0, proc.stderr
    module_file, root = proc.stdout.splitlines()
    assert Path(module_file).is_relative_to(installed_copy)
    assert Path(root) == REPO_ROOT.resolve()


def test_non_editable_install_outside_a_checkout_says_how_to_fix_it(installed_copy, tmp_path):
    code = "import sys; from gfvc.io.seqcheck import main; sys.exit(main(['--builtin']))"
    proc = _run_installed(installed_copy, tmp_path, code)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert "cannot find the gfvc data folder" in proc.stderr and ROOT_ENV in proc.stderr
    proc = _run_installed(installed_copy, tmp_path, code, root_env=str(REPO_ROOT))
    assert "cannot find the gfvc data folder" not in proc.stderr and "Traceback" not in proc.stderr
    code = "import sys; from gfvc.io.builtin import main; sys.exit(main(['--verify-only']))"
    proc = _run_installed(installed_copy, tmp_path, code)
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1
    assert "cannot find the gfvc data folder" in proc.stderr


@pytest.mark.parametrize("content, message", [
    (b"sequences:\n  - name: A\xff\n", "is not UTF-8 text (byte 0xff at offset 22)"),
    (b"a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
     b"c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nsequences: [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n",
     "YAML aliases (*name) are not accepted"),
])
def test_build_sequences_manifest_problems_are_one_line(tmp_path, capsys, content, message):
    manifest = tmp_path / "manifest.yaml"
    manifest.write_bytes(content)
    assert build_main(["--manifest", str(manifest), "--out", str(tmp_path / "out"),
                       "--cache", str(tmp_path / "cache")]) == 1
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and str(manifest) in err
    assert not (tmp_path / "out").exists()


def test_build_sequences_manifest_that_is_a_directory(tmp_path, capsys):
    assert build_main(["--manifest", str(tmp_path), "--out", str(tmp_path / "out"), "--verify-only"]) == 1
    err = capsys.readouterr().err
    assert f"{tmp_path} is a directory, not a regular file" in err and err.count("\n") == 1
