"""HDAC: Hybrid Deep Animation Codec (Konuko et al., ICIP 2023), as published in the GFVC software.

Equal to source/GFVC/HDAC (GeneratorHDAC with residual-block fusion, KPD), loaded by
load_hdac_checkpoints. The generator encodes a low-quality base-layer picture (HEVC/VVC at low rate) with
its own encoder (``base``, ``base_down_blocks``), concatenates it with the deformed reference features
and fuses both in a bottleneck twice as wide (``main_bottleneck``, ``bt_output_layer``). Without a
base layer the base-layer features are zeros, as in the reference. Its anti-aliased downscaling
resamples bilinearly (``down_resample="bilinear"``) where DAC decimates.
"""
from __future__ import annotations

from typing import Any, Mapping

import torch
from torch import nn

from .base import KeypointFaceModel
from .blocks import ConvHead, ResBlock2d, SameBlock2d, WarpingGenerator, make_down_blocks, make_up_blocks
from .dac import make_dac_kp_detector, make_dense_motion
from .registry import register_family


class HdacGenerator(WarpingGenerator):
    """GeneratorHDAC (state_dict order: dense_motion_network, first, down_blocks, base, base_down_blocks,
    main_bottleneck.*, bt_output_layer, up_blocks, final.conv)."""

    align_corners_resize = True

    def __init__(self, num_channels: int = 3, num_kp: int = 10, block_expansion: int = 64,
                 max_features: int = 1024, num_down_blocks: int = 2, num_bottleneck_blocks: int = 3,
                 estimate_occlusion_map: bool = False, dense_motion_params: Mapping[str, Any] | None = None,
                 fusion_bottleneck: str = "res_blocks", **_ignored):
        super().__init__()
        if fusion_bottleneck != "res_blocks":
            # The published checkpoint and configuration use residual blocks; the channel-attention
            # variant of the training code has no published weights.
            raise ValueError(f"HDAC fusion_bottleneck {fusion_bottleneck!r} is not supported (only 'res_blocks')")
        self.dense_motion_network = make_dense_motion(num_kp, num_channels, estimate_occlusion_map,
                                                      dense_motion_params, down_resample="bilinear")
        self.first = SameBlock2d(num_channels, block_expansion, kernel_size=(7, 7), padding=(3, 3))
        self.down_blocks = make_down_blocks(block_expansion, max_features, num_down_blocks)
        self.base = SameBlock2d(num_channels, block_expansion, kernel_size=(7, 7), padding=(3, 3))
        self.base_down_blocks = make_down_blocks(block_expansion, max_features, num_down_blocks)
        fused = block_expansion * (2 ** num_down_blocks) * 2
        self.main_bottleneck = nn.ModuleList(ResBlock2d(fused)
                                             for _ in range(num_bottleneck_blocks))
        self.bt_output_layer = SameBlock2d(fused, fused // 2, kernel_size=(3, 3), padding=(1, 1))
        self.up_blocks = make_up_blocks(block_expansion, max_features, num_down_blocks, up_mode="bilinear")
        self.final = ConvHead(block_expansion, num_channels, kernel_size=(7, 7), padding=(3, 3))

    def base_layer_ft_encoder(self, base_layer_frame: torch.Tensor) -> torch.Tensor:
        out = self.base(base_layer_frame)
        for block in self.base_down_blocks:
            out = block(out)
        return out

    def predict(self, reference_frame: torch.Tensor, kp_reference: dict, kp_target: dict,
                base_layer_frame: torch.Tensor | None = None) -> torch.Tensor:
        """Inference-time prediction fusing the animation with the base-layer picture."""
        ref_features = self.reference_ft_encoder(reference_frame)
        if base_layer_frame is not None:
            base_features = self.base_layer_ft_encoder(base_layer_frame)
        else:
            base_features = torch.zeros_like(ref_features)
        deformed, _ = self.motion_prediction_and_compensation(reference_frame, ref_features, kp_reference,
                                                              kp_target)
        return self.fuse_and_decode(deformed, base_features)

    def fuse_and_decode(self, deformed: torch.Tensor, base_features: torch.Tensor) -> torch.Tensor:
        fused = torch.cat([deformed, base_features], dim=1)
        for block in self.main_bottleneck:
            fused = block(fused)
        return self.animated_frame_decoder(self.bt_output_layer(fused))

    def animate_prepared(self, prepared: dict, kp_target: dict,
                         base_layer_frame: torch.Tensor | None = None) -> torch.Tensor:
        """predict() from a prepared reference for B targets; ``base_layer_frame`` (B, 3, H, W) or None."""
        deformed = self.prepared_motion_compensation(prepared, kp_target)
        if base_layer_frame is not None:
            base_features = self.base_layer_ft_encoder(base_layer_frame)
        else:
            base_features = torch.zeros_like(deformed)
        return self.fuse_and_decode(deformed, base_features)


@register_family("hdac")
class HdacModel(KeypointFaceModel):
    parameter_keys = ("value",)

    @classmethod
    def build_networks(cls, model_params: Mapping[str, Any]) -> dict[str, nn.Module]:
        common = model_params["common_params"]
        generator = HdacGenerator(**model_params["generator_params"], **common)
        kp_detector = make_dac_kp_detector(common, model_params["kp_detector_params"], down_resample="bilinear")
        return {"generator": generator, "kp_detector": kp_detector}

    def synthesise(self, reference: torch.Tensor, reference_params: Mapping[str, torch.Tensor],
                   target_params: Mapping[str, torch.Tensor], base_layer: torch.Tensor | None = None,
                   **side_info) -> torch.Tensor:
        """``base_layer``: the decoded base-layer picture (B, 3, H, W) in [0, 1], or None for pure
        animation."""
        if side_info:
            raise TypeError(f"HDAC takes only base_layer as side information, got {sorted(side_info)}")
        self.check_frames(reference, "reference")
        if base_layer is not None:
            self.check_frames(base_layer, "base_layer")
        return self.generator.predict(reference, dict(reference_params), dict(target_params), base_layer)

    side_info_names = ("base_layer",)

    def _synthesise_batch(self, prepared, target_params: dict, base_layer: torch.Tensor | None = None) -> torch.Tensor:
        return self.generator.animate_prepared(prepared.cache, target_params, base_layer)
