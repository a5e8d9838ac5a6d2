"""MRDAC: Multi-Reference Deep Animation Codec (Konuko et al., "Multi-Reference Generative Face Video
Compression with Contrastive Learning", MMSP 2024), equal to models/mrdac of the public
animation-based-codecs reference (MRDAC generator, MRDAC_KPD).

Synthesis from R references: each reference picture is encoded (``reference_ft_encoder``), animated
towards the target keypoints (dense motion, warping, occlusion), refined by two residual blocks
(``aggregation``), scaled by its temporal weight (:meth:`MrdacGenerator.compute_ref_weights`: references
closer in time to the target weigh more), and the R feature maps are aggregated by an element-wise
maximum (permutation invariant) before the bottleneck and the decoder.

Reference image coder (TIC): the reference generator also holds ``ref_coder``, a learned image codec for
the reference pictures. In gfvc the references come from the HEVC/VVC base layer, so it is not built:
a checkpoint's ``generator.ref_coder.*`` entries are read and ignored (every other entry is loaded
strictly, with the same key/shape checks), see ``optional_checkpoint_prefixes``.
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

import torch
from torch import nn

from .base import KeypointFaceModel, PreparedReference, run_in_batches
from .blocks import ResBlock2d, SameBlock2d, WarpingGenerator, make_bottleneck, make_down_blocks, make_up_blocks
from .dac import make_dac_kp_detector, make_dense_motion
from .registry import register_family


class MrdacGenerator(WarpingGenerator):
    """MRDAC generator without its reference image coder (state_dict order: dense_motion_network, first,
    down_blocks, up_blocks, bottleneck.r*/out, aggregation.r_1/r_2, final)."""

    align_corners_resize = True

    def __init__(self, num_channels: int = 3, num_kp: int = 10, block_expansion: int = 64,
                 max_features: int = 1024, num_down_blocks: int = 2, num_bottleneck_blocks: int = 3,
                 estimate_occlusion_map: bool = False, dense_motion_params: Mapping[str, Any] | None = None,
                 use_ref_weights: bool = True, **_ignored):
        super().__init__()
        self.dense_motion_network = make_dense_motion(num_kp, num_channels, estimate_occlusion_map,
                                                      dense_motion_params, down_resample="bilinear")
        self.first = SameBlock2d(num_channels, block_expansion, kernel_size=(7, 7), padding=(3, 3))
        self.down_blocks = make_down_blocks(block_expansion, max_features, num_down_blocks)
        self.up_blocks = make_up_blocks(block_expansion, max_features, num_down_blocks, up_mode="bilinear")
        features = block_expansion * (2 ** num_down_blocks)
        self.bottleneck = make_bottleneck(features, num_bottleneck_blocks)
        self.bottleneck.add_module("out", SameBlock2d(features, features, kernel_size=(3, 3), padding=(1, 1)))
        self.aggregation = nn.Sequential()
        self.aggregation.add_module("r_1", ResBlock2d(features))
        self.aggregation.add_module("r_2", ResBlock2d(features))
        self.final = nn.Conv2d(block_expansion, num_channels, kernel_size=(7, 7), padding=(3, 3))
        self.use_ref_weights = use_ref_weights

    @staticmethod
    def compute_ref_weights(frame_indices: torch.Tensor) -> torch.Tensor:
        """Temporal weights (N, R) from frame indices (N, R+1): R reference indices then the target's.

        With d_r = |t_r - t_target|: w_r = (1 - d_r / max d) + 0.5, normalised by its maximum, so the
        nearest reference gets 1 and the farthest 0.5 / (1.5 - min d / max d). When every reference is
        at the target's index (max d = 0, where the reference divides by zero) all weights are 1."""
        if frame_indices.dim() != 2 or frame_indices.shape[1] < 2:
            raise ValueError(f"frame indices must be (N, R+1) with R >= 1, got {list(frame_indices.shape)}")
        distance = torch.abs(frame_indices[:, :-1] - frame_indices[:, -1:]).to(torch.get_default_dtype())
        largest = distance.max(dim=1, keepdim=True).values
        weights = (1 - distance / largest) + 0.5
        weights = weights / weights.max(dim=1, keepdim=True).values
        return torch.where(largest > 0, weights, torch.ones_like(weights))

    def animate_reference(self, reference_frame: torch.Tensor, reference_features: torch.Tensor,
                          kp_reference: dict, kp_target: dict) -> torch.Tensor:
        """One reference's deformed, occlusion-masked and refined features."""
        deformed, _ = self.motion_prediction_and_compensation(reference_frame, reference_features, kp_reference,
                                                              kp_target)
        return self.aggregation(deformed)

    def generate_animation(self, params: Mapping[str, Any]) -> torch.Tensor:
        """The reference's inference entry point. ``params``: ``reference_info`` {frame index: (picture,
        features, keypoints)} in reference order, ``kp_target``, optional ``ref_indices`` (N, R+1)."""
        weights = None
        if params.get("ref_indices") is not None:
            weights = self.compute_ref_weights(params["ref_indices"])
        refs = list(params["reference_info"].values())
        return self.aggregate_and_decode(refs, params["kp_target"], weights)

    def aggregate_and_decode(self, references: Sequence[tuple], kp_target: dict,
                             weights: torch.Tensor | None) -> torch.Tensor:
        """references: sequence of (picture, features, keypoints); weights: (N, R) or None."""
        animated = (self.animate_reference(frame, features, kp_ref, kp_target)
                    for frame, features, kp_ref in references)
        return self.weighted_max_and_decode(animated, len(references), weights)

    def aggregate_prepared(self, prepared: Sequence[dict], kp_target: dict,
                           weights: torch.Tensor | None) -> torch.Tensor:
        """aggregate_and_decode() from prepared references (``prepare_animation`` outputs)."""
        animated = (self.aggregation(self.prepared_motion_compensation(p, kp_target)) for p in prepared)
        return self.weighted_max_and_decode(animated, len(prepared), weights)

    def weighted_max_and_decode(self, animated: Iterable[torch.Tensor], count: int,
                                weights: torch.Tensor | None) -> torch.Tensor:
        """Scale each reference's animated features by its weight, take the element-wise maximum, decode."""
        if weights is not None and weights.shape[1] != count:
            raise ValueError(f"{count} references but {weights.shape[1]} temporal weights")
        aggregated = None
        for i, fts in enumerate(animated):
            if weights is not None:
                fts = fts * weights[:, i].to(fts.dtype).view(-1, 1, 1, 1)
            aggregated = fts if aggregated is None else torch.max(aggregated, fts)
        if aggregated is None:
            raise ValueError("MRDAC needs at least one reference")
        return self.animated_frame_decoder(self.bottleneck(aggregated))


@register_family("mrdac")
class MrdacModel(KeypointFaceModel):
    parameter_keys = ("value",)
    optional_checkpoint_prefixes = ("generator.ref_coder.",)

    @classmethod
    def build_networks(cls, model_params: Mapping[str, Any]) -> dict[str, nn.Module]:
        common = model_params["common_params"]
        generator = MrdacGenerator(**model_params["generator_params"], **common)
        kp_detector = make_dac_kp_detector(common, model_params["kp_detector_params"], wrapped_head=False,
                                           down_resample="bilinear")
        return {"generator": generator, "kp_detector": kp_detector}

    def reference_features(self, reference: torch.Tensor) -> torch.Tensor:
        """Encoder features of a reference picture; cache them in the reference buffer."""
        return self.generator.reference_ft_encoder(self.check_frames(reference, "reference"))

    def synthesise(self, reference, reference_params, target_params: Mapping[str, torch.Tensor], *,
                   ref_indices: torch.Tensor | None = None, ref_weights: torch.Tensor | None = None,
                   reference_features: Sequence[torch.Tensor] | None = None, **side_info) -> torch.Tensor:
        """Animate from one or several references.

        reference: a picture (B, 3, H, W) or a list of R pictures; reference_params: the matching
        keypoint dict(s); ref_indices (B, R+1): the references' frame indices followed by the target's,
        from which the temporal weights are computed; or ref_weights (B, R) directly. Without either, the
        references are aggregated unweighted (the model was trained with weights: pass them).
        reference_features: optional cached encoder features of the references."""
        if side_info:
            raise TypeError(f"MRDAC got unknown side information {sorted(side_info)}")
        refs = list(reference) if isinstance(reference, (list, tuple)) else [reference]
        params = list(reference_params) if isinstance(reference_params, (list, tuple)) else [reference_params]
        if len(refs) != len(params):
            raise ValueError(f"{len(refs)} references but {len(params)} reference parameter sets")
        if ref_indices is not None and ref_weights is not None:
            raise ValueError("give ref_indices or ref_weights, not both")
        if reference_features is None:
            reference_features = [self.reference_features(r) for r in refs]
        elif len(reference_features) != len(refs):
            raise ValueError(f"{len(refs)} references but {len(reference_features)} feature maps")
        weights = ref_weights
        if ref_indices is not None:
            weights = self.generator.compute_ref_weights(torch.as_tensor(ref_indices).to(refs[0].device))
        triples = [(self.check_frames(r, "reference"), f, dict(p)) for r, f, p in zip(refs, reference_features, params)]
        return self.generator.aggregate_and_decode(triples, dict(target_params), weights)

    # ------------------------------------------------------------------ prepared references (decoder)
    def synthesise_prepared(self, prepared: PreparedReference, target_params: Mapping[str, torch.Tensor], *,
                            synthesis_batch: int | None = None, ref_weights: torch.Tensor | None = None,
                            **side_info) -> torch.Tensor:
        """One prepared reference: :meth:`synthesise_multi` with R = 1."""
        if side_info:
            raise TypeError(f"MRDAC got unknown side information {sorted(side_info)}")
        return self.synthesise_multi([prepared], target_params, ref_weights, synthesis_batch=synthesis_batch)

    def synthesise_multi(self, prepared_list: Sequence[PreparedReference], target_params: Mapping[str, torch.Tensor],
                         ref_weights: torch.Tensor | None = None, *,
                         synthesis_batch: int | None = None) -> torch.Tensor:
        """B pictures from R prepared references (the reference buffer) with temporal weights
        ``ref_weights`` (B, R) (see :meth:`MrdacGenerator.compute_ref_weights`; None: unweighted)."""
        prepared_list = list(prepared_list)
        if not prepared_list:
            raise ValueError("MRDAC needs at least one reference")
        for prepared in prepared_list:
            self.check_prepared(prepared)
        side = {}
        if ref_weights is not None:
            if ref_weights.dim() != 2 or ref_weights.shape[1] != len(prepared_list):
                raise ValueError(f"ref_weights must be (B, {len(prepared_list)}), got {list(ref_weights.shape)}")
            side["ref_weights"] = ref_weights
        caches = [p.cache for p in prepared_list]
        with torch.no_grad():
            return run_in_batches(
                lambda params, ref_weights=None: self.generator.aggregate_prepared(caches, params, ref_weights),
                target_params, side, synthesis_batch)
