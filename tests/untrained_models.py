"""Untrained stand-ins for the default models (models/<family>_small/): the layout the CTC reads
(model.yaml with the model_params, checkpoint.pth.tar with one fp16 state_dict per network), with
random weights. For tests and development only: they code, but their pictures mean nothing."""
from __future__ import annotations

import io
from pathlib import Path

#: the default models of the built-in CTC: codec family -> the training configuration they come from
DEFAULT_MODELS = {"dac": "dac_small", "mrdac": "mrdac_small", "rdac_plus": "rdac_plus_small"}


def write_untrained_model(family: str, train_config: Path, out: Path, seed: int = 0) -> Path:
    """Write out/model.yaml and out/checkpoint.pth.tar for ``family`` from a cfg/train file."""
    import torch
    import yaml

    from gfvc.files import atomic_write_bytes, load_yaml_file
    from gfvc.models.registry import build_model

    params = load_yaml_file(train_config, "training configuration")["model_params"]
    torch.manual_seed(seed)
    model = build_model(family, params)
    state = {name: {k: (v.half() if v.is_floating_point() else v)
                    for k, v in getattr(model, name).state_dict().items()} for name in model.network_names}
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out / "model.yaml", yaml.safe_dump({"model_params": params}, sort_keys=False).encode())
    buf = io.BytesIO()
    torch.save(state, buf)
    atomic_write_bytes(out / "checkpoint.pth.tar", buf.getvalue())
    return out


def write_default_models(root: Path, repo: Path) -> None:
    """Untrained models/<name>/ under ``root`` for every default model (configs from ``repo``)."""
    for family, name in DEFAULT_MODELS.items():
        write_untrained_model(family, repo / "cfg" / "train" / f"{name}.yaml", root / "models" / name)
