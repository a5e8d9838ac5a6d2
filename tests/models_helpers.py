"""Helpers shared by the tests/test_models_*.py files: reading a reference fixture case, building
official-size modules without allocating their weights, comparing structures and outputs."""
from __future__ import annotations

import json
from pathlib import Path

import torch
import yaml

from gfvc.models import build_model
from gfvc.models.base import synthesis_threads
from gfvc.models.checkpoint import state_dict_layout

ATOL, RTOL = 1e-5, 1e-4


def tiny_case(fixtures_root: Path, model: str) -> dict:
    case = fixtures_root / model / "tiny"
    return {
        "dir": case,
        "model_params": yaml.safe_load((case / "model_params.yaml").read_text()),
        "checkpoint": case / "checkpoint.pth.tar",
        "inputs": torch.load(case / "inputs.pt", map_location="cpu", weights_only=True),
        "outputs": torch.load(case / "outputs.pt", map_location="cpu", weights_only=True),
        "meta": json.loads((case / "meta.json").read_text()),
    }


def load_tiny_model(fixtures_root: Path, model: str, family: str, **options):
    case = tiny_case(fixtures_root, model)
    net = build_model(family, case["model_params"], **options)
    net.load_checkpoint(case["checkpoint"])
    return net, case


def official_structure(fixtures_root: Path, model: str) -> dict:
    return json.loads((fixtures_root / model / "official_state_dict_shapes.json").read_text())


def build_official_on_meta(fixtures_root: Path, model: str, family: str, **options):
    """The official-size model built on the meta device: real structure, no weight memory or init time."""
    params = yaml.safe_load((fixtures_root / model / "model_params.yaml").read_text())
    with torch.device("meta"):
        return build_model(family, params, **options)


def expected_layout(structure: dict, submodule: str, skip_prefix: str | None = None) -> list:
    entries = structure["submodules"][submodule]["state_dict"]
    return [(k, list(v["shape"]), v["dtype"]) for k, v in entries.items()
            if skip_prefix is None or not k.startswith(skip_prefix)]


def num_parameters(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def assert_outputs_match(actual: dict, expected: dict, skip_prefixes: tuple = ()) -> list:
    """Compare every float output of the fixture; returns the names compared (all, unless skipped)."""
    compared = []
    for name, ref in expected.items():
        if any(name.startswith(p) for p in skip_prefixes) or not ref.is_floating_point():
            continue
        assert name in actual, f"output {name} was not reproduced"
        torch.testing.assert_close(actual[name], ref, atol=ATOL, rtol=RTOL, msg=lambda m: f"{name}: {m}")
        compared.append(name)
    return compared


def assert_official_structure(fixtures_root: Path, model: str, family: str, **options):
    """Build the official-size ``family`` on the meta device and check every sub-module against
    ``official_state_dict_shapes.json``: state_dict keys/order/shapes/dtypes, parameter, buffer and
    entry counts, the checkpoint's top-level keys and the total. Returns (model, structure)."""
    structure = official_structure(fixtures_root, model)
    net = build_official_on_meta(fixtures_root, model, family, **options)
    assert list(net.network_names) == structure["checkpoint_top_level_keys_read_by_loader"]
    for name in net.network_names:
        module = getattr(net, name)
        counts = structure["submodules"][name]["param_counts"]
        assert state_dict_layout(module) == expected_layout(structure, name), name
        assert num_parameters(module) == counts["num_parameters"], name
        assert sum(b.numel() for b in module.buffers()) == counts["num_buffer_elements"], name
        assert len(module.state_dict()) == counts["num_state_dict_entries"], name
    assert num_parameters(net) == structure["total_num_parameters"]
    return net, structure


#: run a block with ``count`` torch CPU threads (tiny networks gain nothing from threads on a
#: shared machine), restoring the previous count: the library's own context manager
torch_threads = synthesis_threads
