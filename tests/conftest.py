"""Shared test configuration: markers, the fixture root, the built-in sequences."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
# The reference fixtures shipped in the repository (tests/fixtures/README.md); GFVC_FIXTURES runs the
# same tests on another set with the same layout.
DEFAULT_FIXTURES_ROOT = REPO_ROOT / "tests" / "fixtures"
FIXTURES_ROOT = Path(os.environ.get("GFVC_FIXTURES") or DEFAULT_FIXTURES_ROOT)
BUILTIN_DIR = REPO_ROOT / "test_sequences" / "builtin"


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", default=False,
                     help="also run tests marked slow (long benchmarks, large fuzz runs)")


def pytest_collection_modifyitems(config, items):
    run_slow = config.getoption("--runslow")
    try:
        import torch

        has_gpu = torch.cuda.is_available()
    except Exception:  # torch missing or broken: GPU tests cannot run
        has_gpu = False
    skip_slow = pytest.mark.skip(reason="slow: run with --runslow")
    skip_gpu = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "slow" in item.keywords and not run_slow:
            item.add_marker(skip_slow)
        if "gpu" in item.keywords and not has_gpu:
            item.add_marker(skip_gpu)


@pytest.fixture(scope="session")
def fixtures_root() -> Path:
    if not FIXTURES_ROOT.is_dir():
        pytest.fail(f"fixture root {FIXTURES_ROOT} does not exist (set GFVC_FIXTURES)")
    return FIXTURES_ROOT


@pytest.fixture(scope="session")
def builtin_dir() -> Path:
    """Folder of the built-in sequences; tools/setup.sh builds them. Missing = a setup error."""
    if not BUILTIN_DIR.is_dir() or not any(BUILTIN_DIR.glob("*.rgb")):
        pytest.fail(f"{BUILTIN_DIR} holds no built-in sequences: run bash tools/setup.sh")
    return BUILTIN_DIR
