"""The family API that the codec uses: :class:`FaceModel`.

Note for the other model-zoo modules (cfte, fv2v, rdac): subclass FaceModel, decorate it with
``@register_family("<name>")`` (gfvc.models.registry), and implement

* ``build_networks(cls, model_params) -> dict[name, nn.Module]`` (classmethod): construct the sub-modules
  from the ``model_params`` section of the reference YAML, keyed by the checkpoint's top-level key
  (``generator``, ``kp_detector``[, ``he_estimator``]), in the reference loader's order;
* ``analyse(frames) -> dict[str, Tensor]``: frames (B, 3, H, W) in [0, 1] -> face parameters
  (keypoints ``value``, ``jacobian``, head pose / expression, compact feature, ...);
* ``synthesise(reference, reference_params, target_params, **side_info) -> Tensor`` (B, 3, H, W).

Families may add keyword side information (HDAC ``base_layer=``, RDAC residuals) or, for MRDAC, accept a
list of references with their parameters and temporal weights, but keep this call shape.
``load_checkpoint(path)`` loads the official file strictly and records ``checkpoint_sha256``;
``optional_checkpoint_prefixes`` lists state entries a family deliberately does not build.
"""
from __future__ import annotations

from ..errors import GfvcError
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import nn

from .checkpoint import load_checkpoint


class ModelConfigError(GfvcError):
    """The model_params of a configuration are missing something or hold an invalid value."""


class FaceModel(nn.Module):
    """A GFVC model family: its networks (sub-modules named like the checkpoint's top-level keys),
    its analysis step and its synthesis step. Always used in eval mode and without gradients."""

    family: str = ""
    #: dotted state keys (``"<top-level key>.<prefix>"``) that may be in a checkpoint but are not built
    optional_checkpoint_prefixes: tuple[str, ...] = ()

    def __init__(self, networks: Mapping[str, nn.Module], model_params: Mapping[str, Any] | None = None):
        super().__init__()
        self.network_names = tuple(networks)
        for name, module in networks.items():
            self.add_module(name, module)
        self.model_params = dict(model_params or {})
        self.checkpoint_sha256: str | None = None
        self.checkpoint_path: str | None = None
        self.eval()

    # ------------------------------------------------------------------ construction
    @classmethod
    def build_networks(cls, model_params: Mapping[str, Any]) -> dict[str, nn.Module]:
        raise NotImplementedError

    @classmethod
    def from_model_params(cls, model_params: Mapping[str, Any], **options) -> "FaceModel":
        params = cls.adapt_model_params(model_params, **options)
        try:
            networks = cls.build_networks(params)
        except KeyError as exc:
            raise ModelConfigError(f"{cls.family}: model_params lacks {exc.args[0]!r}") from None
        except TypeError as exc:
            raise ModelConfigError(f"{cls.family}: invalid model_params ({exc})") from None
        return cls(networks, params)

    @classmethod
    def adapt_model_params(cls, model_params: Mapping[str, Any], **options) -> dict:
        """Hook for loader-specific overrides (DAC's num_kp). Default: no options accepted."""
        if options:
            raise ModelConfigError(f"{cls.family}: unknown option(s) {sorted(options)}")
        return dict(model_params)

    def load_checkpoint(self, path: str | Path) -> str:
        """Strictly load the official checkpoint file; returns and records its SHA-256."""
        modules = {name: getattr(self, name) for name in self.network_names}
        sha256 = load_checkpoint(path, modules, optional_prefixes=self.optional_checkpoint_prefixes)
        self.after_checkpoint_load()
        self.checkpoint_sha256 = sha256
        self.checkpoint_path = str(path)
        self.eval()
        return sha256

    def after_checkpoint_load(self) -> None:
        """Hook run after the weights are in (e.g. rebuilding entropy-model tables)."""

    @property
    def device(self) -> torch.device:
        for p in self.parameters():
            return p.device
        return torch.device("cpu")

    # ------------------------------------------------------------------ the API used by the codec
    def analyse(self, frames: torch.Tensor) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def synthesise(self, reference: torch.Tensor, reference_params: Mapping[str, torch.Tensor],
                   target_params: Mapping[str, torch.Tensor], **side_info) -> torch.Tensor:
        raise NotImplementedError

    @staticmethod
    def check_frames(frames: torch.Tensor, what: str = "frames") -> torch.Tensor:
        if not isinstance(frames, torch.Tensor) or frames.dim() != 4 or frames.shape[1] != 3:
            shape = list(frames.shape) if isinstance(frames, torch.Tensor) else type(frames).__name__
            raise ValueError(f"{what} must be a (B, 3, H, W) tensor, got {shape}")
        return frames


class KeypointFaceModel(FaceModel):
    """Shared API of the keypoint families: analysis = keypoint detector; synthesis = generator."""

    #: entries of the detector output that are face parameters (the heatmaps are not)
    parameter_keys: tuple[str, ...] = ("value",)

    def analyse(self, frames: torch.Tensor) -> dict[str, torch.Tensor]:
        kp = self.kp_detector(self.check_frames(frames))
        return {k: kp[k] for k in self.parameter_keys if k in kp}
