"""The reference fixtures travel with the repository: a fresh clone runs the model tests with nothing
beside it, and GFVC_FIXTURES still selects another set with the same layout."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import conftest

MODELS = ("FOMM", "CFTE", "FV2V", "DAC", "HDAC", "RDAC", "MRDAC")
TINY_FILES = ("model_params.yaml", "inputs.pt", "outputs.pt", "meta.json")


def test_default_fixture_root_is_inside_the_repository():
    root = conftest.DEFAULT_FIXTURES_ROOT.resolve()
    assert root.is_relative_to(conftest.REPO_ROOT.resolve())
    assert (root / "README.md").is_file()


def test_every_model_has_every_file_the_tests_read():
    root = conftest.DEFAULT_FIXTURES_ROOT
    for model in MODELS:
        assert (root / model / "model_params.yaml").is_file(), model
        assert (root / model / "official_state_dict_shapes.json").is_file(), model
        for name in TINY_FILES:
            assert (root / model / "tiny" / name).is_file(), (model, name)
        checkpoint = "checkpoint.pth.tar.xz" if model == "FV2V" else "checkpoint.pth.tar"
        assert (root / model / "tiny" / checkpoint).is_file(), model


def _root_seen_by_pytest(env_value: str | None) -> str:
    env = dict(os.environ)
    env.pop("GFVC_FIXTURES", None)
    if env_value is not None:
        env["GFVC_FIXTURES"] = env_value
    tests = Path(conftest.__file__).parent
    code = "import conftest; print(conftest.FIXTURES_ROOT)"
    return subprocess.run([sys.executable, "-c", code], cwd=tests, env=env, check=True,
                          capture_output=True, text=True).stdout.strip()


def test_gfvc_fixtures_overrides_the_default(tmp_path):
    assert Path(_root_seen_by_pytest(None)) == conftest.DEFAULT_FIXTURES_ROOT
    assert Path(_root_seen_by_pytest(str(tmp_path))) == tmp_path
    # an empty value means "not set", not the current directory
    assert Path(_root_seen_by_pytest("")) == conftest.DEFAULT_FIXTURES_ROOT


def test_no_test_reads_a_folder_beside_the_repository():
    tests = Path(conftest.__file__).parent
    for path in tests.rglob("*.py"):
        if path == Path(__file__):
            continue
        text = path.read_text()
        assert "REPO_ROOT.parent" not in text, path
        assert '"shared"' not in text and "'shared'" not in text, path
