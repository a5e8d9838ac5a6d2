"""Model zoo foundation: registry, configuration reading, checkpoint loading and its errors, blocks."""
from __future__ import annotations

import hashlib
import lzma
import re

import pytest
import torch
import yaml

from gfvc.models import (CODEC_FAMILIES, CheckpointError, FaceModel, ModelConfigError, build_model,
                         family_of_codec, get_family, load_model, read_model_params)
from gfvc.models.blocks import AntiAliasInterpolation2d, kp2gaussian, make_coordinate_grid, warp
from gfvc.models.checkpoint import read_checkpoint
from gfvc.models.registry import UnknownFamilyError
from models_helpers import tiny_case


@pytest.fixture(scope="module")
def dac_case(fixtures_root):
    return tiny_case(fixtures_root, "DAC")


def save_variant(tmp_path, checkpoint, name, edit):
    variant = {k: dict(v) for k, v in checkpoint.items()}
    edit(variant)
    path = tmp_path / name
    torch.save(variant, path)
    return path


# ------------------------------------------------------------------ registry and configuration
def test_codec_names_map_to_families():
    assert family_of_codec("rdac_plus") == "rdac_plus"
    assert family_of_codec("MRDAC") == "mrdac"
    assert {family_of_codec(c) for c in CODEC_FAMILIES} == {"fomm", "cfte", "fv2v", "dac", "hdac", "rdac", "mrdac",
                                                             "rdac_plus"}
    with pytest.raises(UnknownFamilyError, match="unknown codec 'vvc'"):
        family_of_codec("vvc")
    with pytest.raises(UnknownFamilyError, match="unknown model family 'nope'"):
        get_family("nope")
    for family in ("fomm", "dac", "hdac", "mrdac"):
        cls = get_family(family)
        assert issubclass(cls, FaceModel) and cls.family == family


def test_config_is_read_from_a_full_yaml_or_the_model_params_section(dac_case, tmp_path):
    full = tmp_path / "dac.yaml"
    full.write_text(yaml.safe_dump({"dataset_params": {}, "model_params": dac_case["model_params"]}))
    assert read_model_params(full) == dac_case["model_params"]
    assert read_model_params(dac_case["dir"] / "model_params.yaml") == dac_case["model_params"]
    (tmp_path / "bad.yaml").write_text("model_params: [1, 2]\n")
    with pytest.raises(ModelConfigError, match="no model_params with generator_params"):
        read_model_params(tmp_path / "bad.yaml")
    with pytest.raises(ModelConfigError, match="cannot read model config"):
        read_model_params(tmp_path / "absent.yaml")
    params = {**dac_case["model_params"], "kp_detector_params": {}}
    with pytest.raises(ModelConfigError, match="dac: invalid model_params"):
        build_model("dac", params)
    with pytest.raises(ModelConfigError, match="unknown option"):
        build_model("hdac", dac_case["model_params"], num_kp=20)


def test_load_model_records_the_checkpoint_sha256(dac_case):
    model = load_model("dac", dac_case["dir"] / "model_params.yaml", dac_case["checkpoint"], device="cpu")
    assert model.checkpoint_sha256 == hashlib.sha256(dac_case["checkpoint"].read_bytes()).hexdigest()
    assert not model.training and model.device.type == "cpu"
    frames = dac_case["inputs"]["reference"]
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        model.analyse(frames[0])


# ------------------------------------------------------------------ checkpoint errors
def test_shape_mismatch_names_the_key_and_both_shapes(dac_case, tmp_path):
    checkpoint = torch.load(dac_case["checkpoint"], map_location="cpu", weights_only=True)
    path = save_variant(tmp_path, checkpoint, "shape.pth.tar",
                        lambda c: c["kp_detector"].__setitem__("kp.conv.weight", torch.zeros(20, 35, 7, 7)))
    model = build_model("dac", dac_case["model_params"])
    before = model.generator.first.conv.weight.clone()
    with pytest.raises(CheckpointError) as err:
        model.load_checkpoint(path)
    message = str(err.value)
    assert str(path) in message and "\n" not in message
    assert "shape mismatch for kp_detector.kp.conv.weight: checkpoint [20, 35, 7, 7], model [10, 11, 7, 7]" \
        in message
    # Nothing was loaded: the generator, which fits, was left untouched.
    assert torch.equal(model.generator.first.conv.weight, before)
    assert model.checkpoint_sha256 is None


def test_missing_and_unexpected_keys_are_named(dac_case, tmp_path):
    checkpoint = torch.load(dac_case["checkpoint"], map_location="cpu", weights_only=True)
    missing = save_variant(tmp_path, checkpoint, "missing.pth.tar",
                           lambda c: c["generator"].pop("final.conv.bias"))
    with pytest.raises(CheckpointError, match=re.escape("missing key generator.final.conv.bias (model shape [3]")):
        build_model("dac", dac_case["model_params"]).load_checkpoint(missing)
    extra = save_variant(tmp_path, checkpoint, "extra.pth.tar",
                         lambda c: c["generator"].__setitem__("final.weight", torch.zeros(3, 8, 7, 7)))
    with pytest.raises(CheckpointError, match=re.escape("unexpected key generator.final.weight (checkpoint shape "
                                                        "[3, 8, 7, 7]")):
        build_model("dac", dac_case["model_params"]).load_checkpoint(extra)
    no_kp = save_variant(tmp_path, checkpoint, "nokp.pth.tar", lambda c: c.pop("kp_detector"))
    with pytest.raises(CheckpointError, match="has no top-level key 'kp_detector'"):
        build_model("dac", dac_case["model_params"]).load_checkpoint(no_kp)


def test_wrong_family_checkpoint_is_refused_with_a_short_message(fixtures_root, dac_case):
    fomm = tiny_case(fixtures_root, "FOMM")
    with pytest.raises(CheckpointError) as err:
        build_model("dac", dac_case["model_params"]).load_checkpoint(fomm["checkpoint"])
    assert "and" in str(err.value) and "more" in str(err.value) and "\n" not in str(err.value)


def test_truncated_empty_and_foreign_files_are_refused(dac_case, tmp_path):
    raw = dac_case["checkpoint"].read_bytes()
    truncated = tmp_path / "truncated.pth.tar"
    truncated.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(CheckpointError, match=re.escape(f"checkpoint {truncated} is truncated or corrupt")):
        read_checkpoint(truncated)
    empty = tmp_path / "empty.pth.tar"
    empty.write_bytes(b"")
    with pytest.raises(CheckpointError, match="is empty"):
        read_checkpoint(empty)
    text = tmp_path / "notes.pth.tar"
    text.write_text("not a checkpoint\n")
    with pytest.raises(CheckpointError, match="notes.pth.tar"):
        read_checkpoint(text)
    with pytest.raises(CheckpointError, match="cannot read checkpoint"):
        read_checkpoint(tmp_path / "absent.pth.tar")
    tensor_only = tmp_path / "tensor.pth.tar"
    torch.save(torch.zeros(3), tensor_only)
    with pytest.raises(CheckpointError, match="holds a Tensor, expected a dict"):
        read_checkpoint(tensor_only)


def test_xz_compressed_checkpoints_load_and_corrupt_ones_are_refused(dac_case, tmp_path):
    raw = dac_case["checkpoint"].read_bytes()
    packed = tmp_path / "checkpoint.pth.tar.xz"
    packed.write_bytes(lzma.compress(raw))
    model = build_model("dac", dac_case["model_params"])
    sha = model.load_checkpoint(packed)
    assert sha == hashlib.sha256(packed.read_bytes()).hexdigest()
    plain = build_model("dac", dac_case["model_params"])
    plain.load_checkpoint(dac_case["checkpoint"])
    for (k, a), (_, b) in zip(model.state_dict().items(), plain.state_dict().items()):
        assert torch.equal(a, b), k
    broken = tmp_path / "broken.pth.tar.xz"
    broken.write_bytes(packed.read_bytes()[:-200])
    with pytest.raises(CheckpointError, match="corrupt or truncated xz"):
        read_checkpoint(broken)


# ------------------------------------------------------------------ blocks
def test_coordinate_grid_and_gaussians():
    grid = make_coordinate_grid((3, 5))
    assert grid.shape == (3, 5, 2)
    assert grid[0, 0].tolist() == [-1.0, -1.0] and grid[2, 4].tolist() == [1.0, 1.0]
    assert grid[1, 2].tolist() == [0.0, 0.0]
    heat = kp2gaussian(torch.tensor([[[0.0, 0.0], [1.0, -1.0]]]), (3, 5), kp_variance=0.01)
    assert heat.shape == (1, 2, 3, 5)
    assert heat[0, 0, 1, 2] == 1.0 and heat[0, 1, 0, 4] == 1.0 and heat[0, 0, 0, 0] < 1e-30


def test_anti_alias_kernel_and_identity_warp():
    down = AntiAliasInterpolation2d(3, 0.25)
    assert down.weight.shape == (3, 1, 13, 13)
    torch.testing.assert_close(down.weight.sum(dim=(1, 2, 3)), torch.ones(3))
    x = torch.rand(1, 3, 16, 16)
    assert down(x).shape == (1, 3, 4, 4)
    assert AntiAliasInterpolation2d(3, 0.25, resample="bilinear")(x).shape == (1, 3, 4, 4)
    identity = make_coordinate_grid((8, 8)).unsqueeze(0)
    torch.testing.assert_close(warp(x, identity), x, atol=1e-5, rtol=0)  # grid resized 8 -> 16, corners aligned
    with pytest.raises(ValueError, match="resample"):
        AntiAliasInterpolation2d(3, 0.25, resample="area")


# ------------------------------------------------------------------ complexity app
def test_mac_counter_counts_convolutions_exactly():
    from gfvc.models.complexity import count_macs

    conv = torch.nn.Conv2d(4, 6, kernel_size=3, padding=1)
    assert count_macs(lambda: conv(torch.zeros(1, 4, 10, 12))) == 6 * 4 * 3 * 3 * 10 * 12


def test_complexity_app_on_small_configs(fixtures_root, capsys):
    import json

    from gfvc.models.complexity import main

    dac = fixtures_root / "DAC" / "tiny" / "model_params.yaml"
    mrdac = fixtures_root / "MRDAC" / "tiny" / "model_params.yaml"
    code = main(["--family", "dac", "--family", "mrdac", "--config", f"dac={dac}", "--config", f"mrdac={mrdac}",
                 "--width", "64", "--height", "64", "--references", "1", "2", "--json"])
    assert code == 0
    rows = {r["label"]: r for r in json.loads(capsys.readouterr().out)["rows"]}
    meta = json.loads((fixtures_root / "DAC" / "tiny" / "meta.json").read_text())["param_counts"]
    assert rows["DAC"]["analysis_params"] == meta["kp_detector"]["num_parameters"]
    assert rows["DAC"]["synthesis_params"] == meta["generator"]["num_parameters"]
    one, two = rows["MRDAC (1 ref)"], rows["MRDAC (2 refs)"]
    # A second reference adds its encoder, dense motion and aggregation, not a second decoder.
    assert one["synthesis_macs"] < two["synthesis_macs"] < 2 * one["synthesis_macs"]
    assert one["analysis_macs"] == rows["DAC"]["analysis_macs"] > 0  # same detector architecture


def test_complexity_app_rejects_bad_arguments(capsys):
    from gfvc.models.complexity import main

    assert main(["--config", "nofamily"]) == 2
    assert "FAMILY=YAML" in capsys.readouterr().err
    assert main(["--family", "dac", "--width", "8"]) == 2
    assert main(["--family", "unknown"]) == 2


@pytest.mark.parametrize("model", ["FOMM", "CFTE", "FV2V", "DAC", "HDAC", "RDAC", "MRDAC"])
def test_published_model_params_equal_the_reference_configs(fixtures_root, model):
    from gfvc.models.official import official_model_params

    reference = yaml.safe_load((fixtures_root / model / "model_params.yaml").read_text())
    # Training-only sections are not part of gfvc's copy.
    for section in ("discriminator_params", "videocompressor_params"):
        reference.pop(section, None)
    assert official_model_params(model.lower()) == reference
