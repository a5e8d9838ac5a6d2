"""MRDAC equals the public animation-based-codecs reference (without its TIC reference coder):
fixture replay with three references, temporal weights, strict loading that ignores ref_coder.*."""
from __future__ import annotations

import re

import pytest
import torch

from gfvc.models import CheckpointError, build_model
from gfvc.models.checkpoint import state_dict_layout
from models_helpers import (assert_outputs_match, build_official_on_meta, expected_layout, load_tiny_model,
                            num_parameters, official_structure, tiny_case)

REF_CODER = "ref_coder."
BUFFER_SUFFIXES = ("running_mean", "running_var", "num_batches_tracked")


def test_mrdac_tiny_fixture_is_reproduced(fixtures_root):
    model, case = load_tiny_model(fixtures_root, "MRDAC", "mrdac")
    inputs = case["inputs"]
    references = [inputs["references"][i:i + 1] for i in range(inputs["references"].shape[0])]
    out = {}
    with torch.no_grad():
        kp_refs = [model.kp_detector(r) for r in references]
        kp_target = model.kp_detector(inputs["target"])
        features = [model.generator.reference_ft_encoder(r) for r in references]
        for i, (kp, fts) in enumerate(zip(kp_refs, features)):
            out[f"kp_reference_{i}.value"] = kp["value"]
            out[f"reference_features_{i}"] = fts
        out["kp_target.value"] = kp_target["value"]
        out["ref_weights"] = model.generator.compute_ref_weights(inputs["ref_indices"])
        info = {int(idx): (r, f, kp) for idx, r, f, kp in zip(inputs["reference_indices"], references, features,
                                                               kp_refs)}
        out["prediction"] = model.generator.generate_animation(
            {"reference_info": info, "kp_target": kp_target, "ref_indices": inputs["ref_indices"]})
        api = model.synthesise(references, [model.analyse(r) for r in references], model.analyse(inputs["target"]),
                               ref_indices=inputs["ref_indices"])
        unweighted = model.synthesise(references, [model.analyse(r) for r in references],
                                      model.analyse(inputs["target"]))
    # The TIC reference coder is not built (references come from the base layer): its outputs are skipped.
    compared = assert_outputs_match(out, case["outputs"], skip_prefixes=("ref_coder_forward.",))
    assert len(compared) == len(case["outputs"]) - 2 == 9
    torch.testing.assert_close(api, out["prediction"], atol=0, rtol=0)
    # The temporal weights take part: unless they are all 1, the unweighted aggregation differs.
    if bool((out["ref_weights"] == 1).all()):
        torch.testing.assert_close(unweighted, api, atol=0, rtol=0)
    else:
        assert (unweighted - api).abs().max() > 1e-6


def test_mrdac_temporal_weights():
    from gfvc.models.mrdac import MrdacGenerator

    w = MrdacGenerator.compute_ref_weights(torch.tensor([[0, 12, 24, 7], [10, 20, 30, 30]]))
    # d = (7, 5, 17): w = (1 - d/17) + 0.5, normalised by its maximum.
    d = torch.tensor([7.0, 5.0, 17.0])
    first = (1 - d / 17) + 0.5
    torch.testing.assert_close(w[0], first / first.max())
    torch.testing.assert_close(w[1], torch.tensor([0.5 / 1.5, 1.0 / 1.5, 1.0]))
    # One reference: weight 1; reference at the target's own index: weight 1 (the reference gives NaN).
    assert MrdacGenerator.compute_ref_weights(torch.tensor([[3, 9]])).tolist() == [[1.0]]
    assert MrdacGenerator.compute_ref_weights(torch.tensor([[5, 5]])).tolist() == [[1.0]]
    with pytest.raises(ValueError, match="R\\+1"):
        MrdacGenerator.compute_ref_weights(torch.tensor([1, 2]))


def test_mrdac_checkpoint_loads_strictly_except_the_reference_coder(fixtures_root, tmp_path):
    case = tiny_case(fixtures_root, "MRDAC")
    checkpoint = torch.load(case["checkpoint"], map_location="cpu", weights_only=True)
    ref_coder_keys = [k for k in checkpoint["generator"] if k.startswith(REF_CODER)]
    assert len(ref_coder_keys) > 400  # the tiny checkpoint does carry the TIC entries
    model = build_model("mrdac", case["model_params"])
    assert not any(k.startswith(REF_CODER) for k in model.generator.state_dict())
    model.load_checkpoint(case["checkpoint"])
    for key, value in model.generator.state_dict().items():
        assert torch.equal(value, checkpoint["generator"][key]), key

    # Every non-ref_coder entry is still checked: a missing or reshaped one is an error naming it.
    broken = {k: dict(v) for k, v in checkpoint.items()}
    del broken["generator"]["aggregation.r_1.conv1.bias"]
    torch.save(broken, tmp_path / "missing.pth.tar")
    with pytest.raises(CheckpointError, match=re.escape("missing key generator.aggregation.r_1.conv1.bias")):
        build_model("mrdac", case["model_params"]).load_checkpoint(tmp_path / "missing.pth.tar")
    broken = {k: dict(v) for k, v in checkpoint.items()}
    broken["generator"]["final.weight"] = torch.zeros(3, 8, 5, 5)
    torch.save(broken, tmp_path / "shape.pth.tar")
    with pytest.raises(CheckpointError, match=re.escape("generator.final.weight: checkpoint [3, 8, 5, 5], "
                                                        "model [3, 8, 7, 7]")):
        build_model("mrdac", case["model_params"]).load_checkpoint(tmp_path / "shape.pth.tar")


def test_mrdac_official_structure_without_reference_coder(fixtures_root):
    structure = official_structure(fixtures_root, "MRDAC")
    model = build_official_on_meta(fixtures_root, "MRDAC", "mrdac")
    generator_expected = expected_layout(structure, "generator", skip_prefix=REF_CODER)
    assert state_dict_layout(model.generator) == generator_expected
    assert len(generator_expected) == 1022 - sum(k.startswith(REF_CODER)
                                                 for k in structure["submodules"]["generator"]["state_dict"])
    assert state_dict_layout(model.kp_detector) == expected_layout(structure, "kp_detector")
    assert num_parameters(model.kp_detector) == structure["submodules"]["kp_detector"]["param_counts"][
        "num_parameters"]
    # Parameters of the non-TIC part: the official entries minus batch-norm statistics and the fixed
    # anti-aliasing kernels (buffers).
    expected_params = 0
    for key, entry in structure["submodules"]["generator"]["state_dict"].items():
        if key.startswith(REF_CODER) or key.endswith(BUFFER_SUFFIXES) or key.endswith("down.weight"):
            continue
        n = 1
        for dim in entry["shape"]:
            n *= dim
        expected_params += n
    assert num_parameters(model.generator) == expected_params == 48_528_351
