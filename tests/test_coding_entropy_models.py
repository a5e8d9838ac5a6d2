"""EntropyBottleneck / GaussianConditional: CompressAI 1.2.4 layout, tables, coding round trips."""
from __future__ import annotations

import hashlib
import math

import numpy as np
import pytest
import torch
from models_helpers import expected_layout, official_structure

from gfvc.coding import default_gaussian_tables
from gfvc.coding import entropy_models as em
from gfvc.coding.entropy_models import EntropyBottleneck, GaussianConditional, update_entropy_models
from gfvc.coding.errors import EntropyCodingError, EntropyTablesError
from gfvc.models.checkpoint import state_dict_layout


def official_entries(fixtures_root, prefix):
    """The official RDAC generator entries under ``prefix``, with the prefix removed."""
    return [(key[len(prefix):], shape, dtype)
            for key, shape, dtype in expected_layout(official_structure(fixtures_root, "RDAC"), "generator")
            if key.startswith(prefix)]


def test_state_dict_layout_equals_compressai(fixtures_root):
    assert state_dict_layout(EntropyBottleneck(48)) == official_entries(fixtures_root, "sdc.entropy_bottleneck.")
    assert state_dict_layout(GaussianConditional(None)) == official_entries(fixtures_root,
                                                                            "sdc.gaussian_conditional.")


def test_shipped_gaussian_tables_equal_the_computed_ones():
    """The shipped integer tables are what CompressAI's float32 construction gives (on this machine)."""
    assert torch.equal(em.default_scale_table(),
                       torch.exp(torch.linspace(math.log(0.11), math.log(256), 64)))
    model = GaussianConditional(None)
    model.scale_table = em.default_scale_table()
    computed = model._gaussian_tables(em.default_scale_table())
    shipped = default_gaussian_tables.tables()
    for c, s in zip(computed, shipped):
        assert np.array_equal(c.numpy(), s)
    model.update_scale_table()
    assert model.tables_sha256() != ""
    cdf = np.ascontiguousarray(model._quantized_cdf.numpy().astype("<i4"))
    assert hashlib.sha256(cdf.tobytes()).hexdigest() == default_gaussian_tables.QUANTIZED_CDF_SHA256


def test_a_custom_scale_table_is_computed():
    model = GaussianConditional(None)
    model.update_scale_table([0.2, 1.0, 5.0])
    assert model._quantized_cdf.shape[0] == 3
    assert model._offset.tolist() == [-math.ceil(s * 6.109410204869) for s in (0.2, 1.0, 5.0)]


def trained_like_bottleneck(channels=8, seed=0):
    torch.manual_seed(seed)
    model = EntropyBottleneck(channels)
    with torch.no_grad():    # spread the density and move the medians away from zero
        model.quantiles.copy_(torch.tensor([-12.0, 0.0, 12.0]).repeat(channels, 1, 1)
                              + torch.linspace(-2, 2, channels).view(-1, 1, 1))
        for name, p in model.named_parameters():
            if name.startswith("_bias"):
                p.add_(torch.randn_like(p) * 0.3)
    return model.eval()


def test_bottleneck_round_trip_equals_eval_forward():
    model = trained_like_bottleneck()
    with pytest.raises(EntropyTablesError, match="update"):
        model.compress(torch.zeros(1, 8, 2, 2))
    assert model.update() is True
    assert model.update() is False             # present and not forced
    x = torch.randn(2, 8, 6, 5) * 4
    strings = model.compress(x)
    assert len(strings) == 2
    decoded = model.decompress(strings, (6, 5))
    expected, likelihoods = model(x)
    assert torch.equal(decoded, expected)
    bits = sum(8 * len(s) for s in strings)
    information = float(-torch.log2(likelihoods.detach()).sum())
    assert abs(bits - information) < 0.05 * information + 2 * 96


def test_gaussian_round_trip_and_rate():
    model = GaussianConditional(None).eval()
    update_entropy_models(model)
    torch.manual_seed(1)
    scales = torch.rand(1, 16, 12, 12) * 8 + 0.05
    means = torch.randn(1, 16, 12, 12) * 3
    y = means + torch.randn_like(means) * scales
    y[0, 0, 0, 0] = 5000.0                          # escape path
    indexes = model.build_indexes(scales)
    strings = model.compress(y, indexes, means=means)
    decoded = model.decompress(strings, indexes, means=means)
    expected, likelihoods = model(y, scales, means=means)
    assert torch.equal(decoded, expected)
    information = float(-torch.log2(likelihoods).sum())
    assert abs(8 * len(strings[0]) - information) < 0.05 * information + 200


def test_build_indexes_picks_the_first_scale_not_below():
    model = GaussianConditional(None)
    model.update_scale_table()
    table = model.scale_table
    scales = torch.stack([table[0] / 2, table[3], table[3] * 1.0001, table[-1] * 2])
    assert model.build_indexes(scales).tolist() == [0, 3, 4, 63]


def test_training_mode_adds_bounded_noise():
    model = trained_like_bottleneck().train()
    x = torch.randn(1, 8, 4, 4)
    noisy, _ = model(x)
    assert 0 < (noisy - x).abs().max() <= 0.5


def test_tables_are_saved_empty_and_rebuilt_identically():
    model = trained_like_bottleneck()
    model.update()
    first = model.tables_sha256()
    state = model.state_dict()
    assert [state[k].shape for k in ("_offset", "_quantized_cdf", "_cdf_length")] == [(0,)] * 3
    fresh = EntropyBottleneck(8)
    fresh.load_state_dict(state, strict=True)
    with pytest.raises(EntropyTablesError):
        fresh.coding_tables()
    fresh.update(force=True)
    assert fresh.tables_sha256() == first
    model.load_state_dict(state, strict=True)          # into an updated module: tables emptied
    assert not model.tables_ready


def test_filled_tables_in_a_state_dict_are_loaded_as_they_are():
    """A CompressAI checkpoint saved after update() holds filled tables: they load (resized)."""
    source = GaussianConditional(None)
    source.update_scale_table()
    state = source.state_dict()
    for name in ("_offset", "_quantized_cdf", "_cdf_length", "scale_table"):
        state[name] = getattr(source, name).clone()
    target = GaussianConditional(None)
    target.load_state_dict(state, strict=True)
    assert target.tables_ready and target.tables_sha256() == source.tables_sha256()
    assert torch.equal(target.scale_table, source.scale_table)


def test_decompress_rejects_malformed_arguments():
    model = trained_like_bottleneck()
    model.update()
    with pytest.raises(EntropyCodingError, match="list of byte strings"):
        model.decompress(b"abc", (2, 2))
    with pytest.raises(EntropyCodingError, match="invalid latent size"):
        model.decompress([b"\0" * 8], (0, 2))
    with pytest.raises(EntropyCodingError, match="cannot code a tensor"):
        model.compress(torch.zeros(1, 3, 2, 2))
