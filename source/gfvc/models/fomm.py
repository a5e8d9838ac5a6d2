"""FOMM as published in the GFVC software (First Order Motion Model, Siarohin et al., NeurIPS 2019).

Equal to the public GFVC reference (source/GFVC/FOMM): OcclusionAwareGenerator + KPDetector, loaded by
load_fomm_checkpoints. Two properties of that reference, reproduced on purpose:
* the dense-motion hourglass is fed zeros in place of the keypoint heatmaps, and the sparse motions are
  pure translations: the keypoint jacobians are computed (and transmitted by the codec) but the
  generator does not use them;
* upsampling is nearest-neighbour and the deformation/occlusion resizes use ``align_corners=False``.
"""
from __future__ import annotations

from typing import Any, Mapping

import torch
from torch import nn

from .base import KeypointFaceModel
from .blocks import SameBlock2d, WarpingGenerator, make_bottleneck, make_down_blocks, make_up_blocks
from .dense_motion import DenseMotionNetwork
from .keypoints import KeypointDetector
from .registry import register_family


class FommGenerator(WarpingGenerator):
    """OcclusionAwareGenerator (state_dict: dense_motion_network, first, down_blocks, up_blocks,
    bottleneck.r*, final)."""

    align_corners_resize = False

    def __init__(self, num_channels: int, num_kp: int, block_expansion: int, max_features: int,
                 num_down_blocks: int, num_bottleneck_blocks: int, estimate_occlusion_map: bool = False,
                 dense_motion_params: Mapping[str, Any] | None = None, estimate_jacobian: bool = False):
        super().__init__()
        if dense_motion_params is not None:
            self.dense_motion_network = DenseMotionNetwork(
                num_kp=num_kp, num_channels=num_channels, estimate_occlusion_map=estimate_occlusion_map,
                wrapped_heads=False, heatmap_input=False, up_mode="nearest", **dense_motion_params)
        else:
            self.dense_motion_network = None
        self.first = SameBlock2d(num_channels, block_expansion, kernel_size=(7, 7), padding=(3, 3))
        self.down_blocks = make_down_blocks(block_expansion, max_features, num_down_blocks)
        self.up_blocks = make_up_blocks(block_expansion, max_features, num_down_blocks, up_mode="nearest")
        self.bottleneck = make_bottleneck(min(max_features, block_expansion * (2 ** num_down_blocks)),
                                          num_bottleneck_blocks)
        self.final = nn.Conv2d(block_expansion, num_channels, kernel_size=(7, 7), padding=(3, 3))

    def forward(self, source_image: torch.Tensor, kp_driving: dict, kp_source: dict) -> dict:
        """The reference forward: returns mask, sparse_deformed, occlusion_map, deformation, deformed
        (the source warped at full resolution) and prediction."""
        features = self.reference_ft_encoder(source_image)
        out: dict[str, torch.Tensor] = {}
        if self.dense_motion_network is not None:
            features, dense_motion = self.motion_prediction_and_compensation(source_image, features,
                                                                             kp_source, kp_driving)
            out["mask"] = dense_motion["mask"]
            out["sparse_deformed"] = dense_motion["sparse_deformed"]
            if "occlusion_map" in dense_motion:
                out["occlusion_map"] = dense_motion["occlusion_map"]
            out["deformation"] = dense_motion["deformation"]
            out["deformed"] = self.deform_input(source_image, dense_motion["deformation"])
        out["prediction"] = self.animated_frame_decoder(self.bottleneck(features))
        return out


@register_family("fomm")
class FommModel(KeypointFaceModel):
    parameter_keys = ("value", "jacobian")

    @classmethod
    def build_networks(cls, model_params: Mapping[str, Any]) -> dict[str, nn.Module]:
        common = model_params["common_params"]
        generator = FommGenerator(**model_params["generator_params"], **common)
        kp = dict(model_params["kp_detector_params"])
        kp_detector = KeypointDetector(
            num_kp=common["num_kp"], num_channels=common["num_channels"],
            jacobian="conv" if common.get("estimate_jacobian", False) else None,
            pad=kp.pop("pad", 0), wrapped_head=False, up_mode="nearest", **kp)
        return {"generator": generator, "kp_detector": kp_detector}

    def synthesise(self, reference: torch.Tensor, reference_params: Mapping[str, torch.Tensor],
                   target_params: Mapping[str, torch.Tensor], **side_info) -> torch.Tensor:
        if side_info:
            raise TypeError(f"FOMM takes no side information, got {sorted(side_info)}")
        self.check_frames(reference, "reference")
        return self.generator(reference, kp_driving=dict(target_params),
                              kp_source=dict(reference_params))["prediction"]
