"""gfvc_reference_selection( ): the reference buffer of multi-reference animation (MRDAC).

Syntax and semantics: doc/sei_payloads.md section 1.
"""
from __future__ import annotations

import math
import uuid
from dataclasses import dataclass, field
from typing import List, Optional

from ..errors import BitstreamError

REFERENCE_SELECTION_UUID = uuid.UUID("e3c0a253-ca7c-4ada-8f65-440d80f7a46c").bytes
MAX_WEIGHT_LOG2_DENOM = 30


def quantise_weight(weight: float, log2_denom: int) -> int:
    """Aggregation weight in units of 2^-log2_denom, rounded half away from zero."""
    if not math.isfinite(weight):
        raise BitstreamError(f"aggregation weight {weight!r} is not finite")
    scaled = math.ldexp(abs(weight), log2_denom)
    q = math.floor(scaled + 0.5)
    return -q if weight < 0 else q


@dataclass
class GeneratedPictureReferences:
    """The references one generated picture is animated from, with aggregation weights."""

    rs_gfv_cnt: int = 0
    rs_weight_log2_denom: int = 0
    rs_ref_id: List[int] = field(default_factory=list)
    rs_weight: List[float] = field(default_factory=list)     # rs_weight[ i ] / 2^log2_denom


@dataclass
class ReferenceSelection:
    """Reference buffer update (insert this AU's decoded base picture, evict others) and the
    reference lists of generated pictures."""

    rs_gfv_id: int = 0
    rs_insert_ref_id: Optional[int] = None        # rs_insert_flag = this is not None
    rs_evict_ref_id: List[int] = field(default_factory=list)
    rs_generated_pictures: List[GeneratedPictureReferences] = field(default_factory=list)
    rs_insert_display_delta: int = 0              # display order of the inserted picture (with rs_insert_flag)


def gfvc_reference_selection(rw, m: ReferenceSelection, context=None) -> ReferenceSelection:
    m.rs_gfv_id = rw.ue("rs_gfv_id", m.rs_gfv_id)
    if rw.flag("rs_insert_flag", m.rs_insert_ref_id is not None):
        m.rs_insert_ref_id = rw.ue("rs_insert_ref_id", m.rs_insert_ref_id)
        m.rs_insert_display_delta = rw.ue("rs_insert_display_delta", m.rs_insert_display_delta)
    evictions = rw.ue("rs_num_evictions", len(m.rs_evict_ref_id))
    rw.check_count("rs_num_evictions", evictions, 1, "evictions")
    evict = []
    for i in range(evictions):
        evict.append(rw.ue(f"rs_evict_ref_id[{i}]", None if rw.reading else m.rs_evict_ref_id[i]))
    m.rs_evict_ref_id = evict
    count = rw.ue("rs_num_generated_pictures", len(m.rs_generated_pictures))
    rw.check_count("rs_num_generated_pictures", count, 3, "generated pictures")
    pictures = []
    for g in range(count):
        gp = GeneratedPictureReferences() if rw.reading else m.rs_generated_pictures[g]
        gp.rs_gfv_cnt = rw.ue(f"rs_gfv_cnt[{g}]", gp.rs_gfv_cnt)
        rw.check(rw.reading or (gp.rs_ref_id and len(gp.rs_ref_id) == len(gp.rs_weight)),
                 f"rs_generated_pictures[{g}] needs as many weights as (>= 1) references")
        num_refs = rw.ue(f"rs_num_refs_minus1[{g}]", len(gp.rs_ref_id) - 1) + 1
        denom = gp.rs_weight_log2_denom = rw.ue(f"rs_weight_log2_denom[{g}]",
                                                gp.rs_weight_log2_denom)
        rw.check(denom <= MAX_WEIGHT_LOG2_DENOM, f"rs_weight_log2_denom[{g}] = {denom} exceeds 30")
        rw.check_count(f"rs_num_refs_minus1[{g}]", num_refs, 2, "references")
        ref_ids, weights = [], []
        for i in range(num_refs):
            ref_ids.append(rw.ue(f"rs_ref_id[{g}][{i}]", None if rw.reading else gp.rs_ref_id[i]))
            w = None if rw.reading else quantise_weight(gp.rs_weight[i], denom)
            weights.append(math.ldexp(rw.se(f"rs_weight[{g}][{i}]", w), -denom))
        gp.rs_ref_id, gp.rs_weight = ref_ids, weights
        pictures.append(gp)
    m.rs_generated_pictures = pictures
    rw.align_zero("rs_alignment_zero_bit")
    return m
