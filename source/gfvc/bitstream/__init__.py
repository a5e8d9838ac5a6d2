"""gfvc.bitstream: NAL units, Annex-B, SEI framing, GFV/GFVE SEI and the project payloads.

The public API (documented in doc/bitstream.md)::

    split_nal_units(data, codec) -> list[NalUnit]        find_pictures(nals) -> list[Picture]
    build_sei_nal(messages, codec, "prefix"|"suffix", layer_id, temporal_id, context) -> bytes
    insert_sei(stream, codec, {picture_index: messages}, "prefix"|"suffix", context) -> bytes
    write_sei_rbsp(messages, context) / parse_sei_rbsp(rbsp, context) / parse_sei_nal(nal, context)
    GfvMessage, GfvMatrixSet, GfveMessage, SeiContext (GfvPredictionState, GfvePredictionState)
    ReferenceSelection, Residual, ModelIdentity, PictureHash, PredictionModes (project payloads)
    BitstreamError(msg, offset)
"""
from .access_unit import Picture, find_pictures, insert_sei, splice
from .errors import BitstreamError, ModelIdentityMismatch
from .gfv import PAYLOAD_TYPE_GFV, GfvMatrixSet, GfvMessage, GfvPredictionState, matrix_shape
from .gfve import PAYLOAD_TYPE_GFVE, GfveMessage, GfvePredictionState
from .nal import (CODECS, CodecFit, NalUnit, add_emulation_prevention, annexb, check_stream_codec,
                  codec_fit, header_problem, make_nal_unit, nal_header,
                  parse_nal_header, remove_emulation_prevention, split_nal_units)
from .payloads import (ENTROPY_CODED_PARAMETERS_UUID, MODEL_IDENTITY_UUID, EntropyCodedParameters, PICTURE_HASH_UUID, REFERENCE_SELECTION_UUID,
                       RESIDUAL_MODE_SKIP, RESIDUAL_MODE_SPATIAL, RESIDUAL_MODE_TEMPORAL,
                       RESIDUAL_UUID, SAMPLE_FORMAT_RGB444_8BIT, SAMPLE_FORMAT_YUV420_8BIT,
                       PREDICTION_MODE_GENERATED, PREDICTION_MODE_NAMES, PREDICTION_MODE_WARPED_REFERENCE,
                       PREDICTION_MODES_UUID, PredictionModes,
                       GeneratedPictureReferences, ModelIdentity, PictureHash, ReferenceSelection,
                       Residual, ResidualLatent, config_digest, picture_md5, sha256_prefix_of_file)
from .sei import (PAYLOAD_TYPE_USER_DATA_UNREGISTERED, SEI_PAYLOADS, SUFFIX_ONLY_PAYLOAD_TYPES,
                  USER_DATA_PAYLOADS,
                  PayloadSyntax, RawSeiPayload, SeiContext, SeiMessage, UserDataUnregistered,
                  build_sei_nal, parse_sei_nal, parse_sei_payload, parse_sei_rbsp,
                  read_sei_messages, register_payload, sei_message_bytes, write_sei_payload,
                  write_sei_rbsp)
from .syntax import SyntaxReader, SyntaxWriter, TraceEntry

__all__ = [name for name in dir() if not name.startswith("_")]
