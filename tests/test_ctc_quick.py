"""run_ctc.py --quick (a smoke run of a configuration) and the built-in CTC's codec set: checked
at the level of the resolved plan, never by timing."""
from __future__ import annotations

from pathlib import Path

from ctc_helpers import make_tiny_ctc, run_ctc_here
from gfvc.ctc.config import QUICK_METRICS, default_config, load_yaml, parse_config, quick_config
from gfvc.ctc.plan import build_plan

REPO = Path(__file__).resolve().parent.parent


def _quick_plan(**overrides):
    path = default_config()
    raw = quick_config(load_yaml(path))
    raw.update(overrides)
    cfg, problems = parse_config(raw, base=path.resolve().parent, source=path)
    assert problems == []
    return build_plan(cfg, preflight=False)


def test_quick_builtin_plan_is_small_and_separate(builtin_dir):
    full = load_yaml(default_config())
    plan = _quick_plan()
    cfg = plan.config
    assert [s.name for s in plan.sequences] == full["sequences"]["include"][:2]
    assert all(s.frames == 8 for s in plan.sequences)
    assert [c.spec.label for c in plan.codecs] == [e["name"] for e in full["codecs"]]
    for col, entry in zip(plan.codecs, full["codecs"]):
        assert col.rate_points == [entry["rate_points"][0], entry["rate_points"][-1]]
    assert cfg.metrics == list(QUICK_METRICS) and cfg.stored_anchors == [] and cfg.bdrate_anchors == []
    assert cfg.output.name == "builtin-quick" and cfg.name == "builtin-quick"
    assert len(plan.tasks) == 2 * 2 * len(full["codecs"])


def test_quick_on_the_command_line_with_options_on_top(tmp_path):
    cfg = make_tiny_ctc(tmp_path, qps=(26, 32, 38, 44), n_seq=3, frames=12, size=32,
                        metrics=("psnr_y", "ms_ssim", "fsim"),
                        extra={"sequences": {"folder": "seqs", "list": "list.yaml",
                                             "include": ["TINY_001", "TINY_002", "TINY_003"]}})
    rc, out, err = run_ctc_here(cfg, "--quick", "--plan")
    assert rc == 0, err
    lines = out.splitlines()
    assert lines[0] == "4 cells: 2 sequences x hevc_anchor (2 rate points)"
    assert [line.split()[1] for line in lines[1:5]] == ["TINY_001/hevc_anchor/26", "TINY_001/hevc_anchor/44",
                                                       "TINY_002/hevc_anchor/26", "TINY_002/hevc_anchor/44"]
    assert not (tmp_path / "run-quick").exists()  # --plan does no work
    # options apply on top of --quick; the quick run's cells are not the full run's (8 frames)
    rc, out, err = run_ctc_here(cfg, "--quick", "--plan", "--frames", "4", "--only", "TINY_003")
    assert rc == 0, err
    assert out.splitlines()[0] == "2 cells: 1 sequences x hevc_anchor (2 rate points)"
    digests = {line.split()[-1] for line in run_ctc_here(cfg, "--plan")[1].splitlines()[1:] if "TINY_" in line}
    quick = {line.split()[-1] for line in run_ctc_here(cfg, "--quick", "--plan")[1].splitlines()[1:]
             if "TINY_" in line}
    assert quick and not digests & quick


def test_a_missing_default_model_fails_up_front_in_one_line(tmp_path, builtin_dir):
    raw = load_yaml(default_config())
    raw["codecs"][0]["options"]["checkpoint"] = "models/no_such_model/checkpoint.pth.tar"
    raw["output"] = str(tmp_path / "run")
    path = tmp_path / "ctc.yaml"
    import yaml

    path.write_text(yaml.safe_dump(raw))
    rc, _, err = run_ctc_here(path, "--plan")
    assert rc == 2
    errors = [line for line in err.splitlines() if line.startswith("gfvc-ctc: error: ")]
    assert errors == [f"gfvc-ctc: error: codec dac: the checkpoint file models/no_such_model/checkpoint.pth.tar "
                      f"({REPO / 'models' / 'no_such_model' / 'checkpoint.pth.tar'}) does not exist"]
    assert "Traceback" not in err and not (tmp_path / "run").exists()
