"""The decoder's path: a reference picture prepared once (prepare_reference) and B targets synthesised
against it (synthesise_prepared / MRDAC synthesise_multi) give, per target, the pictures of the
reference way (synthesise, batch 1, everything recomputed); calls are repeatable bit for bit; the
``synthesis_batch`` mode makes a target's bits independent of the other targets; 8-bit output."""
from __future__ import annotations

from unittest import mock

import numpy as np
import pytest
import torch

from gfvc.models import PreparedReference, build_model, to_uint8
from gfvc.models.fv2v import rotation_matrix
from models_helpers import load_tiny_model, tiny_case, torch_threads

ATOL = 1e-5
NUM_TARGETS = 4


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    with torch_threads(1):
        yield


def load(fixtures_root, family: str):
    model_name = family.upper()
    if family == "fv2v":
        def keep(tensor, *args, **kwargs):   # skip the random init of 30M parameters that the load overwrites
            return tensor
        with mock.patch.multiple("torch.nn.init", kaiming_uniform_=keep, uniform_=keep):
            model = build_model("fv2v", fixtures_root / "FV2V" / "tiny" / "model_params.yaml")
        case = tiny_case(fixtures_root, "FV2V")
        model.load_checkpoint(case["dir"] / "checkpoint.pth.tar.xz")
        return model, case["inputs"]
    options = {"num_kp": 10} if family == "dac" else {}
    model, case = load_tiny_model(fixtures_root, model_name, family, **options)
    return model, case["inputs"]


def pictures_of(inputs: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """(reference (1, 3, H, W), NUM_TARGETS distinct target pictures (B, 3, H, W)) from a fixture case."""
    reference = next(inputs[k] for k in ("reference", "source") if k in inputs) if "references" not in inputs \
        else inputs["references"][:1]
    target = next(inputs[k] for k in ("target", "driving", "target_0") if k in inputs)
    targets = torch.cat([target, reference, target.flip(-1), 0.5 * (reference + target)])
    return reference, targets


def analyse_one_by_one(model, pictures: torch.Tensor) -> dict:
    with torch.no_grad():
        per_picture = [model.analyse(pictures[i:i + 1]) for i in range(pictures.shape[0])]
    return {k: torch.cat([p[k] for p in per_picture]) for k in per_picture[0]}


def one(params: dict, i: int) -> dict:
    return {k: v[i:i + 1] for k, v in params.items()}


@pytest.fixture(scope="module", params=["fomm", "cfte", "fv2v", "dac", "hdac", "rdac", "mrdac"])
def family_case(request, fixtures_root):
    family = request.param
    model, inputs = load(fixtures_root, family)
    reference, targets = pictures_of(inputs)
    reference_params = analyse_one_by_one(model, reference)
    target_params = analyse_one_by_one(model, targets)
    if family == "fv2v":
        # The tiny model's analysed poses barely differ from picture to picture: drive it with clearly
        # different head poses so that a mix-up of targets would show.
        angles = (torch.tensor([0.0, 20.0, -25.0, 10.0]), torch.tensor([0.0, -15.0, 10.0, 30.0]),
                  torch.tensor([0.0, 5.0, 20.0, -20.0]))
        noise = torch.Generator().manual_seed(0)
        target_params["rot_mat"] = rotation_matrix(*angles)
        target_params["t"] = target_params["t"] + 0.1 * torch.randn(target_params["t"].shape, generator=noise)
        target_params["exp"] = target_params["exp"] + 0.05 * torch.randn(target_params["exp"].shape,
                                                                           generator=noise)
    side_info = {}
    if family == "hdac":
        side_info["base_layer"] = torch.cat([inputs["base_layer"], targets[1:]]).clamp(0, 1)
    if family == "rdac":
        side_info["residual"] = 0.1 * (targets - targets.mean())
    return family, model, reference, reference_params, target_params, side_info


def test_prepared_batch_equals_the_reference_way_per_target(family_case):
    family, model, reference, reference_params, target_params, side_info = family_case
    prepared = model.prepare_reference(reference, reference_params)
    assert isinstance(prepared, PreparedReference) and prepared.family == family
    with torch.no_grad():
        expected = torch.cat([model.synthesise(reference, reference_params, one(target_params, i),
                                               **{k: v[i:i + 1] for k, v in side_info.items()})
                              for i in range(NUM_TARGETS)])
    batched = model.synthesise_prepared(prepared, target_params, **side_info)
    assert batched.shape == (NUM_TARGETS, 3, *reference.shape[2:])
    torch.testing.assert_close(batched, expected, atol=ATOL, rtol=0)
    if family == "cfte":
        # The tiny CFTE's pictures differ by ~1e-7 from target to target (its 4x4 Farneback flows are
        # almost zero), below the tolerance; its targets run one at a time, the same operations as
        # synthesise: the pictures are bit-identical, which does tell the targets apart.
        assert torch.equal(batched, expected)
        assert not torch.equal(expected[0], expected[2])
    else:
        # The targets really differ (a test that could not tell them apart would prove nothing).
        assert (expected[0] - expected[1]).abs().max() > 10 * ATOL
    # Same call, same bits.
    assert torch.equal(model.synthesise_prepared(prepared, target_params, **side_info), batched)


def test_fixed_synthesis_batch_makes_a_target_independent_of_the_others(family_case):
    family, model, reference, reference_params, target_params, side_info = family_case
    prepared = model.prepare_reference(reference, reference_params)
    all_targets = model.synthesise_prepared(prepared, target_params, synthesis_batch=3, **side_info)
    for i in (0, 3):   # first of a full group; alone in a padded group
        alone = model.synthesise_prepared(prepared, one(target_params, i), synthesis_batch=3,
                                          **{k: v[i:i + 1] for k, v in side_info.items()})
        assert torch.equal(alone[0], all_targets[i]), f"{family}: target {i}"
    # Padding yields exactly B pictures.
    assert all_targets.shape[0] == NUM_TARGETS
    torch.testing.assert_close(all_targets, model.synthesise_prepared(prepared, target_params, **side_info),
                               atol=ATOL, rtol=0)


def test_channels_last_is_repeatable_and_close_and_can_be_undone(family_case):
    family, model, reference, reference_params, target_params, side_info = family_case
    default = model.synthesise_prepared(model.prepare_reference(reference, reference_params), target_params,
                                        **side_info)
    try:
        model.set_channels_last(True)
        assert model.generator.first.conv.weight.is_contiguous(memory_format=torch.channels_last)
        runs = [model.synthesise_prepared(model.prepare_reference(reference, reference_params), target_params,
                                          **side_info) for _ in range(2)]
    finally:
        model.set_channels_last(False)
    assert torch.equal(runs[0], runs[1])
    torch.testing.assert_close(runs[0], default, atol=ATOL, rtol=0)
    assert model.generator.first.conv.weight.is_contiguous()
    assert torch.equal(model.synthesise_prepared(model.prepare_reference(reference, reference_params),
                                                 target_params, **side_info), default)


@pytest.mark.parametrize("family_case", ["hdac", "rdac"], indirect=True)
def test_side_information_without_base_layer_or_residual(family_case):
    family, model, reference, reference_params, target_params, side_info = family_case
    assert side_info
    name = next(iter(side_info))
    with pytest.raises(ValueError, match=f"{name} is 32x32, the reference picture 64x64"):
        model.synthesise_prepared(model.prepare_reference(reference, reference_params), target_params,
                                  **{name: side_info[name][..., :32, :32]})
    with pytest.raises(ValueError, match=f"{name} has batch 2, the target parameters 4"):
        model.synthesise_prepared(model.prepare_reference(reference, reference_params), target_params,
                                  **{name: side_info[name][:2]})
    prepared = model.prepare_reference(reference, reference_params)
    with torch.no_grad():
        expected = model.synthesise(reference, reference_params, one(target_params, 1))
    torch.testing.assert_close(model.synthesise_prepared(prepared, target_params)[1:2], expected,
                               atol=ATOL, rtol=0)


def test_bad_calls_give_clear_errors(family_case):
    family, model, reference, reference_params, target_params, _ = family_case
    prepared = model.prepare_reference(reference, reference_params)
    with pytest.raises(TypeError, match="side information"):
        model.synthesise_prepared(prepared, target_params, bogus=reference)
    with pytest.raises(ValueError, match="synthesis_batch"):
        model.synthesise_prepared(prepared, target_params, synthesis_batch=0)
    with pytest.raises(ValueError, match="one reference picture"):
        model.prepare_reference(torch.cat([reference, reference]), reference_params)
    foreign = PreparedReference(family="other", picture=reference, params=reference_params, cache={})
    with pytest.raises(ValueError, match="another model"):
        model.synthesise_prepared(foreign, target_params)
    with pytest.raises(TypeError, match="PreparedReference"):
        model.synthesise_prepared(reference, target_params)


def test_cfte_synthesises_targets_one_at_a_time(fixtures_root):
    model, inputs = load(fixtures_root, "cfte")
    reference, targets = pictures_of(inputs)
    prepared = model.prepare_reference(reference, analyse_one_by_one(model, reference))
    seen = []
    original = model._synthesise_batch

    def spy(prepared, params, **side):
        seen.append(params["feature"].shape[0])
        return original(prepared, params, **side)

    with mock.patch.object(model, "_synthesise_batch", side_effect=spy):
        model.synthesise_prepared(prepared, analyse_one_by_one(model, targets), synthesis_batch=4)
    assert seen == [1] * NUM_TARGETS


def test_mrdac_synthesise_multi_uses_the_prepared_reference_buffer(fixtures_root):
    model, inputs = load(fixtures_root, "mrdac")
    references = [inputs["references"][i:i + 1] for i in range(inputs["references"].shape[0])]
    _, targets = pictures_of(inputs)
    reference_params = [analyse_one_by_one(model, r) for r in references]
    target_params = analyse_one_by_one(model, targets)
    indices = torch.tensor([[int(i) for i in inputs["reference_indices"]] + [t] for t in (5, 12, 30, 2)])
    weights = model.generator.compute_ref_weights(indices)
    prepared = [model.prepare_reference(r, p) for r, p in zip(references, reference_params)]
    with torch.no_grad():
        expected = torch.cat([model.synthesise(references, reference_params, one(target_params, i),
                                               ref_weights=weights[i:i + 1]) for i in range(NUM_TARGETS)])
    with mock.patch.object(model.generator, "reference_ft_encoder",
                           side_effect=AssertionError("features must come from the prepared references")):
        batched = model.synthesise_multi(prepared, target_params, weights)
    torch.testing.assert_close(batched, expected, atol=ATOL, rtol=0)
    assert torch.equal(model.synthesise_multi(prepared, target_params, weights), batched)
    with pytest.raises(ValueError, match=r"ref_weights must be \(B, 3\)"):
        model.synthesise_multi(prepared, target_params, weights[:, :2])
    with pytest.raises(ValueError, match="at least one reference"):
        model.synthesise_multi([], target_params)


def test_prepared_path_does_not_rerun_the_reference_encoder(fixtures_root):
    model, inputs = load(fixtures_root, "dac")
    reference, targets = pictures_of(inputs)
    prepared = model.prepare_reference(reference, analyse_one_by_one(model, reference))
    with mock.patch.object(model.generator, "reference_ft_encoder", side_effect=AssertionError("recomputed")):
        out = model.synthesise_prepared(prepared, analyse_one_by_one(model, targets))
    assert out.shape[0] == NUM_TARGETS


# ------------------------------------------------------------------------------------- 8-bit output
def test_to_uint8_truncates_like_the_reference_or_rounds():
    values = torch.tensor([0.0, 0.5, 1.0, 1.2, -0.1, 254.6 / 255, 0.3])
    pictures = values.view(1, 1, 1, -1).expand(2, 3, 1, -1).clone()
    pictures[1, 2] = 0.0
    truncated = to_uint8(pictures, "truncate")
    rounded = to_uint8(pictures, "round")
    assert truncated.dtype == np.uint8 and truncated.shape == (2, 1, 7, 3)
    assert truncated[0, 0, :, 0].tolist() == [0, 127, 255, 255, 0, 254, 76]
    assert rounded[0, 0, :, 0].tolist() == [0, 128, 255, 255, 0, 255, 77]
    assert truncated[1, 0, :, 2].tolist() == [0] * 7 and truncated[1, 0, 1, 1] == 127
    # "truncate" is the reference's (x * 255).astype(uint8) on the clipped float32 picture.
    reference = (np.clip(pictures.permute(0, 2, 3, 1).numpy(), 0, 1) * 255).astype(np.uint8)
    assert np.array_equal(truncated, reference)
    assert np.array_equal(to_uint8(pictures), truncated)


@pytest.mark.parametrize("bad, message", [
    (torch.zeros(1, 1, 4, 4), "(B, 3, H, W)"),
    (torch.zeros(1, 3, 4, 4, dtype=torch.uint8), "floating point"),
    (torch.full((1, 3, 2, 2), float("nan")), "NaN"),
])
def test_to_uint8_rejects_bad_pictures(bad, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        to_uint8(bad)
    with pytest.raises(ValueError, match="truncate, round"):
        to_uint8(torch.zeros(1, 3, 2, 2), "nearest")


# ------------------------------------------------------------------------------------- measurement tool
def test_synthesis_speed_tool_refuses_bad_arguments_and_formats_results(capsys):
    from gfvc.models.synthesis_speed import format_markdown, main

    with pytest.raises(SystemExit) as exc:
        main(["--size", "64"])
    assert exc.value.code == 2 and "size >= 128" in capsys.readouterr().err
    text = format_markdown([{"rows": [{"family": "dac", "mode": "reference", "frames": 4, "seconds": [8.0, 10.0],
                                       "frames_per_second": [0.5, 0.4], "cpu_seconds_per_frame": [1.5, 1.25]}],
                             "checks": {"reference: repetitions bit-identical": True}, "load_average": [2.0, 3.5]}])
    assert "| DAC | reference | 4 | 8.00 s, 0.500 f/s, 1.50 CPU s/f; 10.00 s, 0.400 f/s, 1.25 CPU s/f |" in text
    assert "DAC checks (load average during the runs: 2.0 to 3.5):" in text
    assert "* reference: repetitions bit-identical: True" in text
