"""FV2V against the reference fixtures (tests/fixtures/FV2V, or GFVC_FIXTURES): strict loading of the
xz-compressed checkpoint, output equivalence of the decoder-side call sequence, head-pose geometry,
official-size structure (the ~30M-parameter head-pose estimator included) and checkpoint errors."""
from __future__ import annotations

import hashlib
import math
from unittest import mock

import pytest
import torch
import yaml

from gfvc.models.base import ModelConfigError
from gfvc.models.checkpoint import CheckpointError
from gfvc.models.fv2v import (CanonicalKeypointDetector, FV2VGenerator, FV2VModel, HeadExpressionEstimator,
                              headpose_bins_to_degrees, rotation_matrix, transform_keypoints)
from gfvc.models.registry import build_model, get_family
from models_helpers import (ATOL, RTOL, assert_official_structure, assert_outputs_match, num_parameters,
                            tiny_case)


def assert_close(actual: torch.Tensor, expected: torch.Tensor) -> None:
    torch.testing.assert_close(actual, expected, atol=ATOL, rtol=RTOL)


def skip_random_init():
    """Skip the random initialisation of new modules: the tiny he_estimator alone has 30M parameters
    and their values are overwritten by the strict checkpoint load anyway."""
    def keep(tensor, *args, **kwargs):
        return tensor
    return mock.patch.multiple("torch.nn.init", kaiming_uniform_=keep, uniform_=keep)


def build_tiny(fixtures_root):
    with skip_random_init():
        return build_model("fv2v", fixtures_root / "FV2V" / "tiny" / "model_params.yaml")


@pytest.fixture(scope="module")
def tiny(fixtures_root):
    case = tiny_case(fixtures_root, "FV2V")
    checkpoint = case["dir"] / "checkpoint.pth.tar.xz"
    model = build_tiny(fixtures_root)
    model.load_checkpoint(checkpoint)
    return {"checkpoint": checkpoint, "model": model, "inputs": case["inputs"], "outputs": case["outputs"],
            "meta": case["meta"], "model_params": case["model_params"]}


def test_family_is_registered():
    assert get_family("fv2v") is FV2VModel


def test_tiny_xz_checkpoint_loads_strictly_and_records_sha256(tiny):
    """The strict load itself happens in the fixture (load_checkpoint); the weights' values are checked
    through the outputs below (re-reading the 120 MB checkpoint here would double the test time)."""
    model = tiny["model"]
    assert model.checkpoint_sha256 == hashlib.sha256(tiny["checkpoint"].read_bytes()).hexdigest()
    assert model.checkpoint_path == str(tiny["checkpoint"])
    assert not model.training
    assert list(model.network_names) == ["generator", "kp_detector", "he_estimator"]


def test_tiny_outputs_match_reference(tiny):
    """Replay of FV2V/tiny/README.md (the decoder-side path of FV2V_decoder.py)."""
    model, inputs, expected = tiny["model"], tiny["inputs"], tiny["outputs"]
    with torch.no_grad():
        kp_canonical = model.kp_detector(inputs["reference"])["value"]
        he_reference = model.he_estimator(inputs["reference"])
        he_target = model.he_estimator(inputs["target"])
        rot_reference = rotation_matrix(*(headpose_bins_to_degrees(he_reference[k])
                                          for k in ("yaw", "pitch", "roll")))
        kp_reference = transform_keypoints(kp_canonical, rot_reference, he_reference["t"], he_reference["exp"])
        rot_target = rotation_matrix(*(headpose_bins_to_degrees(he_target[k]) for k in ("yaw", "pitch", "roll")))
        kp_target = transform_keypoints(kp_canonical, rot_target, he_target["t"], he_target["exp"])
        generated = model.generator(inputs["reference"], kp_source={"value": kp_reference},
                                    kp_driving={"value": kp_target})
    got = {"kp_canonical.value": kp_canonical, "kp_reference.value": kp_reference,
           "rot_mat_target": rot_target, "kp_target.value": kp_target}
    got.update({f"he_reference.{k}": v for k, v in he_reference.items()})
    got.update({f"he_target.{k}": v for k, v in he_target.items()})
    got.update({f"generator.{k}": v for k, v in generated.items()})
    compared = assert_outputs_match(got, expected)
    assert len(compared) == len(expected) == 17


def test_family_api_reproduces_reference(tiny):
    model, inputs, expected = tiny["model"], tiny["inputs"], tiny["outputs"]
    with torch.no_grad():
        reference_params = model.analyse(inputs["reference"])
        # A target needs no canonical keypoints: the decoder receives only rotation, translation and
        # expression (the public FV2V encoder runs the keypoint detector on the reference only).
        target_params = model.analyse(inputs["target"], canonical_keypoints=False)
        picture = model.synthesise(inputs["reference"], reference_params, target_params)
    assert set(reference_params) == {"kp_canonical", "yaw", "pitch", "roll", "rot_mat", "t", "exp"}
    assert set(target_params) == {"yaw", "pitch", "roll", "rot_mat", "t", "exp"}
    assert_close(reference_params["kp_canonical"], expected["kp_canonical.value"])
    assert_close(target_params["rot_mat"], expected["rot_mat_target"])
    for side, params in (("reference", reference_params), ("target", target_params)):
        assert_close(params["t"], expected[f"he_{side}.t"])
        assert_close(params["exp"], expected[f"he_{side}.exp"])
    assert_close(picture, expected["generator.prediction"])
    with pytest.raises(KeyError, match="rot_mat"):
        model.synthesise(inputs["reference"], reference_params, {"t": target_params["t"]})
    with pytest.raises(TypeError, match="no side information"):
        model.synthesise(inputs["reference"], reference_params, target_params, base_layer=picture)


# ------------------------------------------------------------------------------------ head-pose geometry
def test_headpose_bins_are_3_degrees_from_minus_99():
    logits = torch.full((3, 66), -1e4)
    logits[0, 33] = logits[1, 0] = logits[2, 65] = 0.0
    assert headpose_bins_to_degrees(logits).tolist() == [0.0, -99.0, 96.0]


def test_rotation_matrix_uses_3_14_and_roll_pitch_yaw_order():
    yaw, pitch, roll = torch.tensor([30.0]), torch.tensor([-20.0]), torch.tensor([10.0])
    r = rotation_matrix(yaw, pitch, roll)[0].double()
    assert torch.allclose(r @ r.T, torch.eye(3, dtype=torch.float64), atol=1e-6)
    # R = R_x(roll) R_y(pitch) R_z(yaw) with radians = degrees / 180 * 3.14 (reference quirk).
    a, b, c = (d / 180 * 3.14 for d in (30.0, -20.0, 10.0))
    rx = torch.tensor([[1, 0, 0], [0, math.cos(c), -math.sin(c)], [0, math.sin(c), math.cos(c)]])
    ry = torch.tensor([[math.cos(b), 0, math.sin(b)], [0, 1, 0], [-math.sin(b), 0, math.cos(b)]])
    rz = torch.tensor([[math.cos(a), -math.sin(a), 0], [math.sin(a), math.cos(a), 0], [0, 0, 1]])
    assert torch.allclose(r, (rx @ ry @ rz).double(), atol=1e-6)
    quarter_turn = rotation_matrix(torch.tensor([90.0]), torch.zeros(1), torch.zeros(1))[0]
    assert quarter_turn[0, 0].item() == pytest.approx(math.cos(1.57), abs=1e-7)   # not cos(pi/2) = 0
    assert abs(quarter_turn[0, 0].item()) > 5e-4


def test_transform_keypoints_is_rotation_translation_expression():
    kp = torch.randn(2, 4, 3)
    rot = rotation_matrix(torch.tensor([10.0, 50.0]), torch.tensor([5.0, -5.0]), torch.tensor([0.0, 20.0]))
    t, exp = torch.randn(2, 3), torch.randn(2, 12)
    expected = kp @ rot.transpose(1, 2) + t[:, None, :] + exp.view(2, 4, 3)
    assert torch.allclose(transform_keypoints(kp, rot, t, exp), expected, atol=1e-6)


# ------------------------------------------------------------------------------------ official size
def test_official_size_structure_matches_reference(fixtures_root):
    """All three sub-modules, the ~30M-parameter he_estimator included, at official size on the meta
    device (structure without weight memory)."""
    model, structure = assert_official_structure(fixtures_root, "FV2V", "fv2v")
    assert num_parameters(model.he_estimator) == 30_254_838
    assert structure["total_num_parameters"] == 125_296_277


def test_he_estimator_trunk_ignores_max_features(tiny):
    """Reference behaviour: the trunk widths are hard-coded; only block_expansion (stem) and num_kp
    (expression head) change the estimator."""
    params = tiny["model_params"]
    count = tiny["meta"]["param_counts"]["he_estimator"]["num_parameters"]
    assert num_parameters(tiny["model"].he_estimator) == count
    with torch.device("meta"):
        wider = HeadExpressionEstimator(**dict(params["he_estimator_params"], max_features=4096),
                                        **params["common_params"])
    assert num_parameters(wider) == count


def test_config_errors_are_reported(fixtures_root):
    with pytest.raises(ModelConfigError, match="reshape_channel"):
        FV2VGenerator(image_channel=3, feature_channel=8, num_kp=2, block_expansion=8, max_features=32,
                      num_down_blocks=2, reshape_channel=8, reshape_depth=2, num_resblocks=1,
                      dense_motion_params={"block_expansion": 8, "max_features": 16, "num_blocks": 2,
                                           "reshape_depth": 2, "compress": 2})
    with pytest.raises(ModelConfigError, match="estimate_jacobian"):
        CanonicalKeypointDetector(block_expansion=8, feature_channel=8, num_kp=2, image_channel=3,
                                  max_features=16, reshape_channel=32, reshape_depth=4, num_blocks=2,
                                  temperature=0.1, estimate_jacobian=True)
    params = yaml.safe_load((fixtures_root / "FV2V" / "tiny" / "model_params.yaml").read_text())
    del params["he_estimator_params"]
    with pytest.raises(ModelConfigError, match="he_estimator_params"):
        build_model("fv2v", params)


# ------------------------------------------------------------------------------------ checkpoint errors
@pytest.fixture(scope="module")
def fresh_tiny_model(fixtures_root):
    return build_tiny(fixtures_root)


def test_truncated_xz_checkpoint_is_reported(tmp_path, tiny, fresh_tiny_model):
    data = tiny["checkpoint"].read_bytes()
    (tmp_path / "cut.pth.tar.xz").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="corrupt or truncated xz"):
        fresh_tiny_model.load_checkpoint(tmp_path / "cut.pth.tar.xz")
    assert fresh_tiny_model.checkpoint_sha256 is None


def test_shape_mismatch_and_missing_estimator_are_named(tmp_path, tiny, fresh_tiny_model):
    model = tiny["model"]
    good = {"generator": model.generator.state_dict(), "kp_detector": model.kp_detector.state_dict()}
    bad = {k: dict(v) for k, v in good.items()}
    bad["generator"]["dense_motion_network.mask.weight"] = torch.zeros(11, 40, 7, 7, 7)
    # The he_estimator entry is left out to keep the file small: the generator is checked first.
    torch.save(bad, tmp_path / "bad.pth.tar")
    with pytest.raises(CheckpointError) as info:
        fresh_tiny_model.load_checkpoint(tmp_path / "bad.pth.tar")
    message = str(info.value)
    assert "generator.dense_motion_network.mask.weight" in message
    assert "[11, 40, 7, 7, 7]" in message and "[11, 41, 7, 7, 7]" in message
    torch.save(good, tmp_path / "no_he.pth.tar")
    with pytest.raises(CheckpointError, match="no top-level key 'he_estimator'"):
        fresh_tiny_model.load_checkpoint(tmp_path / "no_he.pth.tar")
    assert fresh_tiny_model.checkpoint_sha256 is None
