"""gfvc_model_identity( ): which model family, configuration and checkpoint a stream needs.

Syntax and semantics: doc/sei_payloads.md section 3.
"""
from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Union

from ...files import canonical_json, sha256_file
from ..errors import ModelIdentityMismatch

MODEL_IDENTITY_UUID = uuid.UUID("789e7676-ce8c-4dfd-a036-861b2c363bde").bytes
DIGEST_BYTES = 8
#: mi_key_picture_format_idc -> how a decoded base picture becomes the RGB picture the model sees:
#: YUV 4:2:0 with one of gfvc.io's colour matrices, or GBR 4:4:4 coded directly
KEY_PICTURE_FORMATS = ("yuv420_bt601_limited", "yuv420_bt709_full", "gbr444")
MAX_SYNTHESIS_BATCH_MINUS1 = 255


def config_digest(config: Mapping[str, Any]) -> bytes:
    """First 8 bytes of SHA-256 over the configuration as canonical JSON (sorted keys)."""
    return hashlib.sha256(canonical_json(config)).digest()[:DIGEST_BYTES]


def sha256_prefix_of_file(path: Union[str, Path]) -> bytes:
    """First 8 bytes of the SHA-256 of a checkpoint file's bytes."""
    return bytes.fromhex(sha256_file(path))[:DIGEST_BYTES]


@dataclass
class ModelIdentity:
    mi_codec_family: str = ""
    mi_config_digest: bytes = bytes(DIGEST_BYTES)
    mi_checkpoint_sha256_prefix: bytes = bytes(DIGEST_BYTES)
    mi_gfv_id: int = 0
    mi_output_rounding_flag: bool = False      # 0: 8-bit output by truncation (x*255), 1: by rounding
    mi_key_picture_format_idc: int = 0         # KEY_PICTURE_FORMATS index: how base pictures become RGB
    mi_synthesis_batch_minus1: int = 7         # generated pictures per synthesis call, minus 1

    def verify(self, codec_family: str, config_digest_: bytes, checkpoint_sha256: bytes) -> None:
        """Raise ModelIdentityMismatch unless the decoder's model is the one the stream names.

        ``checkpoint_sha256`` may be the full digest or its 8-byte prefix.
        """
        problems = []
        if codec_family != self.mi_codec_family:
            problems.append(f"codec family {codec_family!r} (the stream needs {self.mi_codec_family!r})")
        if bytes(config_digest_)[:DIGEST_BYTES] != self.mi_config_digest:
            problems.append(f"configuration digest {bytes(config_digest_)[:DIGEST_BYTES].hex()} "
                            f"(the stream needs {self.mi_config_digest.hex()})")
        if bytes(checkpoint_sha256)[:DIGEST_BYTES] != self.mi_checkpoint_sha256_prefix:
            problems.append(f"checkpoint sha256 {bytes(checkpoint_sha256)[:DIGEST_BYTES].hex()}... "
                            f"(the stream needs {self.mi_checkpoint_sha256_prefix.hex()}...)")
        if problems:
            raise ModelIdentityMismatch("refusing to decode: the stream was encoded with another "
                                        "model; the decoder has " + "; ".join(problems))


def gfvc_model_identity(rw, m: ModelIdentity, context=None) -> ModelIdentity:
    m.mi_codec_family = rw.st("mi_codec_family", m.mi_codec_family)
    m.mi_config_digest = rw.byte_string("mi_config_digest", DIGEST_BYTES, m.mi_config_digest)
    m.mi_checkpoint_sha256_prefix = rw.byte_string("mi_checkpoint_sha256_prefix", DIGEST_BYTES,
                                                   m.mi_checkpoint_sha256_prefix)
    m.mi_gfv_id = rw.ue("mi_gfv_id", m.mi_gfv_id)
    m.mi_output_rounding_flag = rw.flag("mi_output_rounding_flag", m.mi_output_rounding_flag)
    m.mi_key_picture_format_idc = rw.u("mi_key_picture_format_idc", 3, m.mi_key_picture_format_idc)
    rw.check(m.mi_key_picture_format_idc < len(KEY_PICTURE_FORMATS),
             f"mi_key_picture_format_idc {m.mi_key_picture_format_idc} is reserved")
    m.mi_synthesis_batch_minus1 = rw.ue("mi_synthesis_batch_minus1", m.mi_synthesis_batch_minus1)
    rw.check(m.mi_synthesis_batch_minus1 <= MAX_SYNTHESIS_BATCH_MINUS1,
             f"mi_synthesis_batch_minus1 {m.mi_synthesis_batch_minus1} is out of range 0..{MAX_SYNTHESIS_BATCH_MINUS1}")
    rw.align_zero("mi_alignment_zero_bit")
    return m
