"""The shipped default models (models/*_small): each folder loads strictly into its family's model
through the codecs' loader, its metadata names its family and its training, and the files the
folder documents are there. The built-in CTC codes with them (tests/test_ctc_config.py)."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

from gfvc.codec.model_source import load_model

REPO = Path(__file__).resolve().parent.parent
FOLDERS = {"dac_small": "dac", "mrdac_small": "mrdac", "rdac_plus_small": "rdac_plus", "hdac_small": "hdac",
           "cfte_small": "cfte"}


def test_every_model_folder_is_listed():
    assert {p.name for p in (REPO / "models").iterdir() if p.is_dir()} == set(FOLDERS)


@pytest.mark.parametrize("folder", sorted(FOLDERS))
def test_default_model_loads_strictly_and_documents_its_training(folder):
    path = REPO / "models" / folder
    family = FOLDERS[folder]
    assert yaml.safe_load((path / "model.yaml").read_text())["family"] == family
    model, key = load_model(family, path / "model.yaml", path / "checkpoint.pth.tar")
    assert key.family == family
    saved = torch.load(path / "checkpoint.pth.tar", map_location="cpu", weights_only=False)
    assert saved["gfvc_metadata"]["family"] == family
    assert all(v.dtype == torch.float16 for net in ("generator", "kp_detector") for v in saved[net].values()
               if v.is_floating_point())                     # stored as float16 ...
    assert all(p.dtype == torch.float32 for p in model.parameters())   # ... loaded as float32
    for name in ("COMMANDS", "train.yaml", "losses.csv", "losses.png"):
        assert (path / name).is_file(), f"{folder}/{name}"
