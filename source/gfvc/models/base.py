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

Decoder path (computes the reference picture's target-independent part once per key picture):

* ``prepare_reference(reference (1, 3, H, W), reference_params) -> PreparedReference``;
* ``synthesise_prepared(prepared, target_params (leading dim B), *, synthesis_batch=None, **side_info)``
  -> (B, 3, H, W), equal per target to ``synthesise`` to float tolerance. Families implement
  ``_prepare(reference, reference_params) -> dict`` and ``_synthesise_batch(prepared, target_params,
  **side_info)``; this class does the checks, the no-grad context and the batching (see
  :func:`run_in_batches` and doc/models.md "Prepared references and batched synthesis").
``load_checkpoint(path)`` loads the official file strictly and records ``checkpoint_sha256``;
``optional_checkpoint_prefixes`` lists state entries a family deliberately does not build.
"""
from __future__ import annotations

import contextlib

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import torch
from torch import nn

from ..errors import GfvcError
from .checkpoint import load_checkpoint


class ModelConfigError(GfvcError):
    """The model_params of a configuration are missing something or hold an invalid value."""


@dataclass(frozen=True, eq=False)
class PreparedReference:
    """What a family computes once per reference picture: the picture (1, 3, H, W), its face
    parameters and the family's cached tensors (``cache``: encoder features, reference keypoints,
    down-scaled picture, ...). Made by :meth:`FaceModel.prepare_reference`; only the model that made
    it (same object) may use it."""

    family: str
    picture: torch.Tensor
    params: Mapping[str, torch.Tensor]
    cache: Mapping[str, Any] = field(repr=False)
    owner: int = field(repr=False, default=0)


def batch_size_of(tensors: Mapping[str, Any], what: str) -> int:
    """The common leading dimension of the tensors in ``tensors`` (None values ignored)."""
    sizes = {k: v.shape[0] for k, v in tensors.items() if isinstance(v, torch.Tensor) and v.dim() > 0}
    if not sizes:
        raise ValueError(f"{what} holds no batched tensor")
    if len(set(sizes.values())) != 1:
        raise ValueError(f"{what} tensors disagree on the batch size: {sizes}")
    return next(iter(sizes.values()))


def _take(tensors: Mapping[str, Any], index: torch.Tensor) -> dict:
    return {k: (v.index_select(0, index.to(v.device)) if isinstance(v, torch.Tensor) and v.dim() > 0 else v)
            for k, v in tensors.items()}


def nearest_reference(ref_weights: torch.Tensor | None, batch: int) -> torch.Tensor:
    """(B,) index of each target's nearest reference, the one the warped-reference prediction warps:
    the largest of its ``ref_weights`` (B, R), the first of equal ones (torch.argmax's rule); None:
    the first reference."""
    if ref_weights is None:
        return torch.zeros(batch, dtype=torch.long)
    return ref_weights.argmax(dim=1)


def check_synthesis_batch(synthesis_batch: int | None) -> int | None:
    if synthesis_batch is not None and (isinstance(synthesis_batch, bool) or not isinstance(synthesis_batch, int)
                                        or synthesis_batch < 1):
        raise ValueError(f"synthesis_batch must be a positive integer or None, not {synthesis_batch!r}")
    return synthesis_batch


@contextlib.contextmanager
def synthesis_threads(threads: int | None):
    """Run the block with ``threads`` intra-op threads (None: unchanged), restoring the setting."""
    if threads is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def run_in_batches(step: Callable[..., torch.Tensor], target_params: Mapping[str, torch.Tensor],
                   side_info: Mapping[str, Any], synthesis_batch: int | None) -> torch.Tensor:
    """Run ``step(target_params_chunk, **side_info_chunk)`` over the B targets.

    ``synthesis_batch=None``: one call with all B targets. An integer N: calls of exactly N targets,
    the last one padded by repeating its last target (the padding outputs are dropped), so every
    target is computed in a batch of N whatever B is: the deterministic mode the encoder and the
    decoder share (CPU kernels may round differently for different batch sizes, doc/models.md)."""
    merged = {**dict(target_params), **{f"side:{k}": v for k, v in side_info.items()}}
    b = batch_size_of(target_params, "target_params")
    for name, value in side_info.items():
        if isinstance(value, torch.Tensor) and value.shape[0] != b:
            raise ValueError(f"{name} has batch {value.shape[0]}, the target parameters {b}")
    if check_synthesis_batch(synthesis_batch) is None:
        return step(dict(target_params), **side_info)
    outputs = []
    for start in range(0, b, synthesis_batch):
        index = torch.arange(start, start + synthesis_batch).clamp(max=b - 1)
        chunk = _take(merged, index)
        params = {k: v for k, v in chunk.items() if not k.startswith("side:")}
        side = {k[5:]: v for k, v in chunk.items() if k.startswith("side:")}
        outputs.append(step(params, **side)[: min(synthesis_batch, b - start)])
    return torch.cat(outputs, dim=0)


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

    # ------------------------------------------------------------------ the decoder's prepared path
    def prepare_reference(self, reference: torch.Tensor,
                          reference_params: Mapping[str, torch.Tensor]) -> PreparedReference:
        """Compute once everything about ``reference`` (1, 3, H, W) that does not depend on a target."""
        self.check_frames(reference, "reference")
        if reference.shape[0] != 1:
            raise ValueError(f"prepare_reference takes one reference picture, got a batch of {reference.shape[0]}")
        params = dict(reference_params)
        with torch.no_grad(), synthesis_threads(self.synthesis_threads):
            cache = self._prepare(reference.contiguous(memory_format=torch.channels_last) if self.channels_last
                                  else reference, params)
        return PreparedReference(family=self.family, picture=reference, params=params, cache=cache, owner=id(self))

    def synthesise_prepared(self, prepared: PreparedReference, target_params: Mapping[str, torch.Tensor], *,
                            synthesis_batch: int | None = None, **side_info) -> torch.Tensor:
        """B generated pictures (B, 3, H, W) from one prepared reference and B targets' parameters.
        ``side_info`` tensors (HDAC ``base_layer``, RDAC ``residual``) have the leading dimension B.
        ``synthesis_batch``: see :func:`run_in_batches` (None: all B at once)."""
        self.check_prepared(prepared)
        self.check_side_info(side_info, prepared.picture.shape[2:])
        check_synthesis_batch(synthesis_batch)
        with torch.no_grad(), synthesis_threads(self.synthesis_threads):
            return run_in_batches(lambda params, **side: self._synthesise_batch(prepared, params, **side),
                                  target_params, side_info, self.forced_synthesis_batch or synthesis_batch)

    # ------------------------------------------------------------------ the warped-reference prediction
    #: whether :meth:`warp_references` exists: the picture a codec may output instead of the
    #: generated one (gfvc_prediction_modes, doc/sei_payloads.md section 6)
    has_warped_reference: bool = False

    def warp_references(self, prepared_list: Sequence[PreparedReference], target_params: Mapping[str, torch.Tensor],
                        ref_weights: torch.Tensor | None = None) -> torch.Tensor:
        """B pictures: the reference picture sampled along the model's dense motion field towards
        the targets; with several references, each target's nearest one: the one with the largest
        of its ``ref_weights`` (B, R), the first of equals (None: the first reference). A warp of one
        picture stays sharp where an average of several warps would blur wherever they disagree.
        Differentiable in ``target_params`` (the encoder's parameter search)."""
        raise NotImplementedError(f"{self.family.upper()} has no dense motion field to warp a reference with")

    def warp_references_prepared(self, prepared_list: Sequence[PreparedReference],
                                 target_params: Mapping[str, torch.Tensor], ref_weights: torch.Tensor | None = None,
                                 *, synthesis_batch: int | None = None) -> torch.Tensor:
        """:meth:`warp_references` without gradients, in the encoder's and decoder's batches
        (:func:`run_in_batches`)."""
        prepared_list = list(prepared_list)
        if not prepared_list:
            raise ValueError("warping needs at least one reference")
        for prepared in prepared_list:
            self.check_prepared(prepared)
        check_synthesis_batch(synthesis_batch)
        side = {} if ref_weights is None else {"ref_weights": ref_weights}
        with torch.no_grad(), synthesis_threads(self.synthesis_threads):
            return run_in_batches(lambda params, ref_weights=None: self.warp_references(prepared_list, params,
                                                                                         ref_weights),
                                  target_params, side, self.forced_synthesis_batch or synthesis_batch)

    def set_channels_last(self, enabled: bool = True) -> "FaceModel":
        """Store the 4-D weights and buffers channels-last (NHWC) and feed prepared references that
        way, or back to the default layout. Faster convolutions on CPU (doc/benchmarks.md "Decoder
        synthesis speed"), deterministic, but the pictures' bits differ from the default layout's
        (within 1e-5): an encoder and its decoder must make the same choice. Affects every call of
        the model (analysis included)."""
        layout = torch.channels_last if enabled else torch.contiguous_format
        with torch.no_grad():
            for tensor in list(self.parameters()) + list(self.buffers()):
                if tensor.dim() == 4:
                    tensor.data = tensor.data.contiguous(memory_format=layout)
        self.channels_last = bool(enabled)
        return self

    #: set by :meth:`set_channels_last`
    channels_last: bool = False
    #: a family whose targets must be synthesised one at a time sets this to 1 (CFTE)
    forced_synthesis_batch: int | None = None
    #: a family whose CPU kernels round differently with the number of threads synthesises with
    #: this many (FV2V's 3-D layers: 1 and 2 threads differ by one float ulp, measured), so that
    #: an encoder and a decoder with other thread settings still agree bit for bit
    synthesis_threads: int | None = None
    #: names of the side information ``synthesise_prepared`` accepts
    side_info_names: tuple[str, ...] = ()

    def check_prepared(self, prepared: PreparedReference) -> None:
        if not isinstance(prepared, PreparedReference):
            raise TypeError(f"expected a PreparedReference, got {type(prepared).__name__}")
        if prepared.family != self.family or prepared.owner != id(self):
            raise ValueError(f"this prepared reference was made by another model ({prepared.family}), "
                             f"not by this {self.family} model")

    def check_side_info(self, side_info: Mapping[str, Any], picture_size: Sequence[int]) -> None:
        """Known names only; each given value a (B, 3, H, W) picture of the reference's size."""
        unknown = sorted(set(side_info) - set(self.side_info_names))
        if unknown:
            allowed = ", ".join(self.side_info_names) or "none"
            raise TypeError(f"{self.family.upper()} side information is {allowed}; got {unknown}")
        for name, value in side_info.items():
            if value is not None and tuple(self.check_frames(value, name).shape[2:]) != tuple(picture_size):
                raise ValueError(f"{name} is {value.shape[3]}x{value.shape[2]}, the reference picture "
                                 f"{picture_size[1]}x{picture_size[0]}")

    def _prepare(self, reference: torch.Tensor, reference_params: dict) -> dict:
        raise NotImplementedError

    def _synthesise_batch(self, prepared: PreparedReference, target_params: dict, **side_info) -> torch.Tensor:
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

    has_warped_reference = True

    def warp_references(self, prepared_list: Sequence[PreparedReference], target_params: Mapping[str, torch.Tensor],
                        ref_weights: torch.Tensor | None = None) -> torch.Tensor:
        kp_target = dict(target_params)
        prepared_list = list(prepared_list)
        if len(prepared_list) == 1 or ref_weights is None:
            return self.generator.warp_prepared(prepared_list[0].cache, prepared_list[0].picture, kp_target)
        b = kp_target["value"].shape[0]
        if ref_weights.shape != (b, len(prepared_list)):
            raise ValueError(f"ref_weights must be ({b}, {len(prepared_list)}), got {list(ref_weights.shape)}")
        nearest = nearest_reference(ref_weights, b)
        out = None
        for i, p in enumerate(prepared_list):
            pick = nearest == i
            if not bool(pick.any()):
                continue
            warped = self.generator.warp_prepared(p.cache, p.picture, {k: v[pick] for k, v in kp_target.items()})
            if out is None:
                out = warped.new_zeros((b,) + tuple(warped.shape[1:]))
            out = out.index_put((pick.nonzero(as_tuple=True)[0],), warped)
        return out

    def _prepare(self, reference: torch.Tensor, reference_params: dict) -> dict:
        """Encoder features and the dense-motion network's reference part (WarpingGenerator)."""
        return self.generator.prepare_animation(reference, reference_params)

    def _synthesise_batch(self, prepared: PreparedReference, target_params: dict, **side_info) -> torch.Tensor:
        return self.generator.animate_prepared(prepared.cache, target_params)
