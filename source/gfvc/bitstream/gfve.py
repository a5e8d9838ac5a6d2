"""Generative face video enhancement SEI message (payloadType 224).

generative_face_video_enhancement( payloadSize ) as in doc/bitstream.md, with the same
conventions as gfv.py: one syntax function, values as floats, integer-domain prediction,
prediction state per gefv_id, inherited elements filled in on parsing and checked on writing.

Pupils: in a base message the left pupil is coded from 0 and the right from the reconstructed
left (from 0 when the left one is absent); otherwise each eye is coded from the same eye of
the reference message (base when gefv_gfv_cnt == 0, else previous), from 0 when the
reference has no such eye. A message without pupils (or without one eye, or without
matrices) passes on those of the message before it; a base message starts afresh.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

from .gfv import MAX_PRECISION_FACTOR_MINUS1
from .quant import (coordinate_to_int, int_to_value, matrix_elements,
                    matrix_element_to_int, signed_ue)
from .syntax import inherit

PAYLOAD_TYPE_GFVE = 224
Pupil = Tuple[float, float]


@dataclass
class GfveMessage:
    """generative_face_video_enhancement(): syntax elements by their spec names."""

    gefv_id: int = 0
    gefv_gfv_id: int = 0
    gefv_gfv_cnt: int = 0
    gefv_base_picture_flag: bool = False
    gefv_nn_present_flag: bool = False
    gefv_nn_mode_idc: int = 0
    gefv_nn_tag_uri: str = ""
    gefv_nn_uri: str = ""
    gefv_nn_payload: bytes = b""                  # gefv_nn_payload_byte[ ] (mode_idc 0)
    gefv_matrix_present_flag: bool = False
    gefv_matrix_pred_flag: bool = False
    gefv_matrix_element_precision_factor_minus1: int = 0
    gefv_matrices: List[List[List[float]]] = field(default_factory=list)   # [j][row][col]
    gefv_pupil_coordinate_precision_factor_minus1: int = 0
    gefv_pupil_left_eye: Optional[Pupil] = None    # (dx, dy) reconstructed coordinates
    gefv_pupil_right_eye: Optional[Pupil] = None

    @property
    def gefv_pupil_coordinate_present_idx(self) -> int:
        return int(self.gefv_pupil_left_eye is not None) + 2 * int(self.gefv_pupil_right_eye is not None)


@dataclass(frozen=True)
class _GfveMatrices:
    precision_minus1: int
    shapes: Tuple[Tuple[int, int], ...]          # (height, width) per matrix
    q: Tuple[int, ...]


@dataclass(frozen=True)
class _GfvePupils:
    precision_minus1: int
    left: Optional[Tuple[int, int]]
    right: Optional[Tuple[int, int]]


@dataclass(frozen=True)
class _GfveReconstruction:
    matrices: Optional[_GfveMatrices]
    pupils: Optional[_GfvePupils]


class GfvePredictionState:
    """Reconstructed GFVE parameters per gefv_id; updated exactly once per message."""

    def __init__(self) -> None:
        self._base: Dict[int, _GfveReconstruction] = {}
        self._previous: Dict[int, _GfveReconstruction] = {}

    def reference(self, gefv_id: int, gfv_cnt: int) -> Optional[_GfveReconstruction]:
        return (self._base if gfv_cnt == 0 else self._previous).get(gefv_id)

    def update(self, gefv_id: int, base: bool, matrices: Optional[_GfveMatrices],
               pupils: Optional[_GfvePupils]) -> None:
        before = None if base else self._previous.get(gefv_id)
        if before is not None:
            matrices = matrices or before.matrices
            if pupils is None:
                pupils = before.pupils
            elif before.pupils is not None:
                pupils = _GfvePupils(pupils.precision_minus1, pupils.left or before.pupils.left,
                                     pupils.right or before.pupils.right)
        recon = _GfveReconstruction(matrices, pupils)
        if base:
            self._base[gefv_id] = recon
        self._previous[gefv_id] = recon

    def copy(self) -> "GfvePredictionState":
        other = GfvePredictionState()
        other._base, other._previous = dict(self._base), dict(self._previous)
        return other


def generative_face_video_enhancement(rw, msg: GfveMessage,
                                      state: GfvePredictionState) -> GfveMessage:
    """generative_face_video_enhancement( payloadSize ): writes ``msg`` or fills it."""
    m = msg
    m.gefv_id = rw.ue("gefv_id", m.gefv_id)
    m.gefv_gfv_id = rw.ue("gefv_gfv_id", m.gefv_gfv_id)
    m.gefv_gfv_cnt = rw.ue("gefv_gfv_cnt", m.gefv_gfv_cnt)
    if m.gefv_gfv_cnt == 0:
        m.gefv_base_picture_flag = rw.flag("gefv_base_picture_flag", m.gefv_base_picture_flag)
    else:
        rw.check(not m.gefv_base_picture_flag, "gefv_base_picture_flag needs gefv_gfv_cnt == 0")
    base = m.gefv_base_picture_flag
    if base:
        m.gefv_nn_present_flag = rw.flag("gefv_nn_present_flag", m.gefv_nn_present_flag)
        if m.gefv_nn_present_flag:
            m.gefv_nn_mode_idc = rw.ue("gefv_nn_mode_idc", m.gefv_nn_mode_idc)
            if m.gefv_nn_mode_idc == 1:
                rw.align_zero("gefv_nn_alignment_zero_bit_a")
                m.gefv_nn_tag_uri = rw.st("gefv_nn_tag_uri", m.gefv_nn_tag_uri)
                m.gefv_nn_uri = rw.st("gefv_nn_uri", m.gefv_nn_uri)
    else:
        rw.check(not m.gefv_nn_present_flag, "gefv_nn_present_flag needs a base message")
    reference = None if base else state.reference(m.gefv_id, m.gefv_gfv_cnt)
    matrices = _matrices(rw, m, reference)
    pupils = _pupils(rw, m, reference)
    if m.gefv_nn_present_flag and m.gefv_nn_mode_idc == 0:
        rw.align_zero("gefv_nn_alignment_zero_bit_b")
        m.gefv_nn_payload = rw.rest_bytes("gefv_nn_payload_byte", m.gefv_nn_payload)
    state.update(m.gefv_id, base, matrices, pupils)
    return m


def _matrices(rw, m: GfveMessage, reference: Optional[_GfveReconstruction]) -> Optional[_GfveMatrices]:
    m.gefv_matrix_present_flag = rw.flag("gefv_matrix_present_flag", m.gefv_matrix_present_flag)
    if not m.gefv_matrix_present_flag:
        rw.check(not m.gefv_matrices and not m.gefv_matrix_pred_flag,
                 "matrices or gefv_matrix_pred_flag given but gefv_matrix_present_flag is 0")
        return None
    if not m.gefv_base_picture_flag:
        m.gefv_matrix_pred_flag = rw.flag("gefv_matrix_pred_flag", m.gefv_matrix_pred_flag)
    else:
        rw.check(not m.gefv_matrix_pred_flag, "gefv_matrix_pred_flag must be 0 in a base message")
    pred = m.gefv_matrix_pred_flag
    ref_q = None
    if not pred:
        p1 = m.gefv_matrix_element_precision_factor_minus1 = rw.ue(
            "gefv_matrix_element_precision_factor_minus1",
            m.gefv_matrix_element_precision_factor_minus1)
        rw.check(p1 <= MAX_PRECISION_FACTOR_MINUS1,
                 f"gefv_matrix_element_precision_factor_minus1 = {p1} exceeds 31")
        given_shapes = [] if rw.reading else [_shape(rw, mat, j) for j, mat in enumerate(m.gefv_matrices)]
        count = rw.ue("gefv_num_matrices_minus1", len(given_shapes) - 1) + 1
        rw.check_count("gefv_num_matrices_minus1", count, 2, "matrix sizes")
        shapes = []
        for j in range(count):
            h, w = given_shapes[j] if given_shapes else (None, None)
            h = rw.ue(f"gefv_matrix_height_minus1[{j}]", None if h is None else h - 1) + 1
            w = rw.ue(f"gefv_matrix_width_minus1[{j}]", None if w is None else w - 1) + 1
            shapes.append((h, w))
    else:
        ref = reference.matrices if reference is not None else None
        rw.check(ref is not None, f"gefv_matrix_pred_flag = 1 but gefv_id {m.gefv_id} has no "
                                  f"reference matrices to predict from")
        inherit(rw, m, "gefv_matrix_element_precision_factor_minus1", ref.precision_minus1)
        rw.check(rw.reading or tuple(_shape(rw, mat, j) for j, mat in enumerate(m.gefv_matrices))
                 == ref.shapes, "matrix sizes of a predicted GFVE message must equal the reference's")
        shapes, ref_q = list(ref.shapes), ref.q
    precision = m.gefv_matrix_element_precision_factor_minus1 + 1
    # each element codes at least its int ue(v) and a dec of P bits
    rw.check_count(f"gefv matrix elements ({len(shapes)} matrices)",
                   sum(h * w for h, w in shapes), 1 + precision)
    given = None if rw.reading else [matrix_element_to_int(v, precision, "gefv matrix element")
                                     for mat in m.gefv_matrices for row in mat for v in row]
    prefix = "gefv_matrix_delta_element" if pred else "gefv_matrix_element"
    m.gefv_matrices, q = matrix_elements(rw, prefix, "", shapes, precision, False, given, ref_q)
    return _GfveMatrices(m.gefv_matrix_element_precision_factor_minus1, tuple(shapes), tuple(q))


def _shape(rw, mat: List[List[float]], j: int) -> Tuple[int, int]:
    rw.check(len(mat) > 0 and len(mat[0]) > 0 and all(len(r) == len(mat[0]) for r in mat),
             f"gefv_matrices[{j}] must be a non-empty rectangular matrix")
    return len(mat), len(mat[0])


def _pupils(rw, m: GfveMessage, reference: Optional[_GfveReconstruction]) -> Optional[_GfvePupils]:
    idx = rw.u("gefv_pupil_coordinate_present_idx", 2, m.gefv_pupil_coordinate_present_idx)
    if idx == 0:
        return None
    base = m.gefv_base_picture_flag
    ref = None
    if base:
        p1 = m.gefv_pupil_coordinate_precision_factor_minus1 = rw.ue(
            "gefv_pupil_coordinate_precision_factor_minus1",
            m.gefv_pupil_coordinate_precision_factor_minus1)
        rw.check(p1 <= MAX_PRECISION_FACTOR_MINUS1,
                 f"gefv_pupil_coordinate_precision_factor_minus1 = {p1} exceeds 31")
    else:
        ref = reference.pupils if reference is not None else None
        rw.check(ref is not None, f"pupil coordinates in a non-base message but gefv_id "
                                  f"{m.gefv_id} has no reference pupils (for their precision)")
        inherit(rw, m, "gefv_pupil_coordinate_precision_factor_minus1", ref.precision_minus1)
    precision = m.gefv_pupil_coordinate_precision_factor_minus1 + 1
    left = right = None
    if idx & 1:
        predictor = ref.left if ref is not None and ref.left else (0, 0)
        left = _eye(rw, "left", m.gefv_pupil_left_eye, predictor, precision)
    if idx & 2:
        if ref is not None:
            predictor = ref.right or (0, 0)
        else:
            predictor = left or (0, 0)
        right = _eye(rw, "right", m.gefv_pupil_right_eye, predictor, precision)
    m.gefv_pupil_left_eye = None if left is None else tuple(int_to_value(v, precision) for v in left)
    m.gefv_pupil_right_eye = None if right is None else tuple(int_to_value(v, precision) for v in right)
    return _GfvePupils(m.gefv_pupil_coordinate_precision_factor_minus1, left, right)


def _eye(rw, side: str, value: Optional[Pupil], predictor: Tuple[int, int],
         precision: int) -> Tuple[int, int]:
    out = []
    for k, axis in enumerate(("dx", "dy")):
        delta = None
        if not rw.reading:
            rw.check(len(value) == 2, f"gefv_pupil_{side}_eye must be (dx, dy)")
            delta = coordinate_to_int(value[k], precision, f"gefv_pupil_{side}_eye") - predictor[k]
        delta = signed_ue(rw, f"gefv_pupil_{side}_eye_{axis}_coordinate_abs",
                          f"gefv_pupil_{side}_eye_{axis}_coordinate_sign_flag", delta)
        out.append(predictor[k] + delta)
    return out[0], out[1]
