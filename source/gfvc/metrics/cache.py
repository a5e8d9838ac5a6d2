"""A per-process cache of reference-picture features for the full-reference metrics.

A CTC measures the same reference pictures at every rate point of every codec, and the
features a metric computes from the reference alone (FSIM's phase congruency, a deep metric's
backbone activations) are the same each time: they are kept here, keyed by the SHA-256 of the
batch's reference pictures and the metric's identity (name, settings, weights), and bounded in
bytes. A cached feature is the tensor the computation gives, so values are bit-identical with
and without the cache.
"""
from __future__ import annotations

import threading
from collections import OrderedDict


class FeatureCache:
    """Per-process LRU of reference-picture features, bounded by the bytes of the tensors it holds."""

    def __init__(self, max_bytes: int = 256 << 20, scan_resistant: bool = False):
        self.max_bytes = int(max_bytes)
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        # Scan resistance: a CTC worker reads the same reference batches in the same order cell
        # after cell. When they do not all fit, plain LRU evicts each one just before its next use
        # and never hits. With scan_resistant, a new entry evicts the least recently used one
        # only when that one has gone unused for more than twice the longest reuse distance seen
        # (in get() calls); otherwise the new entry is not kept. The cached part then hits on
        # every pass, and entries of a reference no longer measured age out.
        self.scan_resistant = bool(scan_resistant)
        self._clock = 0
        self._last_use: dict = {}
        self._reuse = 0

    @staticmethod
    def _size(value) -> int:
        return sum(t.element_size() * t.nelement() for t in value)

    def get(self, key):
        with self._lock:
            self._clock += 1
            value = self._entries.get(key)
            if value is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self._reuse = max(self._reuse, self._clock - self._last_use.get(key, self._clock))
            self._last_use[key] = self._clock
            self.hits += 1
            return value

    def put(self, key, value) -> None:
        size = self._size(value)
        with self._lock:
            if size > self.max_bytes or key in self._entries:
                return
            if self.scan_resistant:
                horizon = 2 * max(self._reuse, len(self._entries))
                while self._bytes + size > self.max_bytes:
                    oldest = next(iter(self._entries))
                    if self._clock - self._last_use.get(oldest, 0) <= horizon:
                        return  # everything cached is still in use: the new entry is not kept
                    self._evict_oldest()
            self._entries[key] = value
            self._last_use[key] = self._clock
            self._bytes += size
            while self._bytes > self.max_bytes:
                self._evict_oldest()

    def _evict_oldest(self) -> None:
        old_key, old = self._entries.popitem(last=False)
        self._last_use.pop(old_key, None)
        self._bytes -= self._size(old)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._last_use.clear()
            self._bytes = 0
            self.hits = self.misses = 0
            self._clock = self._reuse = 0

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def nbytes(self) -> int:
        return self._bytes


def per_picture_with_cached_reference(metric, reference, distorted, cache: FeatureCache, identity, features,
                                      compare):
    """(N,) values of a full-reference metric, batch by batch: ``compare(features(ref),
    features(dis))``, the reference batch's features taken from (or put into) ``cache`` under
    the SHA-256 of its pictures and ``identity`` (the metric's settings; None: no caching).
    ``metric`` gives batch_size, device and dtype (gfvc.metrics.base.TensorMetric)."""
    import hashlib

    import numpy as np
    import torch

    from .base import batches, to_tensor01

    out = []
    with torch.no_grad():
        for s in batches(reference.shape[0], metric.batch_size):
            ref_u8 = np.ascontiguousarray(reference[s])
            key = (hashlib.sha256(ref_u8.data).hexdigest(), ref_u8.shape, identity) if identity is not None else None
            ref_features = cache.get(key) if key is not None else None
            if ref_features is None:
                ref_features = features(to_tensor01(ref_u8, metric.device, metric.dtype))
                if key is not None:
                    cache.put(key, ref_features)
            dis_features = features(to_tensor01(distorted[s], metric.device, metric.dtype))
            value = compare(ref_features, dis_features)
            out.append(value.detach().to("cpu", torch.float64).numpy().reshape(-1))
    return np.concatenate(out)
