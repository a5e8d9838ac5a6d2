"""gfvc_residual( ): residual latents of RDAC / RDAC+ for one generated picture.

Syntax and semantics: doc/sei_payloads.md section 2.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import List, Tuple

RESIDUAL_UUID = uuid.UUID("b64092c3-4104-4473-bb28-b9083a2264bd").bytes
RESIDUAL_MODE_SKIP = 0
RESIDUAL_MODE_SPATIAL = 1
RESIDUAL_MODE_TEMPORAL = 2
MAX_LATENT_DIMS = 8


@dataclass
class ResidualLatent:
    """One entropy-coded latent tensor: its shape and its coded bytes."""

    shape: Tuple[int, ...] = ()
    data: bytes = b""


@dataclass
class Residual:
    res_gfv_id: int = 0
    res_gfv_cnt: int = 0
    res_coding_mode: int = RESIDUAL_MODE_SKIP
    res_rate_level: int = 0
    res_latents: List[ResidualLatent] = field(default_factory=list)


def gfvc_residual(rw, m: Residual, context=None) -> Residual:
    m.res_gfv_id = rw.ue("res_gfv_id", m.res_gfv_id)
    m.res_gfv_cnt = rw.ue("res_gfv_cnt", m.res_gfv_cnt)
    mode = m.res_coding_mode = rw.u("res_coding_mode", 2, m.res_coding_mode)
    rw.check(mode != 3, "res_coding_mode 3 is reserved")
    if mode == RESIDUAL_MODE_SKIP:
        rw.check(not m.res_latents and m.res_rate_level == 0,
                 "a skipped residual carries no rate level and no latents")
    else:
        m.res_rate_level = rw.ue("res_rate_level", m.res_rate_level)
        rw.check(rw.reading or len(m.res_latents) > 0, "a coded residual needs at least one latent")
        count = rw.ue("res_num_latents_minus1", len(m.res_latents) - 1) + 1
        rw.check_count("res_num_latents_minus1", count, 3, "latents")
        latents, sizes = [], []
        for i in range(count):
            given = None if rw.reading else m.res_latents[i]
            rw.check(given is None or 1 <= len(given.shape) <= MAX_LATENT_DIMS,
                     f"latent {i} must have 1..{MAX_LATENT_DIMS} dimensions")
            ndims = rw.ue(f"res_latent_num_dims_minus1[{i}]",
                          None if given is None else len(given.shape) - 1) + 1
            rw.check(ndims <= MAX_LATENT_DIMS,
                     f"res_latent_num_dims_minus1[{i}] = {ndims - 1} exceeds {MAX_LATENT_DIMS - 1}")
            shape = tuple(rw.ue(f"res_latent_dim_minus1[{i}][{d}]",
                                None if given is None else given.shape[d] - 1) + 1
                          for d in range(ndims))
            size = rw.ue(f"res_latent_num_bytes[{i}]", None if given is None else len(given.data))
            latents.append(ResidualLatent(shape, b"" if given is None else given.data))
            sizes.append(size)
        rw.align_zero("res_alignment_zero_bit")
        for i, (latent, size) in enumerate(zip(latents, sizes)):
            latent.data = rw.byte_string(f"res_latent_byte[{i}]", size, latent.data)
        m.res_latents = latents
    rw.align_zero("res_alignment_zero_bit")
    return m
