"""MRDAC training: the paper's contrastive term reaches the dense motion network, is really added to
the optimised loss (weight 0 = ablation), and the temporal weights of coding are used."""
from __future__ import annotations

import pytest
import torch

from gfvc.models import build_model
from gfvc.train.families import MrdacTraining, TrainConfigError
from gfvc.train.losses import PerceptualLoss
from gfvc.train.trainer import GeneratorFullModel, resolve_config
from train_helpers import TINY_MODEL, clip_frames, tiny_config


def sample_batch():
    """2 samples of 2 references + 1 target (B, 3, 3, 64, 64) and their frame indices."""
    frames = torch.stack([torch.from_numpy(clip_frames(i)[[0, 9, 5]]).float() / 255 for i in range(2)])
    return frames, torch.tensor([[0, 9, 5], [0, 9, 5]])


def family(weight: float) -> MrdacTraining:
    config = resolve_config(tiny_config("mrdac", loss_weights={"contrastive": weight}))
    return MrdacTraining(config["train_params"], config["dataset_params"])


def tiny_mrdac():
    torch.manual_seed(0)
    return build_model("mrdac", TINY_MODEL).train()


def test_contrastive_gradient_reaches_the_dense_motion_network():
    model = tiny_mrdac()
    frames, indices = sample_batch()
    fam = family(1.0)
    loss = fam.contrastive(fam.animate(model, frames, indices)["deformed"])
    assert loss.item() > 0
    loss.backward()
    dense = model.generator.dense_motion_network
    for part in (dense.hourglass, dense.mask, dense.occlusion):
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in part.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.kp_detector.parameters())


def generator_gradients(weight: float) -> dict:
    model = tiny_mrdac()
    full = GeneratorFullModel(model, family(weight), PerceptualLoss([1, 0.5], [10] * 5), None)
    frames, indices = sample_batch()
    torch.manual_seed(5)   # the same equivariance transform in both runs
    terms, _ = full({"frames": frames, "indices": indices})
    sum(terms.values()).backward()
    return terms, {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def test_contrastive_weight_changes_the_generator_gradients_and_zero_is_the_ablation():
    terms0, g0 = generator_gradients(0.0)
    terms1, g1 = generator_gradients(0.5)
    assert "contrastive" not in terms0 and terms1["contrastive"].item() > 0
    dense = [n for n in g0 if n.startswith("generator.dense_motion_network.")]
    assert any(not torch.allclose(g0[n], g1[n]) for n in dense)
    # exactly the weighted contrastive gradient is added (the rest of the objective is unchanged)
    model = tiny_mrdac()
    fam = family(0.5)
    frames, indices = sample_batch()
    (0.5 * fam.contrastive(fam.animate(model, frames, indices)["deformed"])).backward()
    for name, p in model.named_parameters():
        if name.startswith("generator.dense_motion_network.") and p.grad is not None:
            assert torch.allclose(g1[name] - g0[name], p.grad, atol=1e-5, rtol=1e-3), name


def test_temporal_weights_follow_the_frame_indices():
    model = tiny_mrdac().eval()
    frames, _ = sample_batch()
    fam = family(0.0)
    with torch.no_grad():
        near_first = fam.animate(model, frames, torch.tensor([[4, 9, 5]] * 2))["generated"]
        near_second = fam.animate(model, frames, torch.tensor([[0, 6, 5]] * 2))["generated"]
        expected = model.synthesise([frames[:, 0], frames[:, 1]],
                                    [model.analyse(frames[:, 0]), model.analyse(frames[:, 1])],
                                    model.analyse(frames[:, 2]), ref_indices=torch.tensor([[4, 9, 5]] * 2))
    assert not torch.allclose(near_first, near_second)
    assert torch.allclose(near_first, expected, atol=1e-5)   # the coding path's weights


def test_contrastive_configuration_errors():
    with pytest.raises(TrainConfigError, match="batch_size >= 2"):
        config = resolve_config(tiny_config("mrdac", batch_size=1, loss_weights={"contrastive": 1}))
        MrdacTraining(config["train_params"], config["dataset_params"])
