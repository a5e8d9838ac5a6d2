"""What each model family adds to the common training loop (doc/training.md).

A :class:`TrainFamily` says which gfvc model family it trains, how a sample's frames are drawn,
which networks are trainable, and computes the family's forward pass and its own loss terms. The
common terms (pyramid perceptual loss, LSGAN with feature matching) are added by the trainer on the
picture the family returns. Register a new family with ``@register_train_family("name")``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import torch
from torch import nn

from ..errors import GfvcError
from .data import FrameSampler, multi_reference_sampler, pair_sampler, sequence_sampler
from .losses import bits_per_pixel, equivariance_value, info_nce


class TrainConfigError(GfvcError):
    """A training configuration that is missing something or holds an invalid value."""


_TRAIN_FAMILIES: dict[str, type["TrainFamily"]] = {}


def register_train_family(name: str):
    def decorate(cls):
        cls.name = name
        _TRAIN_FAMILIES[name] = cls
        return cls
    return decorate


def get_train_family(name: str) -> type["TrainFamily"]:
    try:
        return _TRAIN_FAMILIES[name]
    except KeyError:
        raise TrainConfigError(f"gfvc-train cannot train family {name!r}; it trains "
                               f"{', '.join(sorted(_TRAIN_FAMILIES))}") from None


def train_families() -> list[str]:
    return sorted(_TRAIN_FAMILIES)


class TrainFamily:
    """Base: DAC-style animation of one reference towards one target."""

    name = ""
    #: the gfvc.models family built and saved
    model_family = ""
    #: top-level prefixes of the trainable parameters (None: all)
    trainable_prefixes: tuple[str, ...] | None = None
    #: whether the common GAN terms may apply (the animation stages)
    uses_gan = True
    #: whether the analysis gives keypoint coordinates (a keypoint-conditioned discriminator)
    has_keypoints = True

    def __init__(self, train_params: Mapping[str, Any], dataset_params: Mapping[str, Any]):
        self.train_params = dict(train_params)
        self.dataset_params = dict(dataset_params)
        self.weights = dict(self.train_params.get("loss_weights", {}))
        self.transform_params = dict(self.train_params.get("transform_params", {}))

    def sampler(self) -> FrameSampler:
        return pair_sampler

    def trainable(self, parameter_name: str) -> bool:
        return self.trainable_prefixes is None or parameter_name.startswith(self.trainable_prefixes)

    def keypoints(self, model, frames: torch.Tensor) -> dict:
        """Keypoints of frames (B, K, 3, H, W) in one detector call -> {"value": (B, K, k, 2)}."""
        b, k = frames.shape[:2]
        kp = model.kp_detector(frames.flatten(0, 1))["value"]
        return {"value": kp.view(b, k, *kp.shape[1:])}

    def equivariance(self, model, frames: torch.Tensor, kp_value: torch.Tensor) -> dict:
        weight = float(self.weights.get("equivariance_value", 0))
        if not weight:
            return {}
        return {"equivariance_value": weight * equivariance_value(model.kp_detector, frames, kp_value,
                                                                  self.transform_params)}

    def prepare_data(self, clips: list, options: Mapping[str, Any]) -> None:
        """Hook: check or load family-specific data (HDAC's base layers) once the clips are known."""

    #: (clip, frame indices, generator) -> extra sample entries, or None
    sample_extras = None

    def forward(self, model, batch: Mapping[str, torch.Tensor]) -> tuple[dict, dict]:
        """-> (weighted loss terms, {"generated", "real", "kp"}) for the common perceptual/GAN terms.
        ``batch``: ``frames`` (B, K, 3, H, W), ``indices`` (B, K) and the family's extras."""
        frames = batch["frames"]
        kp = self.keypoints(model, frames)
        kp_ref, kp_tgt = {"value": kp["value"][:, 0]}, {"value": kp["value"][:, -1]}
        generated = model.generator.animate(frames[:, 0], kp_ref, kp_tgt)
        terms = self.equivariance(model, frames[:, -1], kp_tgt["value"])
        return terms, {"generated": generated, "real": frames[:, -1], "kp": kp_tgt["value"]}

    def aux_loss_used(self) -> bool:
        return False

    def aux_loss(self, model) -> torch.Tensor | None:
        """The auxiliary loss of entropy-model quantiles (residual coders), or None."""
        return None

    def extra_metadata(self) -> dict:
        return {}


@register_train_family("dac")
class DacTraining(TrainFamily):
    model_family = "dac"


@register_train_family("mrdac")
class MrdacTraining(TrainFamily):
    """R references + 1 target; temporal weights as in coding; the paper's contrastive term."""

    model_family = "mrdac"

    def __init__(self, train_params, dataset_params):
        super().__init__(train_params, dataset_params)
        self.num_references = int(self.dataset_params.get("num_references", 2))
        if self.num_references < 1:
            raise TrainConfigError("dataset_params.num_references must be at least 1")
        self.contrastive_weight = float(self.weights.get("contrastive", 0))
        self.temperature = float(self.train_params.get("contrastive_temperature", 0.1))
        if self.contrastive_weight and self.num_references < 2:
            raise TrainConfigError("the contrastive loss needs num_references >= 2 (pairs of references)")
        if self.contrastive_weight and int(self.train_params.get("batch_size", 1)) < 2:
            raise TrainConfigError("the contrastive loss needs batch_size >= 2 (in-batch negatives)")
        if not self.temperature > 0:
            raise TrainConfigError("train_params.contrastive_temperature must be positive")

    def sampler(self) -> FrameSampler:
        return multi_reference_sampler(self.num_references)

    def animate(self, model, frames: torch.Tensor, indices: torch.Tensor) -> dict:
        """Every reference's deformed features (the contrastive term's e_r), and the synthesis."""
        gen = model.generator
        r = frames.shape[1] - 1
        kp = self.keypoints(model, frames)
        kp_tgt = {"value": kp["value"][:, r]}
        deformed = []
        for i in range(r):
            reference = frames[:, i]
            features = gen.reference_ft_encoder(reference)
            d, _ = gen.motion_prediction_and_compensation(reference, features, {"value": kp["value"][:, i]}, kp_tgt)
            deformed.append(d)
        weights = gen.compute_ref_weights(indices) if gen.use_ref_weights else None
        generated = gen.weighted_max_and_decode((gen.aggregation(d) for d in deformed), r, weights)
        return {"deformed": deformed, "generated": generated, "kp_target": kp_tgt["value"]}

    def contrastive(self, deformed: list) -> torch.Tensor:
        """Mean InfoNCE over consecutive reference pairs (e_0, e_1), (e_1, e_2), ..."""
        pairs = [info_nce(a, b, self.temperature) for a, b in zip(deformed[:-1], deformed[1:])]
        return sum(pairs) / len(pairs)

    def forward(self, model, batch):
        frames = batch["frames"]
        out = self.animate(model, frames, batch["indices"])
        terms = self.equivariance(model, frames[:, -1], out["kp_target"])
        if self.contrastive_weight:
            terms["contrastive"] = self.contrastive_weight * self.contrastive(out["deformed"])
        return terms, {"generated": out["generated"], "real": frames[:, -1], "kp": out["kp_target"]}

    def extra_metadata(self) -> dict:
        return {"num_references": self.num_references, "contrastive_weight": self.contrastive_weight,
                "contrastive_temperature": self.temperature}


@register_train_family("hdac")
class HdacTraining(TrainFamily):
    """HDAC with pre-coded base layers: ``--base-layer QP=FOLDER`` (repeatable) names, per QP, a folder
    of decoded base-layer ``.rgb`` files with the clips' names (e.g. made with gfvc-baselayer); each
    sample draws one QP, reads the target's base-layer picture, and its perceptual term is multiplied
    by ``train_params.base_layer_lambdas[QP]`` (the batch mean); ``loss_weights.mse`` adds a mean
    squared error (the public trainer: QP {50, 48, 46, 44}, lambda {1.1, 1.4, 2.0, 2.8}, mse 100)."""

    model_family = "hdac"

    def __init__(self, train_params, dataset_params):
        super().__init__(train_params, dataset_params)
        raw = self.train_params.get("base_layer_lambdas") or {}
        try:
            self.lambdas = {int(qp): float(v) for qp, v in dict(raw).items()}
        except (TypeError, ValueError):
            raise TrainConfigError("train_params.base_layer_lambdas must map QPs to numbers") from None
        if not self.lambdas:
            raise TrainConfigError("train_params.base_layer_lambdas is missing (a lambda per base-layer QP)")
        self.base_layers: dict = {}
        self.qps: list = []

    def prepare_data(self, clips, options):
        from .data import DataError, RgbClip

        folders = dict(options.get("base_layers") or {})
        if not folders:
            raise TrainConfigError("HDAC training needs --base-layer QP=FOLDER (decoded base-layer clips)")
        unknown = sorted(set(folders) - set(self.lambdas))
        if unknown:
            raise TrainConfigError(f"no base_layer_lambdas entry for QP {unknown[0]}")
        self.qps = sorted(folders)
        for qp in self.qps:
            found = {}
            for path in sorted(Path(folders[qp]).glob("*.rgb")):
                clip = RgbClip(path)
                found[clip.name] = clip
            for clip in clips:
                bl = found.get(clip.name)
                if bl is None or bl.num_frames != clip.num_frames:
                    raise DataError(f"{folders[qp]}: no base layer of clip {clip.name} with its "
                                    f"{clip.num_frames} frames")
            self.base_layers[qp] = found
        self.sample_extras = self._extras

    def _extras(self, clip, indices, rng) -> dict:
        qp = self.qps[int(rng.integers(len(self.qps)))]
        return {"base_layer": self.base_layers[qp][clip.name].read([indices[-1]])[0][None],
                "bl_lambda": self.lambdas[qp]}

    def forward(self, model, batch):
        frames = batch["frames"]
        kp = self.keypoints(model, frames)
        kp_ref, kp_tgt = {"value": kp["value"][:, 0]}, {"value": kp["value"][:, -1]}
        generated = model.generator.predict(frames[:, 0], kp_ref, kp_tgt, batch["base_layer"][:, 0])
        terms = self.equivariance(model, frames[:, -1], kp_tgt["value"])
        mse = float(self.weights.get("mse", 0))
        if mse:
            terms["mse"] = mse * ((generated - frames[:, -1]) ** 2).mean()
        return terms, {"generated": generated, "real": frames[:, -1], "kp": kp_tgt["value"],
                       "distortion_scale": batch["bl_lambda"].float().mean()}

    def extra_metadata(self) -> dict:
        return {"base_layer_lambdas": {str(k): v for k, v in self.lambdas.items()}}


@register_train_family("cfte")
class CfteTraining(TrainFamily):
    """CFTE: the generator animates the reference with the compact features of the reference and
    the target, trained by the common perceptual (and optional GAN) terms.

    No equivariance term: CFTE's analysis output is a feature map (B, num_kp, h/16, w/16), not
    keypoint coordinates; the equivariance loss compares coordinates of a warped picture's
    keypoints with the warped keypoints, which has no meaning for a feature map. The sparse motion
    is the Farneback flow of the uint8-normalised features (no gradient); the compact feature
    extractor learns through the dense motion network's input, the up-sampled feature
    difference. The discriminator cannot be conditioned on keypoints (``use_kp: false``)."""

    model_family = "cfte"
    has_keypoints = False

    def forward(self, model, batch):
        frames = batch["frames"]
        features = self.keypoints(model, frames)["value"]
        generated = model.generator(frames[:, 0], {"value": features[:, 0]},
                                    {"value": features[:, -1]})["prediction"]
        return {}, {"generated": generated, "real": frames[:, -1], "kp": None}


RDAC_PLUS_STAGES = ("animation", "residual", "refinement")


@register_train_family("rdac_plus")
class RdacPlusTraining(TrainFamily):
    """The paper's stages (``train_params.stage``): ``animation`` (DAC's objective), ``residual`` (the
    spatial and temporal residual coders alone, 1 reference + ``num_targets`` consecutive targets,
    rate-distortion loss lambda[rate] * D + bpp, auxiliary quantile loss), ``refinement`` (the
    refinement network alone, distortion of the refined picture). Each later stage starts from the
    previous one's checkpoint (``--init``)."""

    model_family = "rdac_plus"

    def __init__(self, train_params, dataset_params):
        super().__init__(train_params, dataset_params)
        self.stage = str(self.train_params.get("stage", "animation"))
        if self.stage not in RDAC_PLUS_STAGES:
            raise TrainConfigError(f"train_params.stage must be one of {', '.join(RDAC_PLUS_STAGES)}, "
                                   f"not {self.stage!r}")
        self.num_targets = int(self.dataset_params.get("num_targets", 3))
        self.rate_lambdas = [float(v) for v in self.train_params.get("rate_lambdas", [1.0])]
        if self.stage != "animation" and self.num_targets < 2:
            raise TrainConfigError("dataset_params.num_targets must be at least 2 (a spatially and a temporally "
                                   "coded target)")
        if self.stage == "residual":
            self.trainable_prefixes = ("generator.sdc.", "generator.tdc.")
            self.uses_gan = False
        elif self.stage == "refinement":
            self.trainable_prefixes = ("generator.refinement.",)
            self.uses_gan = False
        else:
            self.trainable_prefixes = ("generator.", "kp_detector.")
        self.not_animation = ("generator.sdc.", "generator.tdc.", "generator.refinement.")

    def trainable(self, parameter_name: str) -> bool:
        if self.stage == "animation" and parameter_name.startswith(self.not_animation):
            return False
        return parameter_name.startswith(self.trainable_prefixes)

    def sampler(self):
        return pair_sampler if self.stage == "animation" else sequence_sampler(self.num_targets)

    def forward(self, model, batch):
        if self.stage == "animation":
            return super().forward(model, batch)
        frames = batch["frames"]
        levels = model.levels
        if len(self.rate_lambdas) != levels:
            raise TrainConfigError(f"train_params.rate_lambdas has {len(self.rate_lambdas)} values, the model "
                                   f"{levels} rate levels")
        rate_idx = int(torch.randint(levels, ()).item())
        quantization = "noise" if self.stage == "residual" else "round"
        with torch.set_grad_enabled(True):
            out = model(frames[:, 0], [frames[:, t] for t in range(1, frames.shape[1])], rate_idx, quantization)
        n = len(out["decoded"])
        pixels = frames.shape[-1] * frames.shape[-2]
        pictures = out["decoded"] if self.stage == "residual" else out["reconstruction"]
        bpp = sum(bits_per_pixel(lik, pixels) for lik in out["likelihoods"]) / n
        terms = {}
        if self.stage == "residual":
            terms["rate_bpp"] = float(self.weights.get("rate", 1.0)) * bpp
        generated = torch.cat(pictures)
        real = torch.cat([frames[:, t] for t in range(1, frames.shape[1])])
        # the distortion (common perceptual term) is weighted by lambda of this step's rate level
        return terms, {"generated": generated, "real": real, "kp": None,
                       "distortion_scale": self.rate_lambdas[rate_idx] if self.stage == "residual" else 1.0,
                       "bpp": bpp.detach()}

    def aux_loss_used(self) -> bool:
        return self.stage == "residual"

    def aux_loss(self, model) -> torch.Tensor | None:
        if self.stage != "residual":
            return None
        return model.generator.sdc.entropy_bottleneck.loss() + model.generator.tdc.entropy_bottleneck.loss()

    def extra_metadata(self) -> dict:
        return {"stage": self.stage, "num_targets": self.num_targets, "rate_lambdas": self.rate_lambdas}


def is_aux_parameter(name: str) -> bool:
    """The entropy bottlenecks' quantiles: trained by the auxiliary loss only."""
    return name.endswith(".quantiles")


def freeze_for(family: TrainFamily, model: nn.Module) -> list[str]:
    """Set requires_grad per the family's stage; returns the trainable parameter names."""
    names = []
    for name, p in model.named_parameters():
        p.requires_grad_(family.trainable(name) or (is_aux_parameter(name) and family.aux_loss_used()))
        if p.requires_grad:
            names.append(name)
    return names
