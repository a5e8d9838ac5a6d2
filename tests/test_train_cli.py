"""gfvc-train on one process: a stopped run resumes bit-exactly, the checkpoint has the official
layout (our strict loader reads it) plus metadata, RDAC+ stages chain, errors are one line."""
from __future__ import annotations

import csv
import json

import pytest
import torch

from gfvc.models import load_model
from gfvc.models.checkpoint import read_checkpoint
from gfvc.train.cli import main
from gfvc.train.losses import PERCEPTUAL_FALLBACK
from train_helpers import TINY_MODEL, tiny_config, write_clips, write_config

RDAC_PLUS_MODEL = {**TINY_MODEL,
                   "residual_coder_params": {"hidden_features": 8, "latent_features": 12, "condition_features": 8,
                                             "levels": 2, "spatial_intermediate_layers": 1,
                                             "temporal_intermediate_layers": 0},
                   "refinement_params": {"block_expansion": 4, "num_blocks": 2, "max_features": 16}}


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    return write_clips(tmp_path_factory.mktemp("clips"))


def train(config_path, clips, out, *extra):
    return main(["--config", str(config_path), "--data", str(clips), "--out", str(out), *map(str, extra)])


def test_stopped_run_resumes_bit_exactly(tmp_path, clips):
    config = write_config(tmp_path / "dac.yaml", tiny_config("dac", num_repeats=1))   # 2 iterations per epoch
    assert train(config, clips, tmp_path / "whole") == 0
    assert train(config, clips, tmp_path / "split", "--max-iterations", 3) == 0
    assert json.loads((tmp_path / "split" / "checkpoint.json").read_text())["iteration"] == 3
    # the resumed part reads its samples in a data-loader worker process: same samples, same result
    assert train(config, clips, tmp_path / "split", "--resume", "--num-workers", 1) == 0
    whole, _ = read_checkpoint(tmp_path / "whole" / "checkpoint.pth.tar")
    split, _ = read_checkpoint(tmp_path / "split" / "checkpoint.pth.tar")
    assert whole["iteration"] == split["iteration"] == 4
    for key in ("generator", "kp_detector", "discriminator"):
        for name, value in whole[key].items():
            assert torch.equal(value, split[key][name]), f"{key}.{name}"
    assert (tmp_path / "whole" / "losses.csv").read_text() == (tmp_path / "split" / "losses.csv").read_text()
    rows = list(csv.DictReader(open(tmp_path / "whole" / "losses.csv")))
    assert [int(r["iteration"]) for r in rows] == [1, 2, 3, 4]
    assert {"perceptual", "equivariance_value", "generator_gan", "feature_matching", "discriminator_gan",
            "objective"} <= set(rows[0])


def test_checkpoint_has_the_official_layout_and_metadata(tmp_path, clips):
    config = write_config(tmp_path / "mrdac.yaml", tiny_config("mrdac", epochs=1, loss_weights={"contrastive": 0.1}))
    assert train(config, clips, tmp_path / "run") == 0
    path = tmp_path / "run" / "checkpoint.pth.tar"
    state, _ = read_checkpoint(path)   # weights_only: nothing but tensors and plain data
    assert {"generator", "kp_detector", "discriminator", "optimizer_generator", "optimizer_discriminator",
            "epoch"} <= set(state)
    meta = state["gfvc_metadata"]
    assert meta["perceptual"] == PERCEPTUAL_FALLBACK and meta["steps"] == 4 and meta["finished"]
    assert meta["config"]["train_params"]["loss_weights"]["contrastive"] == 0.1
    assert [d["name"] for d in meta["data"]] == ["CLIP0", "CLIP1", "CLIP2", "CLIP3"]
    assert meta["software"]["gfvc"]
    model = load_model("mrdac", TINY_MODEL, path, device="cpu")   # strict
    assert torch.equal(model.generator.final.weight, state["generator"]["final.weight"])


def test_rdac_plus_stages_chain(tmp_path, clips):
    stages = {}
    previous = None
    for stage in ("animation", "residual", "refinement"):
        config = tiny_config("rdac_plus", epochs=1, stage=stage, rate_lambdas=[1.0, 4.0])
        config["model_params"] = RDAC_PLUS_MODEL
        config["dataset_params"]["num_targets"] = 2
        path = write_config(tmp_path / f"{stage}.yaml", config)
        extra = ["--init", previous] if previous else []
        assert train(path, clips, tmp_path / stage, *extra) == 0
        previous = tmp_path / stage / "checkpoint.pth.tar"
        stages[stage] = read_checkpoint(previous)[0]
    gen = {s: stages[s]["generator"] for s in stages}
    changed = lambda a, b, prefix: any(not torch.equal(gen[a][k], gen[b][k]) for k in gen[a] if k.startswith(prefix))
    assert changed("animation", "residual", "sdc.") and not changed("animation", "residual", "first.")
    assert not changed("animation", "residual", "bottleneck.")   # frozen, batch-norm statistics included
    assert changed("residual", "refinement", "refinement.") and not changed("residual", "refinement", "sdc.")
    rows = list(csv.DictReader(open(tmp_path / "residual" / "losses.csv")))
    assert {"rate_bpp", "bpp", "aux", "perceptual"} <= set(rows[0]) and "generator_gan" not in rows[0]
    load_model("rdac_plus", RDAC_PLUS_MODEL, previous, device="cpu")


def test_errors_are_one_line(tmp_path, clips, capsys):
    config = write_config(tmp_path / "dac.yaml", tiny_config("dac", epochs=1))
    assert train(config, clips, tmp_path / "run", "--max-iterations", 1) == 0
    capsys.readouterr()
    assert train(config, clips, tmp_path / "run") == 2
    err = capsys.readouterr().err
    assert "already holds a checkpoint: pass --resume" in err and len(err.strip().splitlines()) == 1
    other = write_config(tmp_path / "other.yaml", tiny_config("dac", epochs=1, lr=1e-3))
    assert train(other, clips, tmp_path / "run", "--resume") == 2
    assert "another training configuration" in capsys.readouterr().err
    bad = write_config(tmp_path / "bad.yaml", tiny_config("fomm"))
    assert train(bad, clips, tmp_path / "bad") == 2
    assert "cannot train family 'fomm'" in capsys.readouterr().err
    assert train(config, tmp_path / "nothing", tmp_path / "x") == 2
    assert "no such file or folder" in capsys.readouterr().err


def test_shipped_configurations_load():
    from gfvc.models import build_model
    from gfvc.train.families import get_train_family
    from gfvc.train.trainer import load_train_config
    from train_helpers import REPO

    paths = sorted((REPO / "cfg" / "train").glob("*.yaml"))
    assert {p.stem for p in paths} >= {"dac", "mrdac", "rdac_plus", "dac_small", "mrdac_small", "rdac_plus_small"}
    for path in paths:
        config = load_train_config(path)
        family = get_train_family(config["family"])(config["train_params"], config["dataset_params"])
        assert config["dataset_params"]["frame_shape"] == [256, 256]
        if path.stem.endswith("_small"):
            model = build_model(family.model_family, config["model_params"])
            assert sum(p.numel() for p in model.parameters()) < 8e6
        if config["family"] == "mrdac":
            assert family.contrastive_weight > 0
        if config["family"] == "rdac_plus":
            assert len(family.rate_lambdas) == config["model_params"]["residual_coder_params"]["levels"]


def test_loss_plot(tmp_path):
    from gfvc.train.plot import main as plot_main

    log = tmp_path / "losses.csv"
    log.write_text("iteration,epoch,perceptual,objective\n1,0,2.0,2.5\n2,0,1.5,2.0\n")
    assert plot_main([str(log)]) == 0
    assert (tmp_path / "losses.png").read_bytes().startswith(b"\x89PNG")
    (tmp_path / "bad.csv").write_text("")
    assert plot_main([str(tmp_path / "bad.csv")]) == 2


def test_hdac_with_pre_coded_base_layers(tmp_path, clips):
    import numpy as np

    from train_helpers import SIZE, clip_frames

    folders = {}
    for qp, step in ((50, 64), (44, 16)):   # coarse quantisation stands in for the decoded base layer
        folder = tmp_path / f"bl{qp}"
        folder.mkdir()
        for i in range(4):
            (clip_frames(i) // step * step).astype(np.uint8).tofile(folder / f"CLIP{i}_{SIZE}x{SIZE}_25_8bit_444.rgb")
        folders[qp] = folder
    config = tiny_config("hdac", epochs=1, base_layer_lambdas={50: 1.1, 44: 2.8},
                         loss_weights={"mse": 100})
    config["model_params"] = {**TINY_MODEL, "generator_params": {**TINY_MODEL["generator_params"],
                                                                 "num_bottleneck_blocks": 2}}
    path = write_config(tmp_path / "hdac.yaml", config)
    assert train(path, clips, tmp_path / "run", "--base-layer", f"50={folders[50]}",
                 "--base-layer", f"44={folders[44]}") == 0
    rows = list(csv.DictReader(open(tmp_path / "run" / "losses.csv")))
    assert "mse" in rows[0] and len(rows) == 4
    load_model("hdac", config["model_params"], tmp_path / "run" / "checkpoint.pth.tar", device="cpu")
    assert train(path, clips, tmp_path / "none") == 2   # no base layer given: one-line error


def test_warm_start_from_dac_and_export_a_model_folder(tmp_path, clips):
    """MRDAC warm-started from a trained DAC: every tensor that fits is the DAC's, the rest its own
    initial value; the exported float16 model folder loads strictly and codes like the float16
    weights cast back to float32."""
    from gfvc.train.export import main as export_main

    dac = write_config(tmp_path / "dac.yaml", tiny_config("dac", epochs=1, num_repeats=1))
    assert train(dac, clips, tmp_path / "dac") == 0
    mrdac = write_config(tmp_path / "mrdac.yaml", tiny_config("mrdac", epochs=1, num_repeats=1))
    assert train(mrdac, clips, tmp_path / "mrdac", "--warm-start", tmp_path / "dac" / "checkpoint.pth.tar",
                 "--max-iterations", 1) == 0
    dac_state, _ = read_checkpoint(tmp_path / "dac" / "checkpoint.pth.tar")
    mr_state, _ = read_checkpoint(tmp_path / "mrdac" / "checkpoint.pth.tar")
    meta = mr_state["gfvc_metadata"]["warm_start"]
    assert meta["copied"] > 0 and meta["left"] > 0
    # resuming with the same command continues the checkpoint: the warm start is not applied again
    # (here it could not be: the file named is no checkpoint) and its record is kept
    assert train(mrdac, clips, tmp_path / "mrdac", "--warm-start", tmp_path / "dac.yaml", "--max-iterations", 2,
                 "--resume") == 0
    resumed, _ = read_checkpoint(tmp_path / "mrdac" / "checkpoint.pth.tar")
    assert resumed["iteration"] == 2 and resumed["gfvc_metadata"]["warm_start"] == meta
    # the aggregation blocks exist only in MRDAC: never copied
    assert any(".ref_agg" in n or "agg" in n for n in meta["left_first"]) or meta["left"] >= 2
    # with one optimiser step after the warm start the shared tensors moved only a little from the DAC's
    # (parameters only: batch-norm running statistics move by the momentum in one training forward)
    shared = [n for n, v in dac_state["kp_detector"].items()
              if n in mr_state["kp_detector"] and v.shape == mr_state["kp_detector"][n].shape
              and v.is_floating_point() and "running_" not in n]
    assert shared
    for name in shared[:5]:
        assert torch.allclose(dac_state["kp_detector"][name], mr_state["kp_detector"][name], atol=1e-2)
    # no overlap at all is refused in one line
    assert train(mrdac, clips, tmp_path / "bad", "--warm-start", tmp_path / "dac.yaml") == 2

    # a row logged after the last checkpoint (a run killed between checkpoints) is not the model's
    log = tmp_path / "dac" / "losses.csv"
    last = log.read_text().splitlines()[-1].split(",")
    log.write_text(log.read_text() + ",".join(["3"] + last[1:]) + "\n")
    assert export_main([str(tmp_path / "dac"), str(tmp_path / "model")]) == 0
    exported, _ = read_checkpoint(tmp_path / "model" / "checkpoint.pth.tar")
    assert set(exported) == {"generator", "kp_detector", "gfvc_metadata"}
    assert exported["gfvc_metadata"]["storage"] == "float16"
    assert all(v.dtype == torch.float16 for v in exported["generator"].values() if v.is_floating_point())
    model = load_model("dac", str(tmp_path / "model" / "model.yaml"), tmp_path / "model" / "checkpoint.pth.tar",
                       device="cpu")
    for name, value in model.generator.state_dict().items():
        expected = dac_state["generator"][name]
        if expected.is_floating_point():
            assert torch.equal(value, expected.to(torch.float16).to(value.dtype)), name
    assert (tmp_path / "model" / "train.yaml").is_file() and (tmp_path / "model" / "losses.png").is_file()
    assert [int(line.split(",")[0]) for line in (tmp_path / "model" / "losses.csv").read_text().splitlines()[1:]] == [1, 2]
    assert export_main([str(tmp_path / "nothing"), str(tmp_path / "m2")]) == 2
    # exporting into the run folder itself never replaces the training checkpoint
    before = (tmp_path / "dac" / "checkpoint.pth.tar").read_bytes()
    assert export_main([str(tmp_path / "dac"), str(tmp_path / "dac")]) == 2
    assert (tmp_path / "dac" / "checkpoint.pth.tar").read_bytes() == before


def test_time_limit_stops_with_a_checkpoint_that_resumes(tmp_path, clips):
    # --time-limit 0 is up after the first iteration whatever the machine's speed
    config = write_config(tmp_path / "dac.yaml", tiny_config("dac", num_repeats=1, checkpoint_every=0))
    assert train(config, clips, tmp_path / "run", "--time-limit", 0) == 0
    assert json.loads((tmp_path / "run" / "checkpoint.json").read_text())["iteration"] == 1
    assert train(config, clips, tmp_path / "run", "--resume") == 0
    assert json.loads((tmp_path / "run" / "checkpoint.json").read_text())["iteration"] == 4
    assert train(config, clips, tmp_path / "bad", "--time-limit", -1) == 2
