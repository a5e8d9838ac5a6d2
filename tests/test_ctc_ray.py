"""The Ray executor gives the same result tables as the local process pool."""
from __future__ import annotations

import pytest

from ctc_helpers import cell_ids, make_tiny_ctc, run_ctc_here, table_bytes

ray = pytest.importorskip("ray")


@pytest.fixture
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def test_ray_and_local_executors_give_identical_tables(tmp_path, local_ray):
    cfg = make_tiny_ctc(tmp_path, qps=(28, 36), n_seq=2)
    rc, _, err = run_ctc_here(cfg, "-o", str(tmp_path / "ray"), "--executor", "ray", "-j", "2")
    assert rc == 0, err
    rc, _, err = run_ctc_here(cfg, "-o", str(tmp_path / "local"), "--executor", "local", "-j", "2")
    assert rc == 0, err

    ray_ids, local_ids = cell_ids(tmp_path / "ray"), cell_ids(tmp_path / "local")
    assert len(ray_ids) == 4 and set(ray_ids) == set(local_ids)  # the same cells, by digest
    got, want = table_bytes(tmp_path / "ray"), table_bytes(tmp_path / "local")
    assert "results/results.csv" in want and set(got) == set(want)
    for name in want:
        assert got[name] == want[name], f"{name} differs between the ray and the local executor"
    for digest in ray_ids:  # and the same bitstreams
        assert (tmp_path / "ray" / "cells" / f"{digest}.bin").read_bytes() == \
            (tmp_path / "local" / "cells" / f"{digest}.bin").read_bytes()
