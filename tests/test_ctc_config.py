"""Configuration: files, command-line overrides, and bad configurations rejected before any
work starts with one message per problem."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ctc_helpers import CODEC, make_tiny_ctc, run_ctc_here
from gfvc.ctc.config import default_config, load_config

REPO = Path(__file__).resolve().parent.parent


def _errors(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("gfvc-ctc: error: ")]


def test_bad_configuration_lists_every_problem_and_does_nothing(tmp_path):
    cfg = make_tiny_ctc(tmp_path, qps=(30,))
    (tmp_path / "seqs" / "TINY_002_64x64_25_8bit_444.rgb").unlink()  # a missing sequence
    (tmp_path / "afile").write_text("x")  # an output path below a file: nobody can create it
    raw = yaml.safe_load(cfg.read_text())
    raw["codecs"] = [{"name": "no_such_codec"}, {"name": CODEC, "rate_points": [30, 99, "high"]}]
    raw["output"] = str(tmp_path / "afile" / "run")
    cfg.write_text(yaml.safe_dump(raw))
    rc, out, err = run_ctc_here(cfg)
    errors = _errors(err)
    assert rc == 2
    assert any("no_such_codec" in e and "unknown codec" in e for e in errors), errors
    assert any("invalid rate point 99" in e for e in errors), errors
    assert any("invalid rate point 'high'" in e for e in errors), errors
    assert any("TINY_002" in e and "missing" in e for e in errors), errors
    assert f"gfvc-ctc: error: output folder {tmp_path / 'afile' / 'run'}: {tmp_path / 'afile'} exists and " \
        "is not a folder" in errors
    assert len(errors) == 5, errors
    assert "5 problem(s)" in err and "nothing was run" in err


def test_shape_problems_are_collected_with_the_others(tmp_path):
    cfg = make_tiny_ctc(tmp_path, qps=(30,))
    raw = yaml.safe_load(cfg.read_text())
    raw.update({"metrics": ["psnr_y", "no_such_metric"], "workers": 0, "colour": "blue",
                "bdrate": {"anchors": ["not_in_run"]}})
    raw["sequences"]["frames"] = 100  # the files hold 8
    cfg.write_text(yaml.safe_dump(raw))
    rc, out, err = run_ctc_here(cfg)
    errors = _errors(err)
    assert rc == 2
    for needle in ("unknown key 'colour'", "workers must be a positive", "not_in_run",
                   "metric no_such_metric", "100 frames asked for"):
        assert sum(needle in e for e in errors) >= 1, (needle, errors)


def test_missing_folder_and_unreadable_file(tmp_path):
    rc, out, err = run_ctc_here(tmp_path / "nope.yaml")
    assert rc == 2 and "cannot read the configuration file" in err
    rc, out, err = run_ctc_here(REPO / "cfg" / "ctc" / "jvet_ah0114.yaml")
    assert rc == 2 and "no sequence folder given" in err
    rc, out, err = run_ctc_here(REPO / "cfg" / "ctc" / "jvet_ah0114.yaml", "--sequences", str(tmp_path / "none"))
    assert rc == 2 and f"sequence folder {tmp_path / 'none'} does not exist" in err


def test_command_line_overrides_the_file(tmp_path):
    cfg = make_tiny_ctc(tmp_path, qps=(30, 38))
    c, problems = load_config(cfg, overrides={"workers": 3, "sequences": {"frames": 4}})
    assert problems == [] and c.workers == 3 and c.sequences.frames == 4
    assert c.sequences.folder == tmp_path / "seqs"  # file paths are relative to the file
    assert c.output == tmp_path / "run"
    rc, out, err = run_ctc_here(cfg, "--plan", "--rate-points", "22,27,32", "--only", "TINY_001", "--frames", "4")
    assert rc == 0, err
    lines = out.splitlines()
    assert lines[0] == f"3 cells: 1 sequences x {CODEC} (3 rate points)"
    assert [ln.split()[1] for ln in lines[1:4]] == [f"TINY_001/{CODEC}/22", f"TINY_001/{CODEC}/27",
                                                    f"TINY_001/{CODEC}/32"]
    assert not (tmp_path / "run").exists()  # --plan does no work


def test_builtin_configuration_is_valid(builtin_dir):
    c, problems = load_config(default_config())
    assert problems == []
    assert c.sequences.builtin and [x.name for x in c.codecs] == ["dac", "mrdac", "rdac_plus"]
    # the default models, named relative to the gfvc folder, whatever the working folder
    for spec in c.codecs:
        assert spec.options["model_config"] == str(REPO / "models" / f"{spec.name}_small" / "model.yaml")
        assert spec.options["checkpoint"] == str(REPO / "models" / f"{spec.name}_small" / "checkpoint.pth.tar")
        assert spec.written_options["checkpoint"] == f"models/{spec.name}_small/checkpoint.pth.tar"
    assert [a.codecs for a in c.stored_anchors] == [["hdac"], ["cfte"], ["vvc_anchor"], ["hevc_anchor"]]
    assert c.bdrate_anchors == ["hdac", "cfte", "vvc_anchor"]
    assert c.bdrate_tests == ["dac", "mrdac", "rdac_plus", "hevc_anchor"]
    from gfvc.ctc.plan import build_plan

    plan = build_plan(c, preflight=False)  # the trial coding of the GFVC codecs: tests/test_ctc_quick.py
    assert len(plan.sequences) >= 3 and all(s.frames == 32 for s in plan.sequences)
    assert len(plan.tasks) == len(plan.sequences) * 12
    # the stored anchors cover every sequence at every rate point, with the run's metric definitions
    assert len(plan.stored_rows) == len(plan.sequences) * 16 and plan.notes == []
    assert set(plan.unavailable) <= {"lpips_alex", "lpips_vgg", "dists", "msvgg"}
    assert {"psnr_y", "ssim", "ms_ssim", "fsim", "vmaf"} <= {m.name for m in plan.metrics}


def test_a_stored_gfvc_anchor_of_a_retrained_model_is_refused(builtin_dir, tmp_path):
    # anchors/builtin/hdac was coded with models/hdac_small: a store that names another checkpoint
    # content (as after retraining the model) is stale, and the run says so before any work
    import json
    import shutil

    from gfvc.ctc.config import ConfigError
    from gfvc.ctc.plan import build_plan

    stale = tmp_path / "hdac"
    shutil.copytree(REPO / "anchors" / "builtin" / "hdac", stale)
    prov = json.loads((stale / "provenance.json").read_text())
    assert prov["codecs"][0]["options"]["checkpoint"] == "models/hdac_small/checkpoint.pth.tar"
    prov["codecs"][0]["settings"]["checkpoint"] = "0" * 64
    (stale / "provenance.json").write_text(json.dumps(prov))
    raw = yaml.safe_load(default_config().read_text())
    raw["stored_anchors"] = [str(stale) if a.endswith("/hdac") else str(REPO / a) for a in raw["stored_anchors"]]
    cfg = tmp_path / "builtin.yaml"
    cfg.write_text(yaml.safe_dump(raw))
    c, problems = load_config(cfg)
    assert problems == []
    with pytest.raises(ConfigError) as e:
        build_plan(c, preflight=False)
    assert e.value.problems == [f"stored anchor {stale} was coded with another models/hdac_small/checkpoint.pth.tar "
                                "than this gfvc folder's (sha256 0000000000000000...): regenerate it (anchors/README.md)"]
