"""gfvc.models: the GFVC model zoo (FOMM, CFTE, FV2V, DAC, HDAC, RDAC, MRDAC), equal to the public
reference models and loading their checkpoints unchanged.

Entry points: :func:`load_model` (config + official checkpoint -> FaceModel), :func:`build_model`,
:func:`get_family`, :func:`family_of_codec`; the API of a family is :class:`FaceModel`
(``analyse`` / ``synthesise``; the decoder's ``prepare_reference`` / ``synthesise_prepared``;
:func:`to_uint8` for 8-bit output). See doc/models.md.
"""
from .base import FaceModel, ModelConfigError, PreparedReference
from .checkpoint import CheckpointError, load_checkpoint, read_checkpoint
from .output import UINT8_MODES, to_uint8
from .registry import (CODEC_FAMILIES, available_families, build_model, family_of_codec, get_family,
                       load_model, read_model_params, register_family)

__all__ = ["FaceModel", "ModelConfigError", "PreparedReference", "UINT8_MODES", "to_uint8",
           "CheckpointError", "load_checkpoint", "read_checkpoint",
           "CODEC_FAMILIES", "available_families", "build_model", "family_of_codec", "get_family",
           "load_model", "read_model_params", "register_family"]
