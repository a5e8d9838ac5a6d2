"""gfvc-train for CFTE (and the small HDAC config): a tiny run writes a checkpoint, the compact
feature extractor learns through the feature-difference path (the Farneback flow has no gradient),
the exported model folder loads through the cfte codec's strict loader and synthesises the same
picture as the training model."""
from __future__ import annotations

import copy

import pytest
import torch

from gfvc.codec.model_source import load_model as codec_load_model
from gfvc.models import build_model
from gfvc.models.checkpoint import read_checkpoint
from gfvc.train.cli import main
from gfvc.train.families import get_train_family
from gfvc.train.trainer import load_train_config
from train_helpers import REPO, SIZE, TINY_MODEL, clip_frames, write_config

# the structure of cfg/train/cfte_small.yaml, tiny; compact features at 1/16 of the half-size picture (2x2)
TINY_CFTE = copy.deepcopy(TINY_MODEL)
TINY_CFTE["common_params"]["num_kp"] = 1
TINY_CFTE["generator_params"]["dense_motion_params"].update(num_down_blocks=4, num_bottleneck_blocks=1)


def cfte_config(**train) -> dict:
    return {"family": "cfte", "model_params": copy.deepcopy(TINY_CFTE),
            "dataset_params": {"frame_shape": [SIZE, SIZE]},
            "train_params": {"epochs": 1, "num_repeats": 1, "batch_size": 2, "log_every": 100,
                             "optimizer": "adamw", "lr": 3e-4,
                             "loss_weights": {"equivariance_value": 0, "generator_gan": 0, "discriminator_gan": 0,
                                              "feature_matching": [0, 0, 0, 0]}, **train},
            "discriminator_params": {"use_kp": False}}


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """One JVET-named smooth moving clip (a blob over two gradients)."""
    folder = tmp_path_factory.mktemp("cfte-clips")
    clip_frames(0, 8).tofile(folder / f"MOVING_{SIZE}x{SIZE}_25_8bit_444.rgb")
    return folder


@pytest.fixture(scope="module")
def run(tmp_path_factory, clip):
    tmp = tmp_path_factory.mktemp("cfte-run")
    config = write_config(tmp / "cfte.yaml", cfte_config(num_repeats=4))   # 4 samples: 2 batches of 2
    out = tmp / "run"
    assert main(["--config", str(config), "--data", str(clip), "--out", str(out), "--max-iterations", "2"]) == 0
    return out


def test_two_iterations_write_an_official_layout_checkpoint(run):
    state, _ = read_checkpoint(run / "checkpoint.pth.tar")
    assert state["iteration"] == 2
    assert {"generator", "kp_detector", "optimizer_generator"} <= set(state)
    assert "discriminator" not in state   # no GAN
    meta = state["gfvc_metadata"]
    assert meta["family"] == meta["model_family"] == "cfte"
    columns = (run / "losses.csv").read_text().splitlines()[0].split(",")
    assert "perceptual" in columns and "equivariance_value" not in columns
    # the training checkpoint itself loads strictly into a CFTE model
    model = build_model("cfte", TINY_CFTE)
    model.load_checkpoint(run / "checkpoint.pth.tar")


def test_the_compact_feature_extractor_gets_a_gradient():
    """The Farneback sparse motion is computed on uint8 features (no gradient): the extractor's only
    path is the feature difference into the dense motion network; it must carry a gradient."""
    torch.manual_seed(0)
    model = build_model("cfte", TINY_CFTE).train()
    family = get_train_family("cfte")(cfte_config()["train_params"], {"frame_shape": [SIZE, SIZE]})
    frames = torch.from_numpy(clip_frames(1, 8)[[0, 5]]).float().div(255)[None]   # (1, 2, 3, H, W)
    frames = torch.cat([frames, frames.flip(1)])                                   # batch of 2
    terms, out = family.forward(model, {"frames": frames, "indices": torch.tensor([[0, 5], [5, 0]])})
    assert terms == {} and out["kp"] is None
    assert out["generated"].shape == frames[:, -1].shape
    loss = (out["generated"] - out["real"]).abs().mean()
    loss.backward()
    grads = [p.grad for p in model.kp_detector.parameters()]
    assert all(g is not None for g in grads)
    assert sum(float(g.abs().sum()) for g in grads) > 0
    # the first and the last layers of the extractor both learn
    assert float(model.kp_detector.conv4.weight.grad.abs().sum()) > 0
    first = next(model.kp_detector.predictor.parameters())
    assert float(first.grad.abs().sum()) > 0


def test_a_keypoint_conditioned_discriminator_is_refused(tmp_path, clip):
    config = cfte_config(loss_weights={"generator_gan": 1})
    config["discriminator_params"] = {"use_kp": True, "block_expansion": 4, "max_features": 16}
    path = write_config(tmp_path / "bad.yaml", config)
    assert main(["--config", str(path), "--data", str(clip), "--out", str(tmp_path / "bad")]) == 2


def test_exported_model_loads_in_the_codec_and_synthesises_like_the_training_model(tmp_path, run):
    from gfvc.train.export import main as export_main

    model_dir = tmp_path / "model"
    assert export_main([str(run), str(model_dir)]) == 0
    coded, _ = codec_load_model("cfte", model_dir / "model.yaml", model_dir / "checkpoint.pth.tar")  # strict
    trained = build_model("cfte", TINY_CFTE)
    state, _ = read_checkpoint(run / "checkpoint.pth.tar")
    for name in ("generator", "kp_detector"):
        getattr(trained, name).load_state_dict(state[name])
    trained.eval()
    frames = torch.from_numpy(clip_frames(2, 8)[[0, 3]]).float().div(255)
    with torch.no_grad():
        expected = trained.synthesise(frames[:1], trained.analyse(frames[:1]), trained.analyse(frames[1:]))
        got = coded.synthesise(frames[:1], coded.analyse(frames[:1]), coded.analyse(frames[1:]))
    assert got.shape == expected.shape == (1, 3, SIZE, SIZE)
    # float16 storage of the weights: equal within float16 precision
    assert float((got - expected).abs().max()) < 2e-2
    assert not torch.equal(expected, torch.zeros_like(expected))


def test_hdac_small_config_parses_and_builds():
    config = load_train_config(REPO / "cfg" / "train" / "hdac_small.yaml")
    assert config["family"] == "hdac"
    assert config["train_params"]["batch_size"] == 4 and config["train_params"]["optimizer"] == "adamw"
    family = get_train_family("hdac")(config["train_params"], config["dataset_params"])
    assert family.lambdas == {52: 1.1, 47: 1.4, 42: 2.0, 37: 2.8}
    torch.manual_seed(0)
    model = build_model("hdac", config["model_params"]).eval()
    size = 128   # the smallest picture the five hourglass blocks at scale 0.25 take
    frames = torch.rand(1, 2, 3, size, size)
    batch = {"frames": frames, "indices": torch.tensor([[0, 1]]), "base_layer": torch.rand(1, 1, 3, size, size),
             "bl_lambda": torch.tensor([1.1])}
    with torch.no_grad():
        terms, out = family.forward(model, batch)
    assert out["generated"].shape == (1, 3, size, size)
    assert set(terms) == {"equivariance_value", "mse"}


def test_cfte_small_config_parses_and_builds():
    """The official structure with reduced widths: same state_dict keys as the official model."""
    from gfvc.models.official import official_model_params

    config = load_train_config(REPO / "cfg" / "train" / "cfte_small.yaml")
    assert config["family"] == "cfte" and config["discriminator_params"]["use_kp"] is False
    small = build_model("cfte", config["model_params"])
    with torch.device("meta"):
        official = build_model("cfte", official_model_params("cfte"))
    for name in ("generator", "kp_detector"):
        assert list(getattr(small, name).state_dict()) == list(getattr(official, name).state_dict())
    count = lambda m: sum(p.numel() for p in m.parameters())
    assert count(small) * 8 < count(official)
