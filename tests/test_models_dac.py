"""DAC equals the public GFVC reference: fixture replay, official structure, the loader's num_kp."""
from __future__ import annotations

import torch

from gfvc.models.checkpoint import state_dict_layout
from models_helpers import (assert_outputs_match, build_official_on_meta, expected_layout, load_tiny_model,
                            num_parameters, official_structure)


def dense_motion_outputs(dense_motion: dict, prefix: str = "dense_motion") -> dict:
    """The reference DenseMotionGenerator's output dict from ours: it reports the heatmap and the sparse
    motions summed over the K+1 motions and the mask summed over them."""
    return {
        f"{prefix}.heatmap": dense_motion["heatmap"].sum(dim=1),
        f"{prefix}.sparse_motion": dense_motion["sparse_motion"].sum(dim=1).permute(0, 3, 1, 2),
        f"{prefix}.sparse_deformed": dense_motion["sparse_deformed"],
        f"{prefix}.mask": dense_motion["mask"].sum(dim=1),
        f"{prefix}.deformation": dense_motion["deformation"],
        f"{prefix}.occlusion_map": dense_motion["occlusion_map"],
    }


def test_dac_tiny_fixture_is_reproduced(fixtures_root):
    model, case = load_tiny_model(fixtures_root, "DAC", "dac", num_kp=10)
    reference, target = case["inputs"]["reference"], case["inputs"]["target"]
    out = {}
    with torch.no_grad():
        kp_reference = model.kp_detector(reference)
        kp_target = model.kp_detector(target)
        for key in ("value", "heatmap"):
            out[f"kp_reference.{key}"] = kp_reference[key]
            out[f"kp_target.{key}"] = kp_target[key]
        dense_motion = model.generator.dense_motion_network(reference, kp_target=kp_target,
                                                            kp_reference=kp_reference)
        out.update(dense_motion_outputs(dense_motion))
        out["prediction"] = model.generator.animate(reference, kp_reference, kp_target)
        api = model.synthesise(reference, model.analyse(reference), model.analyse(target))
    compared = assert_outputs_match(out, case["outputs"])
    assert len(compared) == len(case["outputs"]) == 11
    torch.testing.assert_close(api, out["prediction"], atol=0, rtol=0)
    assert set(model.analyse(reference)) == {"value"}


def test_dac_official_structure_and_parameter_counts(fixtures_root):
    structure = official_structure(fixtures_root, "DAC")
    model = build_official_on_meta(fixtures_root, "DAC", "dac", num_kp=10)
    for name in ("generator", "kp_detector"):
        module = getattr(model, name)
        assert state_dict_layout(module) == expected_layout(structure, name), name
        assert num_parameters(module) == structure["submodules"][name]["param_counts"]["num_parameters"]
    assert num_parameters(model) == structure["total_num_parameters"] == 59_722_119


def test_dac_num_kp_option_overrides_the_config_like_the_reference_loader(fixtures_root):
    structure = official_structure(fixtures_root, "DAC")
    model = build_official_on_meta(fixtures_root, "DAC", "dac", num_kp=20)
    assert model.model_params["common_params"]["num_kp"] == 20
    kp = {k: s for k, s, _ in state_dict_layout(model.kp_detector)}
    assert kp["kp.conv.weight"] == [20, 35, 7, 7]
    gen = {k: s for k, s, _ in state_dict_layout(model.generator)}
    hourglass_in = (20 + 1) * (3 + 1)
    assert gen["dense_motion_network.hourglass.encoder.down_blocks.0.conv.weight"] == [128, hourglass_in, 3, 3]
    assert gen["dense_motion_network.mask.conv.weight"] == [21, 64 + hourglass_in, 7, 7]
    assert gen["dense_motion_network.occlusion.conv.weight"] == [1, 64 + hourglass_in, 7, 7]
    # Only the keypoint-dependent entries differ from the num_kp=10 structure.
    official = {k: v["shape"] for k, v in structure["submodules"]["generator"]["state_dict"].items()}
    assert official.keys() == gen.keys()
    assert {k for k in official if official[k] != gen[k]} == {
        "dense_motion_network.hourglass.encoder.down_blocks.0.conv.weight",
        "dense_motion_network.mask.conv.weight", "dense_motion_network.mask.conv.bias",
        "dense_motion_network.occlusion.conv.weight"}
