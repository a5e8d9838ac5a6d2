"""A GFVC codec loads its model once per worker process, not once per cell, on the local and the
Ray executors (gfvc.codec.model_source caches it): counted, never timed."""
from __future__ import annotations

import json
import os
from collections import defaultdict
from pathlib import Path

import pytest
import yaml

from ctc_helpers import make_tiny_ctc, run_ctc_here
from untrained_models import write_untrained_model

TESTS = Path(__file__).resolve().parent
#: a DAC of the official structure, tiny widths: codes 64x64 pictures in a fraction of a second
TINY_DAC = {"common_params": {"num_kp": 10, "num_channels": 3, "estimate_jacobian": False},
            "kp_detector_params": {"temperature": 0.1, "block_expansion": 8, "max_features": 32,
                                   "scale_factor": 0.25, "num_blocks": 3},
            "generator_params": {"block_expansion": 8, "max_features": 32, "num_down_blocks": 2,
                                 "num_bottleneck_blocks": 1, "estimate_occlusion_map": True,
                                 "dense_motion_params": {"block_expansion": 8, "max_features": 32, "num_blocks": 3,
                                                         "scale_factor": 0.25}}}


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    d = tmp_path_factory.mktemp("model")
    (d / "train.yaml").write_text(yaml.safe_dump({"model_params": TINY_DAC}))
    out = write_untrained_model("dac", d / "train.yaml", d / "dac_tiny")
    return {"model_config": str(out / "model.yaml"), "checkpoint": str(out / "checkpoint.pth.tar")}


def _config(root: Path, model: dict) -> Path:
    return make_tiny_ctc(root, n_seq=1, frames=2, size=64, metrics=("psnr_y",), extra={
        "codecs": [{"name": "counting_dac", "rate_points": [32, 42, 52], "options": model}],
        "plugins": ["ctc_counting_codec"]})


def _loads_per_process(run: Path) -> dict[int, list[int]]:
    out = defaultdict(list)
    for path in sorted((run / "cells").glob("*.json")):
        meta = json.loads(path.read_text())["codec_metadata"]
        out[meta["process"]].append(meta["models_built"])
    return dict(out)


def test_local_workers_load_the_model_once(tmp_path, tiny_model):
    cfg = _config(tmp_path, tiny_model)
    rc, _, err = run_ctc_here(cfg, "--executor", "local", "-j", "1")
    assert rc == 0, err
    loads = _loads_per_process(tmp_path / "run")
    assert sum(len(v) for v in loads.values()) == 3
    assert len(loads) == 1 and os.getpid() not in loads  # one worker process coded the three cells
    assert all(n == 1 for counts in loads.values() for n in counts)


def test_ray_workers_load_the_model_once(tmp_path, tiny_model, monkeypatch):
    import ray

    # the Ray workers import the test plugin: they inherit PYTHONPATH from the driver
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(TESTS), str(TESTS.parent / "source"),
                                                      os.environ.get("PYTHONPATH", "")]))
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    try:
        rc, _, err = run_ctc_here(_config(tmp_path, tiny_model), "--executor", "ray", "-j", "1")
    finally:
        ray.shutdown()
    assert rc == 0, err
    loads = _loads_per_process(tmp_path / "run")
    assert sum(len(v) for v in loads.values()) == 3
    assert all(n == 1 for counts in loads.values() for n in counts)  # each worker process: one load
