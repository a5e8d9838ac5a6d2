"""Loading of the published GFVC checkpoints (``.pth.tar``, optionally xz-compressed) into our modules.

The files are used unchanged: each top-level key (``generator``, ``kp_detector``, ``he_estimator``) holds
the state_dict of one sub-module and is loaded strictly. Unlike ``nn.Module.load_state_dict`` the errors
are precise and one line long: they name the file, the top-level key, the state_dict key and both
shapes. The SHA-256 of the file is returned so that a model (and a bitstream) can say which weights it
ran with.
"""
from __future__ import annotations

import hashlib
import io
import lzma
import pickle
import zipfile
from pathlib import Path
from typing import Mapping, Sequence

import torch
from torch import nn

from ..errors import FileProblem, GfvcError
from ..files import read_input_bytes

XZ_MAGIC = b"\xfd7zXZ\x00"
MAX_LISTED_PROBLEMS = 3


class CheckpointError(GfvcError):
    """A checkpoint that cannot be read or does not fit the model; the message names the file and key."""


#: larger than any GFVC checkpoint (the official FV2V file is about 0.5 GB)
MAX_CHECKPOINT_BYTES = 8 << 30


def read_checkpoint(path: str | Path) -> tuple[dict, str]:
    """Read a checkpoint file (plain torch file or xz-compressed) on the CPU.

    Returns (top-level dict, SHA-256 of the file bytes). Only tensors and plain containers are
    unpickled (``weights_only=True``): a checkpoint is data, never code."""
    path = Path(path)
    try:   # a regular file of bounded size: a FIFO or /dev/zero never hangs or fills memory
        raw = read_input_bytes(path, "checkpoint", MAX_CHECKPOINT_BYTES)
    except FileProblem as exc:
        raise CheckpointError(f"cannot read {exc}") from None
    sha256 = hashlib.sha256(raw).hexdigest()
    if raw.startswith(XZ_MAGIC):
        try:
            raw = lzma.decompress(raw)
        except (lzma.LZMAError, EOFError) as exc:
            raise CheckpointError(f"checkpoint {path} is a corrupt or truncated xz file ({exc})") from None
    if not raw:
        raise CheckpointError(f"checkpoint {path} is empty")
    try:
        obj = torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"checkpoint {path} is not a torch checkpoint or holds objects other than "
                              f"tensors ({first_line})") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError, KeyError) as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"checkpoint {path} is truncated or corrupt ({first_line})") from None
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"checkpoint {path} holds a {type(obj).__name__}, expected a dict of "
                              "sub-module state_dicts")
    return dict(obj), sha256


def check_state_dict(module: nn.Module, state: Mapping, where: str,
                     optional_prefixes: Sequence[str] = ()) -> dict:
    """Compare ``state`` with ``module.state_dict()`` key by key and shape by shape.

    Entries whose key starts with one of ``optional_prefixes`` and that the module does not have are
    dropped (for sub-modules we deliberately do not build, e.g. MRDAC's reference image coder).
    Returns the state to load; raises CheckpointError naming every mismatch (up to a few)."""
    expected = module.state_dict()
    problems: list[str] = []
    kept = {}
    for key, value in state.items():
        if key not in expected:
            if any(key.startswith(p) for p in optional_prefixes):
                continue
            problems.append(f"unexpected key {where}.{key} (checkpoint shape {_shape(value)}, not in the model)")
            continue
        if not isinstance(value, torch.Tensor):
            problems.append(f"{where}.{key} is a {type(value).__name__}, not a tensor")
            continue
        if tuple(value.shape) != tuple(expected[key].shape):
            problems.append(f"shape mismatch for {where}.{key}: checkpoint {_shape(value)}, "
                            f"model {_shape(expected[key])}")
            continue
        kept[key] = value
    for key, value in expected.items():
        if key not in state:
            problems.append(f"missing key {where}.{key} (model shape {_shape(value)}, not in the checkpoint)")
    if problems:
        more = len(problems) - MAX_LISTED_PROBLEMS
        listed = "; ".join(problems[:MAX_LISTED_PROBLEMS])
        raise CheckpointError(listed + (f"; and {more} more" if more > 0 else ""))
    return kept


def load_checkpoint(path: str | Path, modules: Mapping[str, nn.Module],
                    optional_prefixes: Sequence[str] = ()) -> str:
    """Load the top-level entries named by ``modules`` from the checkpoint at ``path`` strictly.

    ``optional_prefixes`` are full dotted prefixes such as ``"generator.ref_coder."``: checkpoint
    entries under them that the module lacks are ignored (documented per family). Returns the file's
    SHA-256. Nothing is modified unless every sub-module fits."""
    checkpoint, sha256 = read_checkpoint(path)
    to_load = {}
    for name, module in modules.items():
        if name not in checkpoint:
            raise CheckpointError(f"checkpoint {path} has no top-level key {name!r} "
                                  f"(it has {sorted(map(str, checkpoint))})")
        state = checkpoint[name]
        if not isinstance(state, Mapping):
            raise CheckpointError(f"checkpoint {path}: top-level key {name!r} holds a {type(state).__name__}, "
                                  "expected a state_dict")
        prefixes = [p[len(name) + 1:] for p in optional_prefixes if p.startswith(name + ".")]
        try:
            to_load[name] = check_state_dict(module, state, name, prefixes)
        except CheckpointError as exc:
            raise CheckpointError(f"checkpoint {path}: {exc}") from None
    for name, module in modules.items():
        module.load_state_dict(to_load[name], strict=not any(p.startswith(name + ".") for p in optional_prefixes))
    return sha256


def _shape(value) -> str:
    if isinstance(value, torch.Tensor):
        return str(list(value.shape))
    return type(value).__name__


def state_dict_layout(module: nn.Module) -> list[tuple[str, list[int], str]]:
    """(key, shape, dtype name) of every state_dict entry in order, e.g. to compare a module with the
    structure of a published checkpoint. Works on modules built on the ``meta`` device."""
    return [(key, list(value.shape), str(value.dtype).replace("torch.", ""))
            for key, value in module.state_dict().items()]


def warm_start(path: str | Path, modules: Mapping[str, nn.Module]) -> dict:
    """Copy into ``modules`` every tensor of the checkpoint at ``path`` whose top-level entry, key and
    shape match; everything else keeps its current (initial) value.

    This is how a training run starts from a related family's model (MRDAC or RDAC+ from a trained
    DAC: same keypoint detector and animation generator, plus networks of their own). It is never
    used to load a model for coding: that is :func:`load_checkpoint`, strict. Returns a summary for
    the training metadata: the file's SHA-256, the numbers of tensors copied and left, and the first
    names left at their initial value."""
    checkpoint, sha256 = read_checkpoint(path)
    copied, left = 0, []
    for name, module in modules.items():
        source = checkpoint.get(name)
        source = source if isinstance(source, Mapping) else {}
        state = module.state_dict()
        update = {}
        for key, value in state.items():
            for candidate in _warm_start_names(key):
                other = source.get(candidate)
                if isinstance(other, torch.Tensor) and tuple(other.shape) == tuple(value.shape):
                    update[key] = other.to(value.dtype)
                    break
            else:
                left.append(f"{name}.{key}")
        if update:
            module.load_state_dict({**state, **update})
        copied += len(update)
    if copied == 0:
        raise CheckpointError(f"checkpoint {path} has no tensor that fits this model (nothing to warm-start from)")
    return {"checkpoint": str(path), "sha256": sha256, "copied": copied, "left": len(left),
            "left_first": left[:MAX_LISTED_PROBLEMS]}


def _warm_start_names(key: str) -> list:
    """``key`` and its spellings in the other families' official layouts: some wrap a layer in a
    module with a ``conv`` member (DAC's ``kp.conv.weight``, ``final.conv.weight``) where others
    hold it directly (MRDAC's ``kp.weight``, ``final.weight``)."""
    parts = key.split(".")
    names = [key]
    if len(parts) >= 3 and parts[-2] == "conv":
        names.append(".".join(parts[:-2] + parts[-1:]))
    if len(parts) >= 2:
        names.append(".".join(parts[:-1] + ["conv", parts[-1]]))
    return names
