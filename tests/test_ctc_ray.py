"""The Ray executor gives the same result tables as the local process pool."""
from __future__ import annotations

import pytest
import ray  # a pinned requirement: missing means a broken install, which must fail, not skip

from ctc_helpers import CODEC, cell_ids, make_tiny_ctc, run_ctc_here, table_bytes


@pytest.fixture
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def test_ray_and_local_executors_give_identical_tables(tmp_path, local_ray):
    # two codec columns (the HEVC anchor at two presets) so that the BD-rate report is compared too
    qps = [26, 31, 36, 41]
    cfg = make_tiny_ctc(tmp_path, n_seq=2, extra={
        "codecs": [{"name": CODEC, "rate_points": qps},
                   {"name": CODEC, "label": "fast", "options": {"preset": "ultrafast"}, "rate_points": qps}],
        "bdrate": {"anchors": [CODEC], "tests": ["fast"]}})
    rc, _, err = run_ctc_here(cfg, "-o", str(tmp_path / "ray"), "--executor", "ray", "-j", "2")
    assert rc == 0, err
    rc, _, err = run_ctc_here(cfg, "-o", str(tmp_path / "local"), "--executor", "local", "-j", "2")
    assert rc == 0, err

    ray_ids, local_ids = cell_ids(tmp_path / "ray"), cell_ids(tmp_path / "local")
    assert len(ray_ids) == 16 and set(ray_ids) == set(local_ids)  # the same cells, by digest
    got, want = table_bytes(tmp_path / "ray"), table_bytes(tmp_path / "local")
    assert {"results/results.csv", "report/bdrate.csv", "report/bdrate.xlsx"} <= set(want)
    assert set(got) == set(want)
    for name in want:
        assert got[name] == want[name], f"{name} differs between the ray and the local executor"
    for digest in ray_ids:  # and the same bitstreams
        assert (tmp_path / "ray" / "cells" / f"{digest}.bin").read_bytes() == \
            (tmp_path / "local" / "cells" / f"{digest}.bin").read_bytes()
