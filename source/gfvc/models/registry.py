"""Registry of model families, and construction/loading from the reference configuration files.

A family module registers its FaceModel subclass with ``@register_family("dac")``. Codec names map to
families (each codec has its own family today). The YAML may be a full reference
config (with a ``model_params`` section) or the ``model_params`` section itself.
"""
from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any, Callable, Mapping

from ..errors import FileProblem, GfvcError
from ..files import load_yaml_file
from .base import FaceModel, ModelConfigError

#: every family and the module that defines it (imported on first use)
FAMILY_MODULES = {
    "fomm": "gfvc.models.fomm",
    "cfte": "gfvc.models.cfte",
    "fv2v": "gfvc.models.fv2v",
    "dac": "gfvc.models.dac",
    "hdac": "gfvc.models.hdac",
    "rdac": "gfvc.models.rdac",
    "mrdac": "gfvc.models.mrdac",
    "rdac_plus": "gfvc.models.rdac_plus",
}

#: codec name -> model family
CODEC_FAMILIES = {
    "fomm": "fomm",
    "cfte": "cfte",
    "fv2v": "fv2v",
    "dac": "dac",
    "hdac": "hdac",
    "rdac": "rdac",
    "rdac_plus": "rdac_plus",
    "mrdac": "mrdac",
}

_FAMILIES: dict[str, type[FaceModel]] = {}


class UnknownFamilyError(GfvcError, KeyError):
    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0])


def register_family(name: str) -> Callable[[type[FaceModel]], type[FaceModel]]:
    """Class decorator: make a FaceModel subclass available as family ``name``."""
    def decorate(cls: type[FaceModel]) -> type[FaceModel]:
        if name in _FAMILIES and _FAMILIES[name] is not cls:
            raise ValueError(f"model family {name!r} is already registered by {_FAMILIES[name].__qualname__}")
        cls.family = name
        _FAMILIES[name] = cls
        return cls
    return decorate


def family_of_codec(codec_name: str) -> str:
    try:
        return CODEC_FAMILIES[codec_name.lower()]
    except KeyError:
        raise UnknownFamilyError(f"unknown codec {codec_name!r}; known: {', '.join(sorted(CODEC_FAMILIES))}") \
            from None


def get_family(name: str) -> type[FaceModel]:
    """The FaceModel class of a family (or of a codec name such as ``rdac_plus``)."""
    key = name.lower()
    family = CODEC_FAMILIES.get(key, key)
    if family not in _FAMILIES:
        module = FAMILY_MODULES.get(family)
        if module is None:
            raise UnknownFamilyError(f"unknown model family {name!r}; known: {', '.join(sorted(FAMILY_MODULES))}")
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
            raise UnknownFamilyError(f"model family {family!r} is not available ({module} is missing)") from None
    return _FAMILIES[family]


def available_families() -> list[str]:
    """Families whose module can be imported."""
    names = []
    for family in FAMILY_MODULES:
        try:
            get_family(family)
        except UnknownFamilyError:
            continue
        names.append(family)
    return names


def read_model_params(config: str | Path | Mapping[str, Any]) -> dict:
    """The ``model_params`` of a reference config given as a path to a YAML file or as a dict."""
    if isinstance(config, Mapping):
        data = dict(config)
        source = "configuration"
    else:
        source = str(config)
        try:
            data = load_yaml_file(config, "model config")   # regular, bounded, UTF-8, no aliases
        except FileProblem as exc:
            raise ModelConfigError(f"cannot read {exc}") from None
    if not isinstance(data, Mapping):
        raise ModelConfigError(f"model config {source} is not a mapping")
    params = data.get("model_params", data)
    if not isinstance(params, Mapping) or "generator_params" not in params:
        raise ModelConfigError(f"model config {source} has no model_params with generator_params")
    return dict(params)


def build_model(family: str, model_params: Mapping[str, Any], **options) -> FaceModel:
    """Construct a family's networks (random weights) from model_params (reference parameter names)."""
    return get_family(family).from_model_params(read_model_params(model_params), **options)


def load_model(family: str, config: str | Path | Mapping[str, Any], checkpoint_path: str | Path,
               device: str | None = None, **options) -> FaceModel:
    """Build a family from its reference config and load the official checkpoint strictly.

    ``options`` are loader overrides of the reference (DAC: ``num_kp``). The model is returned in eval
    mode with ``checkpoint_sha256`` set, on ``device`` (default: CUDA when available, else CPU)."""
    import torch

    model = build_model(family, read_model_params(config), **options)
    model.load_checkpoint(checkpoint_path)
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    return model.to(device).eval()
