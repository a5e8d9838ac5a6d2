"""FSIM in float32 and the per-process cache of reference features (doc/benchmarks.md, "FSIM speed")."""
import numpy as np
import pytest
from scipy.ndimage import uniform_filter

from gfvc.ctc.digest import metric_digest
from gfvc.metrics import get_metric
from gfvc.metrics import fsim as fsim_module
from gfvc.metrics.fsim import REFERENCE_CACHE, FeatureCache


@pytest.fixture(scope="module")
def pictures():
    from skimage import data

    a = data.astronaut()[::4, ::4]  # 128x128 real photographs
    c = data.chelsea()[:256:2, :256:2]
    ref = np.stack([a, c, np.ascontiguousarray(a[:, ::-1])])
    rng = np.random.default_rng(5)
    noisy = np.clip(ref + rng.normal(0, 8, ref.shape), 0, 255).astype(np.uint8)
    blurred = uniform_filter(ref.astype(np.float64), size=(1, 3, 3, 1)).round().astype(np.uint8)
    # Codec-like: 8x8 block averaging (blocking) on top of blur.
    blocky = blurred.reshape(3, 16, 8, 16, 8, 3).mean(axis=(2, 4), keepdims=True)
    blocky = np.broadcast_to(blocky, (3, 16, 8, 16, 8, 3)).reshape(ref.shape)
    blocky = ((blocky + blurred) / 2).round().astype(np.uint8)
    return ref, {"noise": noisy, "blur": blurred, "blocks": blocky}


@pytest.fixture(autouse=True)
def empty_cache():
    REFERENCE_CACHE.clear()
    yield
    REFERENCE_CACHE.clear()


def test_float32_is_default_and_within_tolerance_of_float64(pictures):
    ref, distorted = pictures
    assert get_metric("fsim").dtype == get_metric("fsim", dtype="float32").dtype
    for name, dis in distorted.items():
        f64 = get_metric("fsim", dtype="float64", reference_cache=False).compute(ref, dis).per_picture
        f32 = get_metric("fsim", reference_cache=False).compute(ref, dis).per_picture
        assert 0.5 < f64.min() < 0.999, name
        assert not np.array_equal(f32, f64), name  # really another precision
        np.testing.assert_allclose(f32, f64, rtol=0, atol=1e-6, err_msg=name)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_reference_cache_gives_identical_values_and_is_hit_by_the_next_cell(pictures, dtype):
    ref, distorted = pictures
    uncached = {k: get_metric("fsim", dtype=dtype, reference_cache=False).compute(ref, d).per_picture
                for k, d in distorted.items()}
    assert REFERENCE_CACHE.hits == REFERENCE_CACHE.misses == 0 and len(REFERENCE_CACHE) == 0
    for i, (name, dis) in enumerate(distorted.items()):
        # One metric object per cell, as the CTC's cells make them.
        got = get_metric("fsim", dtype=dtype, batch_size=2).compute(ref, dis).per_picture
        assert np.array_equal(got, uncached[name]), name  # bit-identical
        assert REFERENCE_CACHE.misses == 2  # two batches of the reference, computed once
        assert REFERENCE_CACHE.hits == 2 * i
    # Another reference (same size) is not served from the cache.
    other = np.ascontiguousarray(ref[::-1])
    get_metric("fsim", dtype=dtype, batch_size=2).compute(other, distorted["noise"])
    assert REFERENCE_CACHE.misses == 4


def test_cache_key_includes_dtype(pictures):
    ref, distorted = pictures
    get_metric("fsim", dtype="float32").compute(ref, distorted["noise"])
    f64 = get_metric("fsim", dtype="float64").compute(ref, distorted["noise"]).per_picture
    assert REFERENCE_CACHE.hits == 0 and REFERENCE_CACHE.misses == 2
    np.testing.assert_array_equal(
        f64, get_metric("fsim", dtype="float64", reference_cache=False).compute(ref, distorted["noise"]).per_picture)


def test_feature_cache_is_bounded(monkeypatch, pictures):
    import torch

    cache = FeatureCache(max_bytes=3 * 4 * 1000)
    entry = lambda v: (torch.full((1000,), float(v)),)  # noqa: E731 - 4000 bytes each
    for i in range(5):
        cache.put(i, entry(i))
        assert cache.nbytes <= cache.max_bytes
    assert len(cache) == 3 and cache.get(0) is None and cache.get(1) is None
    assert cache.get(4)[0][0] == 4.0
    cache.get(2)  # most recently used now; 3 is the oldest
    cache.put(5, entry(5))
    assert cache.get(3) is None and cache.get(2) is not None
    cache.put("big", (torch.zeros(4000),))  # larger than the whole cache: not kept, nothing evicted
    assert cache.get("big") is None and len(cache) == 3

    # The metric's process cache stays within its bound too.
    ref, distorted = pictures
    per_picture = (3 + 1 + 1) * 128 * 128 * 4  # float32 YIQ, phase congruency, gradient of one picture
    small = FeatureCache(max_bytes=2 * per_picture)  # two of the three pictures fit
    monkeypatch.setattr(fsim_module, "REFERENCE_CACHE", small)
    get_metric("fsim", batch_size=1).compute(ref, distorted["noise"])
    assert len(small) == 2 and small.nbytes == small.max_bytes


def test_fsim_identity_changed_with_its_definition():
    m = get_metric("fsim")
    assert m.version == "2"
    old = metric_digest("fsim", {}, {}, "1.0")
    assert metric_digest("fsim", {}, {}, "1.0", m.version) != old
    # Metrics whose definition never changed keep the identity of their stored results.
    assert get_metric("psnr_y").version == "1"
    assert metric_digest("psnr_y", {}, {}, "1.0", "1") == metric_digest("psnr_y", {}, {}, "1.0")
