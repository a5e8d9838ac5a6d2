"""The deep metrics' per-process caches: reference features across rate points and codecs
(bit-identical values with and without), the networks built once per process, and the
scan-resistant feature cache that keeps hitting when a CTC's references do not all fit."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from gfvc.metrics import get_metric
from gfvc.metrics import backbones
from gfvc.metrics.benchmark import random_backbones, synthetic_pair
from gfvc.metrics.cache import FeatureCache

DEEP = ("lpips_alex", "lpips_vgg", "dists", "msvgg")


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    return random_backbones(tmp_path_factory.mktemp("backbones"))


def _options(name, weights):
    roles = {s.option for s in type(get_metric(name)).weight_sources}
    return {k: v for k, v in weights.items() if k in roles}


@pytest.mark.parametrize("name", DEEP)
def test_cached_reference_features_give_bit_identical_values(name, weights, monkeypatch):
    monkeypatch.setattr(backbones, "REFERENCE_CACHE", FeatureCache(max_bytes=1 << 30, scan_resistant=True))
    cache = backbones.REFERENCE_CACHE
    # msVGG's smallest picture side is 128 (and it runs four scales): one picture only
    size, n = (128, 1) if name == "msvgg" else (48, 2)
    ref, dis = synthetic_pair(n, size, seed=0)
    _, other = synthetic_pair(n, size, seed=1)  # a second "rate point": another distorted sequence
    opts = _options(name, weights)
    uncached = [get_metric(name, reference_cache=False, batch_size=1, **opts).compute(ref, d).per_picture
                for d in (dis, other)]
    assert cache.hits == cache.misses == 0 and len(cache) == 0
    cached = [get_metric(name, batch_size=1, **opts).compute(ref, d).per_picture for d in (dis, other)]
    assert cache.misses == n and cache.hits == n  # each batch of the reference computed once
    for a, b in zip(uncached, cached):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(cached[0], cached[1])


def test_the_cache_key_holds_the_metric_identity(weights, monkeypatch):
    monkeypatch.setattr(backbones, "REFERENCE_CACHE", FeatureCache(max_bytes=1 << 30, scan_resistant=True))
    cache = backbones.REFERENCE_CACHE
    ref, dis = synthetic_pair(1, 48)
    get_metric("lpips_alex", **_options("lpips_alex", weights)).compute(ref, dis)
    get_metric("lpips_alex", dtype="float64", **_options("lpips_alex", weights)).compute(ref, dis)
    get_metric("lpips_vgg", **_options("lpips_vgg", weights)).compute(ref, dis)
    get_metric("dists", **_options("dists", weights)).compute(ref, dis)  # the same VGG-16 file as lpips_vgg
    assert cache.hits == 0 and cache.misses == 4  # other settings, other network: no shared features
    msvgg = [get_metric("msvgg", layer_weights=w, **_options("msvgg", weights)) for w in ((1,) * 5, (10,) * 5)]
    msvgg[0]._network()
    msvgg[1]._network()
    assert msvgg[0]._identity != msvgg[1]._identity and msvgg[0]._model is not msvgg[1]._model


def test_a_network_is_built_once_per_process(weights, monkeypatch):
    monkeypatch.setattr(backbones, "_NETWORKS", {})
    built = []
    real = backbones.load_backbone
    monkeypatch.setattr(backbones, "load_backbone", lambda *a: built.append(a[0]) or real(*a))
    import gfvc.metrics.lpips as lpips_module

    monkeypatch.setattr(lpips_module, "load_backbone", backbones.load_backbone)
    ref, dis = synthetic_pair(1, 48)
    opts = _options("lpips_alex", weights)
    for _ in range(3):  # a CTC worker makes a metric object per cell
        get_metric("lpips_alex", **opts).compute(ref, dis)
    assert built == ["alexnet"]
    get_metric("lpips_alex", dtype="float64", **opts).compute(ref, dis)
    assert built == ["alexnet", "alexnet"]


def _entry(v):
    return (torch.full((1000,), float(v)),)  # 4000 bytes


def test_scan_resistant_cache_hits_when_the_references_do_not_fit():
    keys = list(range(5))
    plain, resistant = FeatureCache(max_bytes=3 * 4000), FeatureCache(max_bytes=3 * 4000, scan_resistant=True)
    for cache in (plain, resistant):
        for _ in range(4):  # four cells reading the same five reference batches in order
            for k in keys:
                if cache.get(k) is None:
                    cache.put(k, _entry(k))
            assert cache.nbytes <= cache.max_bytes
    assert plain.hits == 0  # LRU evicts each batch just before it is read again
    assert resistant.hits == 3 * 3 and len(resistant) == 3
    # the next sequence: the old entries age out and the new references are cached
    for _ in range(4):
        for k in range(10, 15):
            if resistant.get(k) is None:
                resistant.put(k, _entry(k))
    assert all(resistant.get(k) is None for k in keys)
    assert sum(resistant.get(k) is not None for k in range(10, 15)) == 3
