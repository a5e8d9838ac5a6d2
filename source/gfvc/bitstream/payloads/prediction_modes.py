"""gfvc_prediction_modes( ): which picture each generated picture of a key picture outputs.

Syntax and semantics: doc/sei_payloads.md section 6.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import List

PREDICTION_MODES_UUID = uuid.UUID("ac0e18a0-ce87-4147-8d75-5a175eab5155").bytes
#: the model's synthesis (the generator's output): what a picture without this message outputs
PREDICTION_MODE_GENERATED = 0
#: the reference picture(s) sampled along the model's dense motion field
PREDICTION_MODE_WARPED_REFERENCE = 1
PREDICTION_MODE_NAMES = {PREDICTION_MODE_GENERATED: "generated", PREDICTION_MODE_WARPED_REFERENCE: "warped_reference"}


@dataclass
class PredictionModes:
    pm_gfv_id: int = 0
    pm_first_gfv_cnt: int = 1
    pm_mode_idc: List[int] = field(default_factory=list)   # one per picture, gfv_cnt first, first + 1, ...


def gfvc_prediction_modes(rw, m: PredictionModes, context=None) -> PredictionModes:
    m.pm_gfv_id = rw.ue("pm_gfv_id", m.pm_gfv_id)
    m.pm_first_gfv_cnt = rw.ue("pm_first_gfv_cnt", m.pm_first_gfv_cnt)
    rw.check(rw.reading or len(m.pm_mode_idc) > 0, "a prediction-modes message needs at least one picture")
    rw.check(m.pm_first_gfv_cnt >= 1, "pm_first_gfv_cnt 0 names the key picture, which is not generated")
    count = rw.ue("pm_num_pictures_minus1", len(m.pm_mode_idc) - 1 if m.pm_mode_idc else None) + 1
    rw.check_count("pm_num_pictures_minus1", count, 2, "pictures")
    modes = m.pm_mode_idc if m.pm_mode_idc else [None] * count
    out = []
    for i in range(count):
        mode = rw.u(f"pm_mode_idc[{i}]", 2, modes[i])
        rw.check(mode in PREDICTION_MODE_NAMES, f"pm_mode_idc[{i}] {mode} is reserved")
        out.append(mode)
    m.pm_mode_idc = out
    rw.align_zero("pm_alignment_zero_bit")
    return m
