"""FOMM equals the public GFVC reference: fixture replay (tiny checkpoint) and official structure."""
from __future__ import annotations

import torch

from gfvc.models.checkpoint import state_dict_layout
from models_helpers import (assert_outputs_match, build_official_on_meta, expected_layout, load_tiny_model,
                            num_parameters, official_structure)


def test_fomm_tiny_fixture_is_reproduced(fixtures_root):
    model, case = load_tiny_model(fixtures_root, "FOMM", "fomm")
    source, driving = case["inputs"]["source"], case["inputs"]["driving"]
    out = {}
    with torch.no_grad():
        kp_source = model.kp_detector(source)
        kp_driving = model.kp_detector(driving)
        for key in ("value", "jacobian"):
            out[f"kp_source.{key}"] = kp_source[key]
            out[f"kp_driving.{key}"] = kp_driving[key]
        generated = model.generator(source, kp_driving=kp_driving, kp_source=kp_source)
        out.update({f"generator.{k}": v for k, v in generated.items()})
        # The family API gives the same picture as the reference call.
        api = model.synthesise(source, model.analyse(source), model.analyse(driving))
    compared = assert_outputs_match(out, case["outputs"])
    assert len(compared) == len(case["outputs"]) == 10
    torch.testing.assert_close(api, generated["prediction"], atol=0, rtol=0)
    assert set(model.analyse(source)) == {"value", "jacobian"}


def test_fomm_official_structure_and_parameter_counts(fixtures_root):
    structure = official_structure(fixtures_root, "FOMM")
    model = build_official_on_meta(fixtures_root, "FOMM", "fomm")
    assert list(structure["checkpoint_top_level_keys_read_by_loader"]) == list(model.network_names)
    for name in model.network_names:
        module = getattr(model, name)
        assert state_dict_layout(module) == expected_layout(structure, name), name
        assert num_parameters(module) == structure["submodules"][name]["param_counts"]["num_parameters"]
    assert num_parameters(model) == structure["total_num_parameters"] == 59_790_759
