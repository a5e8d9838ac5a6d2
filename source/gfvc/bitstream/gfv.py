"""Generative face video SEI message (payloadType 223): generative_face_video( payloadSize ).

Syntax and HM behaviour as in doc/bitstream.md. :func:`generative_face_video` is the one
syntax function for writing, parsing and tracing. A :class:`GfvMessage` holds the values
(keypoint coordinates and matrices as floats); after parsing it holds the reconstructed
values, and elements that a predicted message inherits (precisions, keypoint count, matrix
types and sizes) are filled in from the reference message. When writing, such inherited
elements must equal the reference's, so a message always describes itself fully.

Decisions where the draft leaves room (documented in doc/bitstream.md):
- prediction state is kept per gfv_id;
- a predicted value is coded as the integer difference of the quantised value and the
  quantised reference (see quant.py), so reconstruction does not depend on prediction;
- the reference of a non-base message is the last base message of its gfv_id when
  gfv_cnt == 0, otherwise the previous message of its gfv_id; a message without keypoints
  (or matrices) passes on those of the message before it (a base message starts afresh);
- gfv_num_matrices_info[ t ] is the number of matrices of type 0/1 when it is not NumKps.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

from .quant import (coordinate_to_int, int_to_value, matrix_elements,
                    matrix_element_to_int, signed_ue)
from .syntax import inherit

PAYLOAD_TYPE_GFV = 223
MAX_PRECISION_FACTOR_MINUS1 = 31
MAX_Z_MAX_VALUE_MINUS1 = 65535
MAX_NUM_MATRICES_INFO = 1023
_SHAPE_FIELDS = ("gfv_matrix_type_idx", "gfv_num_matrices_equal_to_num_kps_flag",
                 "gfv_num_matrices_info", "gfv_num_matrices_minus1", "gfv_matrix_width_minus1",
                 "gfv_matrix_height_minus1", "gfv_matrix_3d_space_flag")


@dataclass
class GfvMatrixSet:
    """One matrix type t: its gfv_matrix_type_idx, size elements and matrices [j][row][col]."""

    gfv_matrix_type_idx: int = 0
    matrices: List[List[List[float]]] = field(default_factory=list)
    gfv_num_matrices_equal_to_num_kps_flag: bool = False   # types 0, 1
    gfv_num_matrices_info: int = 0                          # types 0, 1 when the flag is 0
    gfv_num_matrices_minus1: int = 0                        # types >= 7
    gfv_matrix_width_minus1: int = 0                        # types 2, 3, >= 7
    gfv_matrix_height_minus1: int = 0                       # types 2, 3, >= 7
    gfv_matrix_3d_space_flag: bool = False                  # types 4..6 without coordinates

    def shape_key(self) -> Tuple:
        return tuple(getattr(self, name) for name in _SHAPE_FIELDS)


def matrix_shape(ms: GfvMatrixSet, num_kps: int, coordinate_present: bool,
                 z_present: bool) -> Tuple[int, int, int]:
    """(number of matrices, height, width) of a matrix type, as HM parses them."""
    t = ms.gfv_matrix_type_idx
    if t in (0, 1):
        side = 2 + int(z_present)
        count = num_kps if ms.gfv_num_matrices_equal_to_num_kps_flag else ms.gfv_num_matrices_info
        return count, side, side
    if t in (2, 3) or t >= 7:
        count = ms.gfv_num_matrices_minus1 + 1 if t >= 7 else 1
        return count, ms.gfv_matrix_height_minus1 + 1, ms.gfv_matrix_width_minus1 + 1
    side = 2 + int(z_present if coordinate_present else ms.gfv_matrix_3d_space_flag)
    return (1, side, side) if t == 4 else (1, side, 1)


@dataclass
class GfvMessage:
    """generative_face_video(): syntax elements by their spec names (values as floats)."""

    gfv_id: int = 0
    gfv_cnt: int = 0
    gfv_base_picture_flag: bool = False
    gfv_nn_present_flag: bool = False
    gfv_nn_mode_idc: int = 0
    gfv_nn_tag_uri: str = ""
    gfv_nn_uri: str = ""
    gfv_nn_payload: bytes = b""                  # gfv_nn_payload_byte[ ] (mode_idc 0)
    gfv_chroma_key_info_present_flag: bool = False
    gfv_chroma_key_value: List[Optional[int]] = field(default_factory=lambda: [None] * 3)
    gfv_chroma_key_thr_value: List[Optional[int]] = field(default_factory=lambda: [None] * 2)
    gfv_drive_picture_fusion_flag: bool = False
    gfv_low_confidence_face_parameter_flag: bool = False
    gfv_coordinate_present_flag: bool = False
    gfv_kps_pred_flag: bool = False
    gfv_coordinate_precision_factor_minus1: int = 0
    gfv_coordinate_z_present_flag: bool = False
    gfv_coordinate_z_max_value_minus1: int = 0
    gfv_coordinate_x: List[float] = field(default_factory=list)
    gfv_coordinate_y: List[float] = field(default_factory=list)
    gfv_coordinate_z: List[float] = field(default_factory=list)
    gfv_matrix_present_flag: bool = False
    gfv_matrix_pred_flag: bool = False
    gfv_matrix_element_precision_factor_minus1: int = 0
    gfv_matrix_sets: List[GfvMatrixSet] = field(default_factory=list)

    @property
    def num_kps(self) -> int:
        return len(self.gfv_coordinate_x)


# -- prediction state -------------------------------------------------------------------
@dataclass(frozen=True)
class _Keypoints:
    precision_minus1: int
    z_present: bool
    z_max_minus1: int
    q: Tuple[Tuple[int, ...], ...]            # per axis (x, y[, z]) the integers


@dataclass(frozen=True)
class _Matrices:
    precision_minus1: int
    sets: Tuple[Tuple, ...]                    # shape_key() of each type
    shapes: Tuple[Tuple[int, int, int], ...]
    q: Tuple[Tuple[int, ...], ...]            # per type, all elements in coding order


@dataclass(frozen=True)
class _Reconstruction:
    keypoints: Optional[_Keypoints]
    matrices: Optional[_Matrices]


class GfvPredictionState:
    """Reconstructed GFV parameters that later messages predict from, per gfv_id.

    Encoder and decoder each keep one and pass every message through it in stream order;
    each message updates it exactly once, after it was completely written or parsed.
    """

    def __init__(self) -> None:
        self._base: Dict[int, _Reconstruction] = {}
        self._previous: Dict[int, _Reconstruction] = {}

    def reference(self, gfv_id: int, gfv_cnt: int) -> Optional[_Reconstruction]:
        return (self._base if gfv_cnt == 0 else self._previous).get(gfv_id)

    def update(self, gfv_id: int, base: bool, keypoints: Optional[_Keypoints],
               matrices: Optional[_Matrices]) -> None:
        if not base:
            before = self._previous.get(gfv_id)
            if before is not None:
                keypoints = keypoints or before.keypoints
                matrices = matrices or before.matrices
        recon = _Reconstruction(keypoints, matrices)
        if base:
            self._base[gfv_id] = recon
        self._previous[gfv_id] = recon

    def copy(self) -> "GfvPredictionState":
        other = GfvPredictionState()
        other._base, other._previous = dict(self._base), dict(self._previous)
        return other


# -- syntax -----------------------------------------------------------------------------
def generative_face_video(rw, msg: GfvMessage, state: GfvPredictionState) -> GfvMessage:
    """generative_face_video( payloadSize ): writes ``msg`` or fills it from the reader."""
    m = msg
    m.gfv_id = rw.ue("gfv_id", m.gfv_id)
    m.gfv_cnt = rw.ue("gfv_cnt", m.gfv_cnt)
    if m.gfv_cnt == 0:
        m.gfv_base_picture_flag = rw.flag("gfv_base_picture_flag", m.gfv_base_picture_flag)
    else:
        rw.check(not m.gfv_base_picture_flag, "gfv_base_picture_flag needs gfv_cnt == 0")
    base = m.gfv_base_picture_flag
    if base:
        _nn_and_chroma_key(rw, m)
    else:
        rw.check(not m.gfv_nn_present_flag and not m.gfv_chroma_key_info_present_flag,
                 "neural-network and chroma-key information is only sent with a base picture")
        m.gfv_drive_picture_fusion_flag = rw.flag("gfv_drive_picture_fusion_flag",
                                                  m.gfv_drive_picture_fusion_flag)
    m.gfv_low_confidence_face_parameter_flag = rw.flag(
        "gfv_low_confidence_face_parameter_flag", m.gfv_low_confidence_face_parameter_flag)
    reference = None if base else state.reference(m.gfv_id, m.gfv_cnt)
    keypoints = _coordinates(rw, m, reference)
    matrices = _matrices(rw, m, reference)
    rw.check(m.gfv_coordinate_present_flag or m.gfv_matrix_present_flag,
             "a GFV SEI message needs gfv_coordinate_present_flag or gfv_matrix_present_flag")
    if m.gfv_nn_present_flag and m.gfv_nn_mode_idc == 0:
        rw.align_zero("gfv_nn_alignment_zero_bit_b")
        m.gfv_nn_payload = rw.rest_bytes("gfv_nn_payload_byte", m.gfv_nn_payload)
    state.update(m.gfv_id, base, keypoints, matrices)
    return m


def _nn_and_chroma_key(rw, m: GfvMessage) -> None:
    m.gfv_nn_present_flag = rw.flag("gfv_nn_present_flag", m.gfv_nn_present_flag)
    if m.gfv_nn_present_flag:
        m.gfv_nn_mode_idc = rw.ue("gfv_nn_mode_idc", m.gfv_nn_mode_idc)
        if m.gfv_nn_mode_idc == 1:
            rw.align_zero("gfv_nn_alignment_zero_bit_a")
            m.gfv_nn_tag_uri = rw.st("gfv_nn_tag_uri", m.gfv_nn_tag_uri)
            m.gfv_nn_uri = rw.st("gfv_nn_uri", m.gfv_nn_uri)
    m.gfv_chroma_key_info_present_flag = rw.flag("gfv_chroma_key_info_present_flag",
                                                 m.gfv_chroma_key_info_present_flag)
    if not m.gfv_chroma_key_info_present_flag:
        return
    values: List[Optional[int]] = [None] * 3
    for c in range(3):
        v = None if rw.reading else m.gfv_chroma_key_value[c]
        if rw.flag(f"gfv_chroma_key_value_present_flag[{c}]", v is not None):
            values[c] = rw.u(f"gfv_chroma_key_value[{c}]", 8, v)
    thresholds: List[Optional[int]] = [None] * 2
    for i in range(2):
        v = None if rw.reading else m.gfv_chroma_key_thr_value[i]
        if rw.flag(f"gfv_chroma_key_thr_present_flag[{i}]", v is not None):
            thresholds[i] = rw.ue(f"gfv_chroma_key_thr_value[{i}]", v)
    m.gfv_chroma_key_value, m.gfv_chroma_key_thr_value = values, thresholds


def _coordinates(rw, m: GfvMessage, reference: Optional[_Reconstruction]) -> Optional[_Keypoints]:
    m.gfv_coordinate_present_flag = rw.flag("gfv_coordinate_present_flag",
                                            m.gfv_coordinate_present_flag)
    if not m.gfv_coordinate_present_flag:
        rw.check(not (m.gfv_coordinate_x or m.gfv_coordinate_y or m.gfv_coordinate_z
                      or m.gfv_kps_pred_flag),
                 "coordinates or gfv_kps_pred_flag given but gfv_coordinate_present_flag is 0")
        return None
    base = m.gfv_base_picture_flag
    pred = m.gfv_kps_pred_flag = rw.flag("gfv_kps_pred_flag", m.gfv_kps_pred_flag)
    ref_q: Optional[Tuple[Tuple[int, ...], ...]] = None
    if base or not pred:
        p1 = m.gfv_coordinate_precision_factor_minus1 = rw.ue(
            "gfv_coordinate_precision_factor_minus1", m.gfv_coordinate_precision_factor_minus1)
        rw.check(p1 <= MAX_PRECISION_FACTOR_MINUS1,
                 f"gfv_coordinate_precision_factor_minus1 = {p1} exceeds 31")
        num_kps = rw.ue("gfv_num_kps_minus1", m.num_kps - 1) + 1
        z = m.gfv_coordinate_z_present_flag = rw.flag("gfv_coordinate_z_present_flag",
                                                      m.gfv_coordinate_z_present_flag)
        if z:
            zmax = m.gfv_coordinate_z_max_value_minus1 = rw.ue(
                "gfv_coordinate_z_max_value_minus1", m.gfv_coordinate_z_max_value_minus1)
            rw.check(zmax <= MAX_Z_MAX_VALUE_MINUS1,
                     f"gfv_coordinate_z_max_value_minus1 = {zmax} exceeds 65535")
        else:
            rw.check(m.gfv_coordinate_z_max_value_minus1 == 0 and not m.gfv_coordinate_z,
                     "z coordinates given but gfv_coordinate_z_present_flag is 0")
    else:
        ref = reference.keypoints if reference is not None else None
        rw.check(ref is not None, f"gfv_kps_pred_flag = 1 but gfv_id {m.gfv_id} has no "
                                  f"reference keypoints to predict from")
        inherit(rw, m, "gfv_coordinate_precision_factor_minus1", ref.precision_minus1)
        inherit(rw, m, "gfv_coordinate_z_present_flag", ref.z_present)
        inherit(rw, m, "gfv_coordinate_z_max_value_minus1", ref.z_max_minus1)
        num_kps = len(ref.q[0])
        ref_q = ref.q
    precision = m.gfv_coordinate_precision_factor_minus1 + 1
    axes = ("x", "y", "z") if m.gfv_coordinate_z_present_flag else ("x", "y")
    # every coordinate codes at least a 1-bit ue(v)
    rw.check_count("gfv_num_kps_minus1", num_kps * len(axes), 1, "coordinates")
    if rw.reading:
        given = None
    else:
        given = [[coordinate_to_int(v, precision, f"gfv_coordinate_{a}")
                  for v in getattr(m, f"gfv_coordinate_{a}")] for a in axes]
        rw.check(all(len(g) == num_kps for g in given) and (len(axes) == 3 or not m.gfv_coordinate_z),
                 f"gfv_coordinate_x/y(/z) must each hold {num_kps} values")
    coded_name = "d" if pred else ""
    plain_names = [(f"gfv_coordinate_{coded_name}{a}_abs", f"gfv_coordinate_{coded_name}{a}_sign_flag")
                   for a in axes]
    q: List[List[int]] = [[] for _ in axes]
    for i in range(num_kps):
        for k, a in enumerate(axes):
            if ref_q is not None:
                predictor = ref_q[k][i]
            elif pred:   # base message: keypoint i from reconstructed keypoint i - 1
                predictor = q[k][i - 1] if i else 0
            else:
                predictor = 0
            delta = None if given is None else given[k][i] - predictor
            if rw.indexed_names:
                abs_name, sign_name = (f"gfv_coordinate_{coded_name}{a}_abs[{i}]",
                                       f"gfv_coordinate_{coded_name}{a}_sign_flag[{i}]")
            else:
                abs_name, sign_name = plain_names[k]
            delta = signed_ue(rw, abs_name, sign_name, delta)
            q[k].append(predictor + delta)
    values = [[int_to_value(v, precision) for v in axis_q] for axis_q in q]
    m.gfv_coordinate_x, m.gfv_coordinate_y = values[0], values[1]
    m.gfv_coordinate_z = values[2] if len(values) == 3 else []
    return _Keypoints(m.gfv_coordinate_precision_factor_minus1, m.gfv_coordinate_z_present_flag,
                      m.gfv_coordinate_z_max_value_minus1, tuple(tuple(a) for a in q))


def _matrix_set_syntax(rw, m: GfvMessage, t: int) -> GfvMatrixSet:
    ms = GfvMatrixSet() if rw.reading else m.gfv_matrix_sets[t]
    kind = ms.gfv_matrix_type_idx = rw.u(f"gfv_matrix_type_idx[{t}]", 6, ms.gfv_matrix_type_idx)
    if kind in (0, 1):
        rw.check(m.gfv_coordinate_present_flag,
                 f"gfv_matrix_type_idx[{t}] = {kind} needs keypoint coordinates")
        ms.gfv_num_matrices_equal_to_num_kps_flag = rw.flag(
            f"gfv_num_matrices_equal_to_num_kps_flag[{t}]", ms.gfv_num_matrices_equal_to_num_kps_flag)
        if not ms.gfv_num_matrices_equal_to_num_kps_flag:
            info = ms.gfv_num_matrices_info = rw.ue(f"gfv_num_matrices_info[{t}]",
                                                    ms.gfv_num_matrices_info)
            rw.check(info <= MAX_NUM_MATRICES_INFO, f"gfv_num_matrices_info[{t}] = {info} > 1023")
    elif kind in (2, 3) or kind >= 7:
        if kind >= 7:
            ms.gfv_num_matrices_minus1 = rw.ue(f"gfv_num_matrices_minus1[{t}]",
                                               ms.gfv_num_matrices_minus1)
        ms.gfv_matrix_width_minus1 = rw.ue(f"gfv_matrix_width_minus1[{t}]",
                                           ms.gfv_matrix_width_minus1)
        ms.gfv_matrix_height_minus1 = rw.ue(f"gfv_matrix_height_minus1[{t}]",
                                            ms.gfv_matrix_height_minus1)
    elif not m.gfv_coordinate_present_flag:
        ms.gfv_matrix_3d_space_flag = rw.flag(f"gfv_matrix_3d_space_flag[{t}]",
                                              ms.gfv_matrix_3d_space_flag)
    return ms


def _matrices(rw, m: GfvMessage, reference: Optional[_Reconstruction]) -> Optional[_Matrices]:
    m.gfv_matrix_present_flag = rw.flag("gfv_matrix_present_flag", m.gfv_matrix_present_flag)
    if not m.gfv_matrix_present_flag:
        rw.check(not m.gfv_matrix_sets and not m.gfv_matrix_pred_flag,
                 "matrices or gfv_matrix_pred_flag given but gfv_matrix_present_flag is 0")
        return None
    if not m.gfv_base_picture_flag:
        m.gfv_matrix_pred_flag = rw.flag("gfv_matrix_pred_flag", m.gfv_matrix_pred_flag)
    else:
        rw.check(not m.gfv_matrix_pred_flag, "gfv_matrix_pred_flag must be 0 in a base message")
    ref_q = None
    if not m.gfv_matrix_pred_flag:
        p1 = m.gfv_matrix_element_precision_factor_minus1 = rw.ue(
            "gfv_matrix_element_precision_factor_minus1",
            m.gfv_matrix_element_precision_factor_minus1)
        rw.check(p1 <= MAX_PRECISION_FACTOR_MINUS1,
                 f"gfv_matrix_element_precision_factor_minus1 = {p1} exceeds 31")
        num_types = rw.ue("gfv_num_matrix_types_minus1", len(m.gfv_matrix_sets) - 1) + 1
        rw.check_count("gfv_num_matrix_types_minus1", num_types, 6, "matrix types")
        sets = []
        for t in range(num_types):
            sets.append(_matrix_set_syntax(rw, m, t))
        shapes = tuple(matrix_shape(ms, m.num_kps, m.gfv_coordinate_present_flag,
                                    m.gfv_coordinate_z_present_flag) for ms in sets)
    else:
        ref = reference.matrices if reference is not None else None
        rw.check(ref is not None, f"gfv_matrix_pred_flag = 1 but gfv_id {m.gfv_id} has no "
                                  f"reference matrices to predict from")
        inherit(rw, m, "gfv_matrix_element_precision_factor_minus1", ref.precision_minus1)
        if rw.reading:
            sets = [GfvMatrixSet(**dict(zip(_SHAPE_FIELDS, key))) for key in ref.sets]
        else:
            sets = m.gfv_matrix_sets
            rw.check(tuple(ms.shape_key() for ms in sets) == ref.sets,
                     "matrix types and sizes of a predicted message must equal the reference's")
        shapes, ref_q = ref.shapes, ref.q
    precision = m.gfv_matrix_element_precision_factor_minus1 + 1
    prefix = "gfv_matrix_delta_element" if m.gfv_matrix_pred_flag else "gfv_matrix_element"
    all_q = []
    # each element codes at least its int ue(v) and a dec of P bits (ue(v) when predicted)
    min_bits = 2 if m.gfv_matrix_pred_flag else 1 + precision
    for t, (ms, (count, height, width)) in enumerate(zip(sets, shapes)):
        rw.check_count(f"matrix type {t} (gfv_matrix_type_idx {ms.gfv_matrix_type_idx}: "
                       f"{count} matrices of {height}x{width})", count * height * width, min_bits)
        given = None if rw.reading else _flatten_matrices(rw, ms, t, count, height, width, precision)
        # HM quirk: the delta's fraction is ue(v) in predicted messages (gfv_sei.md).
        ms.matrices, q = matrix_elements(rw, prefix, f"[{t}]", [(height, width)] * count, precision,
                                         bool(m.gfv_matrix_pred_flag), given,
                                         ref_q[t] if ref_q is not None else None)
        all_q.append(tuple(q))
    m.gfv_matrix_sets = sets
    return _Matrices(m.gfv_matrix_element_precision_factor_minus1,
                     tuple(ms.shape_key() for ms in sets), tuple(shapes), tuple(all_q))


def _flatten_matrices(rw, ms: GfvMatrixSet, t: int, count: int, height: int, width: int,
                      precision: int) -> List[int]:
    """Writer: the quantised elements of type t in coding order, after a shape check."""
    rw.check(len(ms.matrices) == count and all(
        len(mat) == height and all(len(row) == width for row in mat) for mat in ms.matrices),
        f"gfv_matrix_sets[{t}] (type {ms.gfv_matrix_type_idx}) must hold {count} matrices of "
        f"{height}x{width}")
    return [matrix_element_to_int(v, precision, f"matrix element of type {t}")
            for mat in ms.matrices for row in mat for v in row]
