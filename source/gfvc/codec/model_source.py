"""Which model a stream needs, and finding it: the encoder names it, the decoder checks it.

The encoder loads the family's model from a reference-style configuration (``model_params``)
and a checkpoint, and writes their identity into the stream (gfvc_model_identity: family, the
first 8 bytes of the SHA-256 of the configuration as canonical JSON, and of the checkpoint
file). The decoder never trusts a path for that: it looks for a configuration and a
checkpoint whose digests match the stream, in what the user names (``--model-config`` and
``--checkpoint``, each a file or a folder) and then in the folders of the environment variable
``GFVC_MODEL_PATH`` (``:``-separated). A mismatch is refused, naming both digests, unless
the user explicitly overrides it (``allow_mismatch``) for an experiment.

Loaded models are cached per process (keyed by family, configuration digest and checkpoint
SHA-256), so a CTC worker loads each model once, not once per cell.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence

from ..bitstream import ModelIdentity, ModelIdentityMismatch, config_digest
from ..errors import GfvcError
from ..files import check_input_file, sha256_file
from ..models.registry import build_model, get_family, read_model_params

CHECKPOINT_SUFFIXES = (".pth", ".tar", ".pt", ".ckpt", ".xz")
CONFIG_SUFFIXES = (".yaml", ".yml")


class ModelNotFound(GfvcError):
    """No configuration or checkpoint matching the stream's model identity was found."""


@dataclass(frozen=True)
class ModelKey:
    family: str
    config_digest: bytes
    checkpoint_sha256: str


_CACHE: Dict[ModelKey, object] = {}
_BUILT = [0]  # models built (configuration + checkpoint loaded) in this process


def models_built() -> int:
    """How many models this process has built and loaded (the cache makes it one per model)."""
    return _BUILT[0]


def model_config_params(family: str, config_path: str | os.PathLike) -> dict:
    """The model_params of a configuration file, as the family builds them."""
    check_input_file(config_path, "model configuration")
    params = read_model_params(config_path)
    return get_family(family).adapt_model_params(params)


def load_model(family: str, config_path: str | os.PathLike, checkpoint_path: str | os.PathLike,
               device: str = "cpu"):
    """(model, ModelKey): the family's model built from the configuration with the checkpoint
    loaded strictly; cached per process."""
    params = model_config_params(family, config_path)
    check_input_file(checkpoint_path, "checkpoint")
    key = ModelKey(family, config_digest(params), sha256_file(checkpoint_path))
    model = _CACHE.get(key)
    if model is None:
        model = build_model(family, params)
        model.load_checkpoint(checkpoint_path)
        model = model.to(device).eval()
        _BUILT[0] += 1
        _CACHE[key] = model
    return model, key


def identity_of(key: ModelKey, gfv_id: int, output_rounding: bool, key_format_idc: int,
                synthesis_batch: int) -> ModelIdentity:
    return ModelIdentity(key.family, key.config_digest, bytes.fromhex(key.checkpoint_sha256)[:8], gfv_id,
                         output_rounding, key_format_idc, synthesis_batch - 1)


def _candidates(paths: Iterable[Optional[str | os.PathLike]], suffixes: Sequence[str]) -> List[Path]:
    out: List[Path] = []
    for p in paths:
        if p is None:
            continue
        p = Path(p)
        if p.is_dir():
            out.extend(sorted(f for f in p.rglob("*") if f.is_file() and
                              any(f.name.endswith(s) or s in f.name for s in suffixes)))
        elif p.exists():
            out.append(p)
        else:
            raise ModelNotFound(f"{p}: no such file or folder")
    return out


def search_path() -> List[str]:
    return [p for p in os.environ.get("GFVC_MODEL_PATH", "").split(os.pathsep) if p]


def find_model(identity: ModelIdentity, model_config: Optional[str | os.PathLike] = None,
               checkpoint: Optional[str | os.PathLike] = None, allow_mismatch: bool = False,
               device: str = "cpu"):
    """(model, ModelKey) matching the stream's identity; ModelNotFound / ModelIdentityMismatch otherwise."""
    family = identity.mi_codec_family
    try:
        get_family(family)
    except GfvcError:
        raise ModelNotFound(f"the stream needs model family {family!r}, which this gfvc does not know") from None
    env = search_path()
    configs = _candidates([model_config] + env, CONFIG_SUFFIXES)
    ckpts = _candidates([checkpoint] + env, CHECKPOINT_SUFFIXES)
    if not ckpts:
        raise ModelNotFound(f"the stream needs a {family} checkpoint (sha256 "
                            f"{identity.mi_checkpoint_sha256_prefix.hex()}...): give --checkpoint")
    config = _match_config(family, identity, configs)
    ckpt = _match_checkpoint(identity, ckpts)
    if config is None or ckpt is None:
        explicit = (model_config is not None and checkpoint is not None
                    and Path(model_config).is_file() and Path(checkpoint).is_file())
        if not (allow_mismatch and explicit):
            have = []
            if config is None:
                have.append(f"no model configuration with digest {identity.mi_config_digest.hex()} "
                            f"among {len(configs)} candidate(s)" + ("" if configs else " (give --model-config)"))
            if ckpt is None:
                found = ", ".join(sorted({sha256_file(c)[:16] + "..." for c in ckpts})[:4])
                have.append(f"no checkpoint with sha256 {identity.mi_checkpoint_sha256_prefix.hex()}... "
                            f"(given: {found})")
            raise ModelIdentityMismatch(f"refusing to decode: the stream was encoded with another {family} "
                                        "model: " + "; ".join(have))
        config, ckpt = Path(model_config), Path(checkpoint)
    return load_model(family, config, ckpt, device)


def _match_config(family: str, identity: ModelIdentity, configs: Sequence[Path]) -> Optional[Path]:
    for c in configs:
        try:
            params = model_config_params(family, c)
        except (GfvcError, OSError, ValueError, TypeError, KeyError):
            continue
        if config_digest(params) == identity.mi_config_digest:
            return c
    return None


def _match_checkpoint(identity: ModelIdentity, ckpts: Sequence[Path]) -> Optional[Path]:
    want = identity.mi_checkpoint_sha256_prefix.hex()
    for c in ckpts:
        if sha256_file(c).startswith(want):
            return c
    return None


def clear_cache() -> None:
    _CACHE.clear()
