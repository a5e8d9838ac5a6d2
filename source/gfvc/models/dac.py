"""DAC: Deep Animation Codec (Konuko et al., ICASSP 2021), as published in the GFVC software.

Equal to source/GFVC/DAC of the public GFVC reference (GeneratorDAC, KPD, DenseMotionGenerator), loaded
by load_dac_checkpoints, which overwrites ``common_params.num_kp`` with its ``num_kp`` argument
(checkpoints exist for 10, 20 and 40 keypoints): :meth:`DacModel.adapt_model_params` does the same with
the ``num_kp`` option of :func:`gfvc.models.registry.load_model`.

Note for RDAC (gfvc.models.rdac): :class:`DacGenerator` is the generator skeleton RDAC extends; its
``animate(reference, kp_reference, kp_target)`` is the reference's inference path.
"""
from __future__ import annotations

from typing import Any, Mapping

import torch
from torch import nn

from .base import KeypointFaceModel
from .blocks import ConvHead, SameBlock2d, WarpingGenerator, make_bottleneck, make_down_blocks, make_up_blocks
from .dense_motion import DenseMotionNetwork
from .keypoints import KeypointDetector
from .registry import register_family

#: model_params entries that only affect training in the reference (keypoint noise, losses, ...)
TRAINING_ONLY_KP_PARAMS = ("quantize",)


def make_dense_motion(num_kp: int, num_channels: int, estimate_occlusion_map: bool,
                      dense_motion_params: Mapping[str, Any] | None,
                      down_resample: str = "stride") -> DenseMotionNetwork | None:
    """The DAC-family DenseMotionGenerator (wrapped heads, heatmap input, bilinear upsampling)."""
    if not dense_motion_params:
        return None
    params = {k: v for k, v in dense_motion_params.items() if k not in ("norm", "qp")}
    return DenseMotionNetwork(num_kp=num_kp, num_channels=num_channels,
                              estimate_occlusion_map=estimate_occlusion_map, wrapped_heads=True,
                              heatmap_input=True, up_mode="bilinear", down_resample=down_resample,
                              **params)


def make_dac_kp_detector(common_params: Mapping[str, Any], kp_detector_params: Mapping[str, Any], *,
                         wrapped_head: bool = True, down_resample: str = "stride") -> KeypointDetector:
    """The DAC-family keypoint detector (KPD; MRDAC_KPD with ``wrapped_head=False``)."""
    kp = {k: v for k, v in kp_detector_params.items() if k not in TRAINING_ONLY_KP_PARAMS}
    jacobian = "covariance" if kp.pop("estimate_jacobian", common_params.get("estimate_jacobian", False)) \
        else None
    return KeypointDetector(num_kp=common_params["num_kp"], num_channels=common_params.get("num_channels", 3),
                            pad=kp.pop("pad", 3), jacobian=jacobian, wrapped_head=wrapped_head,
                            up_mode="bilinear", down_resample=down_resample, **kp)


class DacGenerator(WarpingGenerator):
    """GeneratorDAC (state_dict: dense_motion_network, first, down_blocks, up_blocks, bottleneck.r*,
    final.conv). The bottleneck width is block_expansion * 2^num_down_blocks (not capped by
    max_features, unlike FOMM)."""

    align_corners_resize = True

    def __init__(self, num_channels: int = 3, num_kp: int = 10, block_expansion: int = 64,
                 max_features: int = 1024, num_down_blocks: int = 2, num_bottleneck_blocks: int = 3,
                 estimate_occlusion_map: bool = False, dense_motion_params: Mapping[str, Any] | None = None,
                 **_ignored):
        super().__init__()
        self.dense_motion_network = make_dense_motion(num_kp, num_channels, estimate_occlusion_map,
                                                      dense_motion_params)
        self.first = SameBlock2d(num_channels, block_expansion, kernel_size=(7, 7), padding=(3, 3))
        self.down_blocks = make_down_blocks(block_expansion, max_features, num_down_blocks)
        self.up_blocks = make_up_blocks(block_expansion, max_features, num_down_blocks, up_mode="bilinear")
        self.bottleneck = make_bottleneck(block_expansion * (2 ** num_down_blocks), num_bottleneck_blocks)
        self.final = ConvHead(block_expansion, num_channels, kernel_size=(7, 7), padding=(3, 3))

    def animate(self, reference_frame: torch.Tensor, kp_reference: dict, kp_target: dict) -> torch.Tensor:
        """Inference-time animation of the reference towards the target keypoints."""
        features = self.reference_ft_encoder(reference_frame)
        deformed, _ = self.motion_prediction_and_compensation(reference_frame, features, kp_reference, kp_target)
        return self.animated_frame_decoder(self.bottleneck(deformed))


@register_family("dac")
class DacModel(KeypointFaceModel):
    parameter_keys = ("value",)

    @classmethod
    def adapt_model_params(cls, model_params: Mapping[str, Any], num_kp: int | None = None) -> dict:
        params = dict(model_params)
        if num_kp is not None:
            params["common_params"] = {**params["common_params"], "num_kp": int(num_kp)}
        return params

    @classmethod
    def build_networks(cls, model_params: Mapping[str, Any]) -> dict[str, nn.Module]:
        common = model_params["common_params"]
        generator = DacGenerator(**model_params["generator_params"], **common)
        kp_detector = make_dac_kp_detector(common, model_params["kp_detector_params"])
        return {"generator": generator, "kp_detector": kp_detector}

    def synthesise(self, reference: torch.Tensor, reference_params: Mapping[str, torch.Tensor],
                   target_params: Mapping[str, torch.Tensor], **side_info) -> torch.Tensor:
        if side_info:
            raise TypeError(f"DAC takes no side information, got {sorted(side_info)}")
        self.check_frames(reference, "reference")
        return self.generator.animate(reference, dict(reference_params), dict(target_params))
