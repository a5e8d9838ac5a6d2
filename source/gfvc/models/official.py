"""Hyper-parameters (``model_params``) of the published GFVC configurations, with the reference names.

These are the architectures the official checkpoints were trained with (the GFVC software's
<MODEL>-256.yaml files; MRDAC: animation-based-codecs test_config/mrdac.yaml; HDAC: the sibling GFVC
software's HDAC-256.yaml). Only the sections read to build the inference networks are kept (no
discriminator, dataset or training parameters). A user who has the original YAML can pass it instead;
both give the same networks.
"""
from __future__ import annotations

import copy

_DAC_LIKE_KP = {"temperature": 0.1, "block_expansion": 32, "max_features": 1024, "scale_factor": 0.25,
                "num_blocks": 5, "quantize": False}
_DAC_LIKE_GENERATOR = {
    "block_expansion": 64, "max_features": 512, "num_down_blocks": 2, "num_bottleneck_blocks": 6,
    "estimate_occlusion_map": True,
    "dense_motion_params": {"block_expansion": 64, "max_features": 1024, "num_blocks": 5, "scale_factor": 0.25},
}

_OFFICIAL = {
    "fomm": {
        "common_params": {"num_kp": 10, "num_channels": 3, "estimate_jacobian": True},
        "kp_detector_params": {"temperature": 0.1, "block_expansion": 32, "max_features": 1024,
                               "scale_factor": 0.25, "num_blocks": 5},
        "generator_params": {k: v for k, v in _DAC_LIKE_GENERATOR.items()},
    },
    "cfte": {
        "common_params": {"num_kp": 1, "num_channels": 3, "estimate_jacobian": False},
        "kp_detector_params": {"temperature": 0.1, "block_expansion": 32, "max_features": 1024,
                               "scale_factor": 0.25, "num_blocks": 5},
        "generator_params": {
            "block_expansion": 64, "max_features": 512, "num_down_blocks": 2, "num_bottleneck_blocks": 6,
            "estimate_occlusion_map": True,
            "dense_motion_params": {"block_expansion": 64, "max_features": 512, "num_down_blocks": 4,
                                    "num_bottleneck_blocks": 4, "num_blocks": 4, "scale_factor": 0.25},
        },
    },
    "fv2v": {
        "common_params": {"num_kp": 15, "image_channel": 3, "feature_channel": 32, "estimate_jacobian": False},
        "kp_detector_params": {"temperature": 0.1, "block_expansion": 32, "max_features": 1024, "scale_factor": 1,
                               "num_blocks": 5, "reshape_channel": 16384, "reshape_depth": 16},
        "he_estimator_params": {"block_expansion": 64, "max_features": 2048, "num_bins": 66},
        "generator_params": {
            "block_expansion": 64, "max_features": 512, "num_down_blocks": 2, "reshape_channel": 32,
            "reshape_depth": 16, "num_resblocks": 6, "estimate_occlusion_map": True,
            "dense_motion_params": {"block_expansion": 32, "max_features": 1024, "num_blocks": 5,
                                    "reshape_depth": 16, "compress": 4},
        },
    },
    "dac": {
        "common_params": {"num_kp": 10, "num_channels": 3, "estimate_jacobian": False},
        "kp_detector_params": dict(_DAC_LIKE_KP),
        "generator_params": dict(_DAC_LIKE_GENERATOR),
    },
    "hdac": {
        "common_params": {"num_kp": 10, "num_channels": 3, "estimate_jacobian": False},
        "kp_detector_params": dict(_DAC_LIKE_KP),
        "generator_params": dict(_DAC_LIKE_GENERATOR),
    },
    "rdac": {
        "common_params": {"num_kp": 10, "num_channels": 3, "estimate_jacobian": False},
        "kp_detector_params": dict(_DAC_LIKE_KP),
        "generator_params": {
            **_DAC_LIKE_GENERATOR, "scale_factor": 1,
            "residual_coder_params": {"residual_features": 48, "variable_bitrate": True, "levels": 7,
                                      "scale_factor": 1, "num_intermediate_layers": 3},
        },
    },
    "mrdac": {
        "common_params": {"num_kp": 10, "num_channels": 3},
        "kp_detector_params": dict(_DAC_LIKE_KP),
        "generator_params": {
            **_DAC_LIKE_GENERATOR, "use_ref_weights": True, "use_contrastive_loss": True, "ref_coder": True,
            "iframe_params": {"variable_bitrate": True, "levels": 7, "scale_factor": 1,
                              "input_resolution": [256, 256]},
        },
    },
}


def official_model_params(family: str) -> dict:
    """A fresh copy of the published model_params of ``family`` (fomm, cfte, fv2v, dac, hdac, rdac, mrdac)."""
    try:
        return copy.deepcopy(_OFFICIAL[family])
    except KeyError:
        raise KeyError(f"no published configuration for model family {family!r}") from None


OFFICIAL_FAMILIES = tuple(_OFFICIAL)
