"""Project SEI payloads for what GFV cannot carry (doc/sei_payloads.md).

Each is carried in user_data_unregistered (payloadType 5) under its own fixed UUID.
"""
from .entropy_coded_parameters import ENTROPY_CODED_PARAMETERS_UUID, EntropyCodedParameters
from .model_identity import MODEL_IDENTITY_UUID, ModelIdentity, config_digest, sha256_prefix_of_file
from .picture_hash import (PICTURE_HASH_UUID, SAMPLE_FORMAT_RGB444_8BIT, SAMPLE_FORMAT_YUV420_8BIT,
                           PictureHash, picture_md5)
from .prediction_modes import (PREDICTION_MODE_GENERATED, PREDICTION_MODE_NAMES, PREDICTION_MODE_WARPED_REFERENCE,
                               PREDICTION_MODES_UUID, PredictionModes)
from .reference_selection import (REFERENCE_SELECTION_UUID, GeneratedPictureReferences,
                                  ReferenceSelection)
from .residual import (RESIDUAL_MODE_SKIP, RESIDUAL_MODE_SPATIAL, RESIDUAL_MODE_TEMPORAL,
                       RESIDUAL_UUID, Residual, ResidualLatent)

__all__ = [
    "MODEL_IDENTITY_UUID", "ModelIdentity", "config_digest", "sha256_prefix_of_file",
    "PICTURE_HASH_UUID", "SAMPLE_FORMAT_RGB444_8BIT", "SAMPLE_FORMAT_YUV420_8BIT", "PictureHash",
    "picture_md5", "REFERENCE_SELECTION_UUID", "GeneratedPictureReferences", "ReferenceSelection",
    "RESIDUAL_MODE_SKIP", "RESIDUAL_MODE_SPATIAL", "RESIDUAL_MODE_TEMPORAL", "RESIDUAL_UUID",
    "Residual", "ResidualLatent", "ENTROPY_CODED_PARAMETERS_UUID", "EntropyCodedParameters",
    "PREDICTION_MODE_GENERATED", "PREDICTION_MODE_NAMES", "PREDICTION_MODE_WARPED_REFERENCE",
    "PREDICTION_MODES_UUID", "PredictionModes",
]
