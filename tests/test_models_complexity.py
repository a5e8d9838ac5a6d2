"""gfvc-complexity counts on the meta device: no picture or weight memory at any size, the same
counts as a real forward pass, and one-line errors for bad configuration files."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from gfvc.models import build_model
from gfvc.models.complexity import count_macs, main, measure_family
from models_helpers import tiny_case

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("model,family", [("CFTE", "cfte"), ("RDAC", "rdac"), ("HDAC", "hdac")])
def test_meta_counts_equal_a_real_forward_pass(fixtures_root, model, family):
    """CFTE (OpenCV flow) and RDAC (legacy-constructed entropy parameters) used to fall back to the
    CPU; now every family counts on the meta device, and the counts equal those of real tensors."""
    params = tiny_case(fixtures_root, model)["model_params"]
    rows = measure_family(family, params, 64, 64)
    torch.manual_seed(0)
    net = build_model(family, params).eval()
    reference, target = torch.rand(1, 3, 64, 64), torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        ref_params, tgt_params = net.analyse(reference), net.analyse(target)
    side = {"base_layer": target} if family == "hdac" else {}
    assert rows[0].analysis_macs == count_macs(lambda: net.analyse(target)) > 0
    assert rows[0].synthesis_macs == count_macs(lambda: net.synthesise(reference, ref_params, tgt_params, **side)) > 0
    if family == "rdac":
        assert rows[1].synthesis_macs == count_macs(lambda: net.generator.sdc(target - 0.5, rate_idx=0)) > 0


def _limited_run(args: list[str], limit_bytes: int) -> subprocess.CompletedProcess:
    """gfvc-complexity in a child whose address space is capped: a real allocation of picture-sized
    tensors fails there, deterministically."""
    import resource

    def cap():
        resource.setrlimit(resource.RLIMIT_AS, (limit_bytes, limit_bytes))

    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT / "source"), OMP_NUM_THREADS="1")
    code = "import sys; from gfvc.models.complexity import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True, text=True,
                          preexec_fn=cap, timeout=600)


@pytest.mark.parametrize("family", ["dac", "cfte"])
def test_huge_pictures_are_counted_without_allocating_them(family):
    """65536 x 65536 RGB pictures would take 51 GB as float32; counting needs only shapes."""
    proc = _limited_run(["--family", family, "--width", "65536", "--height", "65536", "--threads", "1"],
                        6 << 30)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    assert f"| {family.upper()} |" in proc.stdout and "at 65536x65536" in proc.stdout


def test_config_file_problems_are_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(b"model_params:\n  generator_params: {a: \xff}\n")
    assert main(["--family", "dac", "--config", f"dac={bad}"]) == 2
    err = capsys.readouterr().err
    assert "is not UTF-8 text (byte 0xff at offset 38)" in err and err.count("\n") == 1
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text("a: &a [x, x]\nb: &b [*a, *a]\nmodel_params: *b\n")
    assert main(["--family", "dac", "--config", f"dac={bomb}"]) == 2
    err = capsys.readouterr().err
    assert "aliases" in err and err.count("\n") == 1
    assert main(["--family", "dac", "--config", f"dac={tmp_path}"]) == 2
    err = capsys.readouterr().err
    assert "is a directory, not a regular file" in err and err.count("\n") == 1
    empty = tmp_path / "empty.yaml"
    empty.write_text("model_params: {}\n")
    assert main(["--family", "dac", "--config", f"dac={empty}"]) == 2
    err = capsys.readouterr().err
    assert "has no model_params with generator_params" in err and err.count("\n") == 1
