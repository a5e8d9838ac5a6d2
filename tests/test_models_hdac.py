"""HDAC equals the public GFVC reference: fixture replay (with a base-layer picture), official structure."""
from __future__ import annotations

import torch

from gfvc.models.checkpoint import state_dict_layout
from models_helpers import (assert_outputs_match, build_official_on_meta, expected_layout, load_tiny_model,
                            num_parameters, official_structure)
from test_models_dac import dense_motion_outputs


def test_hdac_tiny_fixture_is_reproduced(fixtures_root):
    model, case = load_tiny_model(fixtures_root, "HDAC", "hdac")
    reference, target, base_layer = (case["inputs"][k] for k in ("reference", "target", "base_layer"))
    out = {}
    with torch.no_grad():
        kp_reference = model.kp_detector(reference)
        kp_target = model.kp_detector(target)
        out["kp_reference.value"] = kp_reference["value"]
        out["kp_target.value"] = kp_target["value"]
        dense_motion = model.generator.dense_motion_network(reference, kp_target=kp_target,
                                                            kp_reference=kp_reference)
        out.update(dense_motion_outputs(dense_motion))
        out["base_layer_features"] = model.generator.base_layer_ft_encoder(base_layer)
        out["prediction"] = model.generator.predict(reference, kp_reference, kp_target, base_layer)
        api = model.synthesise(reference, model.analyse(reference), model.analyse(target), base_layer=base_layer)
        without_base = model.synthesise(reference, model.analyse(reference), model.analyse(target))
    compared = assert_outputs_match(out, case["outputs"])
    assert len(compared) == len(case["outputs"]) == 10
    torch.testing.assert_close(api, out["prediction"], atol=0, rtol=0)
    # The base layer matters: pure animation (zero base-layer features) gives another picture.
    assert (without_base - api).abs().max() > 1e-4


def test_hdac_official_structure_and_parameter_counts(fixtures_root):
    structure = official_structure(fixtures_root, "HDAC")
    model = build_official_on_meta(fixtures_root, "HDAC", "hdac")
    for name in ("generator", "kp_detector"):
        module = getattr(model, name)
        assert state_dict_layout(module) == expected_layout(structure, name), name
        assert num_parameters(module) == structure["submodules"][name]["param_counts"]["num_parameters"]
    assert num_parameters(model) == structure["total_num_parameters"] == 82_524_807
