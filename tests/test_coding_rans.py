"""The rANS coder and the CDF quantisation of gfvc.coding.rans.

Compatibility with CompressAI's byte strings is shown on real reference output in
tests/test_models_rdac.py (the RDAC fixture's y/z strings); here: exact round trips, escapes,
determinism, clean errors on damaged strings, and the CDF quantisation against a literal
transcription of the algorithm it implements.
"""
from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from gfvc.coding import rans
from gfvc.coding.entropy_models import GaussianConditional
from gfvc.coding.errors import EntropyCodingError


def literal_quantized_cdf(pmf, precision=16):
    """Test reference: the quantisation as CompressAI describes it, one step at a time (slow)."""
    scale = 1 << precision
    cdf = [0] + [int(np.floor(float(np.float32(p)) * scale + 0.5)) for p in pmf]
    total = sum(cdf)
    cdf = [(scale * c) // total for c in cdf]
    for i in range(1, len(cdf)):
        cdf[i] += cdf[i - 1]
    cdf[-1] = scale
    for i in range(len(cdf) - 1):
        if cdf[i] == cdf[i + 1]:
            best_freq, best_steal = None, -1
            for j in range(len(cdf) - 1):
                freq = cdf[j + 1] - cdf[j]
                if freq > 1 and (best_freq is None or freq < best_freq):
                    best_freq, best_steal = freq, j
            if best_steal < i:
                for j in range(best_steal + 1, i + 1):
                    cdf[j] -= 1
            else:
                for j in range(i + 1, best_steal + 1):
                    cdf[j] += 1
    return cdf


@pytest.mark.parametrize("seed", range(6))
def test_quantized_cdf_matches_the_literal_algorithm(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(3, 400))
    # Heavy tails of tiny probabilities force many zero-width symbols to be fixed.
    pmf = rng.exponential(size=n) ** rng.uniform(1, 12)
    pmf[rng.random(n) < 0.3] = 0.0
    pmf = (pmf / pmf.sum()).astype(np.float32)
    assert rans.pmf_to_quantized_cdf(pmf) == literal_quantized_cdf(pmf)


def test_quantized_cdf_gives_every_symbol_a_frequency():
    pmf = np.array([0.5, 0.5] + [1e-9] * 50, dtype=np.float32)
    cdf = rans.pmf_to_quantized_cdf(pmf)
    assert cdf[0] == 0 and cdf[-1] == 1 << 16
    assert min(np.diff(cdf)) >= 1


def test_quantized_cdf_rejects_bad_pmf():
    with pytest.raises(EntropyCodingError, match="negative or non-finite"):
        rans.pmf_to_quantized_cdf([0.5, -0.1, 0.6])
    with pytest.raises(EntropyCodingError, match="sums to zero"):
        rans.pmf_to_quantized_cdf([0.0, 0.0])


@pytest.fixture(scope="module")
def gaussian_tables():
    model = GaussianConditional(None)
    model.update_scale_table()
    return model.coding_tables()


def test_round_trip_with_escapes(gaussian_tables):
    rng = np.random.default_rng(7)
    n = 3000
    indexes = rng.integers(0, len(gaussian_tables), n)
    symbols = np.round(rng.standard_normal(n) * 3).astype(np.int64)
    # Values far outside every table's range take the bypass path (both signs, long escapes).
    symbols[::97] = rng.integers(-70000, 70000, len(symbols[::97]))
    symbols[5] = 2 ** 31 // 2 - 1
    symbols[6] = -(2 ** 31 // 2)
    data = rans.encode_with_indexes(symbols, indexes, gaussian_tables)
    assert rans.decode_with_indexes(data, indexes, gaussian_tables) == symbols.tolist()
    assert rans.encode_with_indexes(symbols, indexes, gaussian_tables) == data   # deterministic


def test_empty_input_round_trips(gaussian_tables):
    data = rans.encode_with_indexes([], [], gaussian_tables)
    assert len(data) == 8
    assert rans.decode_with_indexes(data, [], gaussian_tables) == []


def test_size_is_close_to_the_information_content():
    """A peaked two-table source: the coded size is within a few bytes of -sum(log2 p)."""
    cdfs = [rans.pmf_to_quantized_cdf(np.array([0.7, 0.2, 0.0999, 0.0001], dtype=np.float32)),
            rans.pmf_to_quantized_cdf(np.array([0.25, 0.25, 0.25, 0.2499, 0.0001], dtype=np.float32))]
    width = max(map(len, cdfs))
    tables = rans.CdfTables([c + [0] * (width - len(c)) for c in cdfs], [len(c) for c in cdfs], [0, -2])
    rng = np.random.default_rng(3)
    indexes = rng.integers(0, 2, 20000)
    symbols = np.where(indexes == 0, rng.choice(3, 20000, p=[0.7, 0.2, 0.1]), rng.integers(-2, 2, 20000))
    data = rans.encode_with_indexes(symbols, indexes, tables)
    information = 0.0
    for s, i in zip(symbols.tolist(), indexes.tolist()):
        cdf = cdfs[i]
        v = s - tables.offsets[i]
        information -= np.log2((cdf[v + 1] - cdf[v]) / 65536)
    assert abs(8 * len(data) - information) < 96          # state flush + word granularity
    assert rans.decode_with_indexes(data, indexes, tables) == symbols.tolist()


def test_damaged_strings_fail_cleanly(gaussian_tables):
    rng = np.random.default_rng(11)
    indexes = rng.integers(0, len(gaussian_tables), 500)
    symbols = np.round(rng.standard_normal(500) * 20).astype(np.int64)
    data = rans.encode_with_indexes(symbols, indexes, gaussian_tables)
    with pytest.raises(EntropyCodingError, match="truncated"):
        rans.decode_with_indexes(data[:-8], indexes, gaussian_tables)
    with pytest.raises(EntropyCodingError, match="whole number"):
        rans.decode_with_indexes(data[:-1], indexes, gaussian_tables)
    with pytest.raises(EntropyCodingError, match="corrupt"):
        rans.decode_with_indexes(data + b"\0\0\0\0", indexes, gaussian_tables)
    with pytest.raises(EntropyCodingError, match="CDF index out of range"):
        rans.decode_with_indexes(data, [len(gaussian_tables)], gaussian_tables)
    # A flipped bit either is detected or decodes to other values; it is never silently equal.
    damaged = bytearray(data)
    damaged[len(damaged) // 2] ^= 0x10
    try:
        decoded = rans.decode_with_indexes(bytes(damaged), indexes, gaussian_tables)
    except EntropyCodingError:
        pass
    else:
        assert decoded != symbols.tolist()


def test_bad_tables_and_arguments_are_named():
    with pytest.raises(EntropyCodingError, match="does not run from 0"):
        rans.CdfTables([[0, 10, 20]], [3], [0])
    with pytest.raises(EntropyCodingError, match="table sizes disagree"):
        rans.CdfTables([[0, 1, 65536]], [3, 3], [0])
    tables = rans.CdfTables([[0, 30000, 65536]], [3], [0])
    with pytest.raises(EntropyCodingError, match="2 symbols but 1 indexes"):
        rans.encode_with_indexes([0, 0], [0], tables)
    with pytest.raises(EntropyCodingError, match="must be integers"):
        rans.encode_with_indexes([0.5], [0], tables)


@pytest.mark.slow
def test_benchmark_official_size_latents(gaussian_tables, capsys):
    """Entropy coding of one 256x256 picture's RDAC latents (y: 72x8x8 Gaussian, z: 48x2x2)."""
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    indexes = rng.integers(8, 40, 72 * 8 * 8)
    symbols = np.round(rng.standard_normal(len(indexes)) * 4).astype(np.int64)
    runs = 20
    start = time.perf_counter()
    for _ in range(runs):
        data = rans.encode_with_indexes(symbols, indexes, gaussian_tables)
    encode_ms = (time.perf_counter() - start) / runs * 1e3
    start = time.perf_counter()
    for _ in range(runs):
        decoded = rans.decode_with_indexes(data, indexes, gaussian_tables)
    decode_ms = (time.perf_counter() - start) / runs * 1e3
    assert decoded == symbols.tolist()
    with capsys.disabled():
        print(f"\nrANS y latent 72x8x8: {len(data)} bytes, encode {encode_ms:.2f} ms, decode {decode_ms:.2f} ms")
