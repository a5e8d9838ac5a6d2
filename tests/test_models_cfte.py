"""CFTE against the reference fixtures (tests/fixtures/CFTE, or GFVC_FIXTURES): strict checkpoint
loading, output equivalence, the Farneback step and its argument order, official-size structure,
checkpoint errors, and the GDN layer."""
from __future__ import annotations

import hashlib

import pytest
import torch
import yaml

from gfvc.models.cfte import CFTEModel, farneback_sparse_motion
from gfvc.models.checkpoint import CheckpointError
from gfvc.models.gdn import GDN, PEDESTAL
from gfvc.models.registry import build_model, get_family
from models_helpers import (ATOL, RTOL, assert_official_structure, assert_outputs_match, load_tiny_model)


def assert_close(actual: torch.Tensor, expected: torch.Tensor) -> None:
    torch.testing.assert_close(actual, expected, atol=ATOL, rtol=RTOL)


@pytest.fixture(scope="module")
def tiny(fixtures_root):
    model, case = load_tiny_model(fixtures_root, "CFTE", "cfte")
    return {"root": case["dir"], "model": model, "inputs": case["inputs"], "outputs": case["outputs"]}


@pytest.fixture(scope="module")
def tiny_run(tiny):
    """Replay of the reference calls in CFTE/tiny/README.md."""
    model, inputs = tiny["model"], tiny["inputs"]
    with torch.no_grad():
        feature_reference = model.kp_detector(inputs["reference"])
        feature_target = model.kp_detector(inputs["target"])
        generated = model.generator(inputs["reference"], heatmap_source=feature_reference,
                                    heatmap_driving=feature_target)
    got = {"feature_reference.value": feature_reference["value"],
           "feature_target.value": feature_target["value"]}
    got.update({f"generator.{k}": v for k, v in generated.items()})
    return got


def test_family_is_registered():
    assert get_family("cfte") is CFTEModel


def test_tiny_checkpoint_loads_strictly_and_records_sha256(tiny):
    model = tiny["model"]
    expected = hashlib.sha256((tiny["root"] / "checkpoint.pth.tar").read_bytes()).hexdigest()
    assert model.checkpoint_sha256 == expected
    assert not model.training
    checkpoint = torch.load(tiny["root"] / "checkpoint.pth.tar", map_location="cpu", weights_only=True)
    for name in ("generator", "kp_detector"):
        state = getattr(model, name).state_dict()
        assert list(state) == list(checkpoint[name])
        for key, value in checkpoint[name].items():
            assert torch.equal(state[key], value), key


def test_tiny_outputs_match_reference(tiny, tiny_run):
    compared = assert_outputs_match(tiny_run, tiny["outputs"])
    assert len(compared) == len(tiny["outputs"]) == 8


def test_family_api_reproduces_reference(tiny):
    model, inputs, expected = tiny["model"], tiny["inputs"], tiny["outputs"]
    with torch.no_grad():
        params = model.analyse(torch.cat([inputs["reference"], inputs["target"]]))
        assert set(params) == {"feature"}
        reference_params = {"feature": params["feature"][:1]}
        target_params = {"feature": params["feature"][1:]}
        picture = model.synthesise(inputs["reference"], reference_params, target_params)
    assert_close(reference_params["feature"], expected["feature_reference.value"])
    assert_close(target_params["feature"], expected["feature_target.value"])
    assert_close(picture, expected["generator.prediction"])
    with pytest.raises(TypeError, match="no side information"):
        model.synthesise(inputs["reference"], reference_params, target_params, base_layer=picture)


def test_farneback_order_is_the_reference_quirk(tiny):
    """prev = driving (target) feature, next = source (reference) feature, bit-exact; the order the
    parameter names suggest gives a different flow (the fixture tolerance alone cannot tell)."""
    expected = tiny["outputs"]
    source, driving = expected["feature_reference.value"], expected["feature_target.value"]
    flow = farneback_sparse_motion(driving, source)
    assert flow.dtype == torch.float32 and flow.shape == (1, 4, 4, 2)
    assert torch.equal(flow, expected["generator.sparse_motion"])
    assert not torch.equal(farneback_sparse_motion(source, driving), expected["generator.sparse_motion"])


def test_farneback_is_per_picture_and_handles_constant_features(tiny):
    expected = tiny["outputs"]
    source, driving = expected["feature_reference.value"], expected["feature_target.value"]
    scaled = 10 * driving   # another picture, other value range: must not change the first one's flow
    batch = farneback_sparse_motion(torch.cat([driving, scaled]), torch.cat([source, source]))
    assert torch.equal(batch[:1], expected["generator.sparse_motion"])
    assert torch.equal(batch[1:], farneback_sparse_motion(scaled, source))
    flat = farneback_sparse_motion(torch.full((1, 1, 4, 4), 0.5), torch.full((1, 1, 4, 4), 0.5))
    assert torch.equal(flat, torch.zeros(1, 4, 4, 2))


def test_farneback_rejects_multichannel_features():
    with pytest.raises(ValueError, match="single-channel"):
        farneback_sparse_motion(torch.rand(1, 2, 4, 4), torch.rand(1, 2, 4, 4))


def test_official_size_structure_matches_reference(fixtures_root):
    _, structure = assert_official_structure(fixtures_root, "CFTE", "cfte")
    assert structure["total_num_parameters"] == 58_015_079


def test_official_size_forward_smoke():
    """Official generator path at 256x256 (scale 0.25: anti-aliased downscale, 4x4 feature, flow resize)
    with random weights; only shapes and ranges are checked (the fixture covers the values)."""
    params = yaml.safe_load("""
common_params: {num_kp: 1, num_channels: 3, estimate_jacobian: false}
kp_detector_params: {temperature: 0.1, block_expansion: 4, max_features: 16, scale_factor: 0.25, num_blocks: 2}
generator_params:
  block_expansion: 4
  max_features: 16
  num_down_blocks: 2
  num_bottleneck_blocks: 1
  estimate_occlusion_map: true
  dense_motion_params: {block_expansion: 4, max_features: 16, num_down_blocks: 4,
    num_bottleneck_blocks: 1, num_blocks: 2, scale_factor: 0.25}
""")
    torch.manual_seed(0)
    model = build_model("cfte", params).eval()
    frames = torch.rand(2, 3, 256, 256)
    with torch.no_grad():
        feature = model.analyse(frames)["feature"]
        out = model.generator(frames[:1], heatmap_source={"value": feature[:1]},
                              heatmap_driving={"value": feature[1:]})
    assert feature.shape == (2, 1, 4, 4)
    assert out["sparse_motion"].shape == (1, 4, 4, 2)
    assert out["deformation"].shape == (1, 64, 64, 2)
    assert out["prediction"].shape == (1, 3, 256, 256)
    assert 0 <= out["prediction"].min() and out["prediction"].max() <= 1


# ------------------------------------------------------------------------------------ checkpoint errors
@pytest.fixture(scope="module")
def tiny_checkpoint(fixtures_root):
    return torch.load(fixtures_root / "CFTE" / "tiny" / "checkpoint.pth.tar", map_location="cpu",
                      weights_only=True)


@pytest.fixture
def fresh_tiny_model(fixtures_root):
    return build_model("cfte", fixtures_root / "CFTE" / "tiny" / "model_params.yaml")


def test_shape_mismatch_names_key_and_both_shapes(tmp_path, tiny_checkpoint, fresh_tiny_model):
    bad = {k: dict(v) for k, v in tiny_checkpoint.items()}
    bad["kp_detector"]["conv1.weight"] = torch.zeros(1, 11, 3, 3)
    torch.save(bad, tmp_path / "bad.pth.tar")
    with pytest.raises(CheckpointError) as info:
        fresh_tiny_model.load_checkpoint(tmp_path / "bad.pth.tar")
    message = str(info.value)
    assert "kp_detector.conv1.weight" in message
    assert "[1, 11, 3, 3]" in message and "[1, 11, 5, 5]" in message
    assert "\n" not in message
    assert fresh_tiny_model.checkpoint_sha256 is None


def test_missing_and_unexpected_keys_are_named(tmp_path, tiny_checkpoint, fresh_tiny_model):
    bad = {k: dict(v) for k, v in tiny_checkpoint.items()}
    del bad["kp_detector"]["gdn4.gamma"]
    bad["generator"]["dense_motion_network.down.weight"] = torch.zeros(3, 1, 13, 13)
    torch.save(bad, tmp_path / "bad.pth.tar")
    with pytest.raises(CheckpointError) as info:
        fresh_tiny_model.load_checkpoint(tmp_path / "bad.pth.tar")
    assert "generator.dense_motion_network.down.weight" in str(info.value)
    del bad["generator"]["dense_motion_network.down.weight"]
    torch.save(bad, tmp_path / "bad.pth.tar")
    with pytest.raises(CheckpointError, match=r"missing key kp_detector\.gdn4\.gamma .*\[1, 1\]"):
        fresh_tiny_model.load_checkpoint(tmp_path / "bad.pth.tar")


def test_truncated_and_wrong_checkpoints(tmp_path, fixtures_root, fresh_tiny_model):
    data = (fixtures_root / "CFTE" / "tiny" / "checkpoint.pth.tar").read_bytes()
    (tmp_path / "cut.pth.tar").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        fresh_tiny_model.load_checkpoint(tmp_path / "cut.pth.tar")
    # Right file format, empty sub-module states.
    torch.save({"generator": {}, "kp_detector": {}}, tmp_path / "empty.pth.tar")
    with pytest.raises(CheckpointError, match="missing key generator"):
        fresh_tiny_model.load_checkpoint(tmp_path / "empty.pth.tar")
    torch.save({"kp_detector": {}}, tmp_path / "nogen.pth.tar")
    with pytest.raises(CheckpointError, match="no top-level key 'generator'"):
        fresh_tiny_model.load_checkpoint(tmp_path / "nogen.pth.tar")


# ------------------------------------------------------------------------------------ GDN
def test_gdn_matches_its_definition_and_keeps_the_two_parameter_layout():
    torch.manual_seed(3)
    gdn, igdn = GDN(4), GDN(4, inverse=True)
    assert list(gdn.state_dict()) == ["beta", "gamma"]
    with torch.no_grad():
        for layer in (gdn, igdn):
            layer.beta.copy_(torch.rand(4) + 0.5)
            layer.gamma.copy_(torch.rand(4, 4) * 0.3)
    x = torch.randn(2, 4, 5, 6)
    beta = gdn.beta.detach() ** 2 - PEDESTAL
    gamma = gdn.gamma.detach() ** 2 - PEDESTAL
    norm = torch.sqrt(beta.view(1, 4, 1, 1) + torch.einsum("ij,njhw->nihw", gamma, x * x))
    assert_close(gdn(x), x / norm)
    beta = igdn.beta.detach() ** 2 - PEDESTAL
    gamma = igdn.gamma.detach() ** 2 - PEDESTAL
    norm = torch.sqrt(beta.view(1, 4, 1, 1) + torch.einsum("ij,njhw->nihw", gamma, x * x))
    assert_close(igdn(x), x * norm)
    # Stored values below the bounds are clamped before squaring (beta stays >= beta_min).
    with torch.no_grad():
        gdn.beta.fill_(-5.0)
        gdn.gamma.zero_()
    assert_close(gdn(x), x / torch.sqrt(torch.tensor(1e-6)))
