"""gfvc_entropy_coded_parameters( ): the face parameters of a run of generated pictures, as the
GFV elements they replace, coded with adaptive binary arithmetic coding whose model persists
across the pictures of the run.

Syntax and semantics: doc/sei_payloads.md section 5. The layout of every picture (keypoint
count, z, precisions, matrix types and sizes) is that of the GFV reconstruction the first
picture is predicted from, so the payload repeats none of it; after parsing, the GFV prediction
state holds the last picture's reconstruction, exactly as if GFV messages had been sent.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import List, Optional, Sequence, Tuple

from ..gfv import (_SHAPE_FIELDS, GfvMatrixSet, GfvMessage, GfvPredictionState, _Keypoints,
                   _Matrices)
from ..quant import coordinate_to_int, int_to_value, matrix_element_to_int
from ..syntax import UE_MAX
from .arithmetic import ArithmeticCodingError, ArithmeticDecoder, ArithmeticEncoder

ENTROPY_CODED_PARAMETERS_UUID = uuid.UUID("74767dad-89c1-437f-9c04-3d5acc3cd6a7").bytes
MAX_NUM_PICTURES = 1 << 16
MAX_NUM_VALUES = 1 << 20      # pictures x values per picture in one payload
STATE_BITS = 32
COUNT_LIMIT = 1024           # a context's two counts are halved when their sum exceeds this
NUM_SIG_CLASSES = 3          # min(|previous delta of the same value|, 2)
NUM_PREFIX_CONTEXTS = 16
MAX_PREFIX = 32
EQUIPROBABLE = (1, 1)


@dataclass
class EntropyCodedParameters:
    """One run of pictures: gfv_cnt = ecp_first_gfv_cnt + i for pictures[i].

    Writing: ``pictures`` are non-base GfvMessages with the reference layout (values on the
    grid of their precision, as gfvc.coding's coders make them); the present flags are derived
    from pictures[0]. Reading: the reconstructed messages.
    """

    ecp_gfv_id: int = 0
    ecp_first_gfv_cnt: int = 1
    ecp_drive_picture_fusion_flag: bool = False
    ecp_coordinate_present_flag: bool = False
    ecp_matrix_present_flag: bool = False
    ecp_matrix_type_present_flag: List[bool] = field(default_factory=list)
    pictures: List[GfvMessage] = field(default_factory=list)


# -- the adaptive binary model ---------------------------------------------------------------
class _Context:
    __slots__ = ("counts",)

    def __init__(self) -> None:
        self.counts = [1, 1]

    def update(self, bit: int) -> None:
        c = self.counts
        c[bit] += 1
        if c[0] + c[1] > COUNT_LIMIT:
            c[0], c[1] = (c[0] + 1) >> 1, (c[1] + 1) >> 1


class _Model:
    """Contexts of one payload: per value k sig[k][class], sign[k], gt1[k]; shared prefix[j]."""

    def __init__(self, num_values: int) -> None:
        self.sig = [[_Context() for _ in range(NUM_SIG_CLASSES)] for _ in range(num_values)]
        self.sign = [_Context() for _ in range(num_values)]
        self.gt1 = [_Context() for _ in range(num_values)]
        self.prefix = [_Context() for _ in range(NUM_PREFIX_CONTEXTS)]
        self.previous = [0] * num_values


def _put(enc: ArithmeticEncoder, ctx: _Context, bit: int) -> None:
    enc.encode(ctx.counts, bit)
    ctx.update(bit)


def _get(dec: ArithmeticDecoder, ctx: _Context) -> int:
    bit = dec.decode(ctx.counts)
    ctx.update(bit)
    return bit


def _encode_delta(enc: ArithmeticEncoder, model: _Model, k: int, d: int) -> None:
    a = abs(d)
    _put(enc, model.sig[k][min(abs(model.previous[k]), 2)], int(a != 0))
    if a:
        _put(enc, model.sign[k], int(d < 0))
        _put(enc, model.gt1[k], int(a > 1))
        if a > 1:
            m = a - 1                        # Exp-Golomb of a - 2, as m = (a - 2) + 1
            z = m.bit_length() - 1
            for j in range(z):
                _put(enc, model.prefix[min(j, NUM_PREFIX_CONTEXTS - 1)], 1)
            _put(enc, model.prefix[min(z, NUM_PREFIX_CONTEXTS - 1)], 0)
            for j in range(z - 1, -1, -1):
                enc.encode(EQUIPROBABLE, (m >> j) & 1)
    model.previous[k] = d


def _decode_delta(dec: ArithmeticDecoder, model: _Model, k: int) -> int:
    d = 0
    if _get(dec, model.sig[k][min(abs(model.previous[k]), 2)]):
        negative = _get(dec, model.sign[k])
        a = 1
        if _get(dec, model.gt1[k]):
            z = 0
            while _get(dec, model.prefix[min(z, NUM_PREFIX_CONTEXTS - 1)]):
                z += 1
                if z > MAX_PREFIX:
                    raise ArithmeticCodingError(f"ecp_coded_byte: Exp-Golomb prefix longer than "
                                                f"{MAX_PREFIX}")
            m = 1
            for _ in range(z):
                m = (m << 1) | dec.decode(EQUIPROBABLE)
            a = m + 1
        d = -a if negative else a
    model.previous[k] = d
    return d


# -- syntax -----------------------------------------------------------------------------------
def _layout(rw, m: EntropyCodedParameters, state: GfvPredictionState):
    """(keypoints reference, [(type index in reference, shape key, shape, reference q)])."""
    ref = state.reference(m.ecp_gfv_id, m.ecp_first_gfv_cnt)
    kps = ref.keypoints if ref is not None else None
    mats = ref.matrices if ref is not None else None
    rw.check(not m.ecp_coordinate_present_flag or kps is not None,
             f"ecp_coordinate_present_flag = 1 but gfv_id {m.ecp_gfv_id} has no reference keypoints")
    rw.check(not m.ecp_matrix_present_flag or mats is not None,
             f"ecp_matrix_present_flag = 1 but gfv_id {m.ecp_gfv_id} has no reference matrices")
    return kps, mats


def _picture_values(rw, pic: GfvMessage, kps: Optional[_Keypoints], types) -> List[int]:
    """Writer: the quantised values of one picture in coding order, after layout checks."""
    values: List[int] = []
    if kps is not None:
        p = kps.precision_minus1 + 1
        axes = ["x", "y"] + (["z"] if kps.z_present else [])
        rw.check(pic.gfv_coordinate_present_flag
                 and pic.gfv_coordinate_precision_factor_minus1 == kps.precision_minus1
                 and bool(pic.gfv_coordinate_z_present_flag) == kps.z_present
                 and all(len(getattr(pic, f"gfv_coordinate_{a}")) == len(kps.q[0]) for a in axes),
                 "a picture's keypoints must have the reference's count, precision and z")
        coords = [getattr(pic, f"gfv_coordinate_{a}") for a in axes]
        for i in range(len(kps.q[0])):
            for c in coords:
                values.append(coordinate_to_int(c[i], p, "ecp coordinate"))
    if types:
        p = types[0][4] + 1
        rw.check(pic.gfv_matrix_present_flag and pic.gfv_matrix_element_precision_factor_minus1 == p - 1
                 and [ms.shape_key() for ms in pic.gfv_matrix_sets] == [t[1] for t in types],
                 "a picture's matrices must be the present reference types with their sizes")
        for ms, (_, _, (count, height, width), _, _) in zip(pic.gfv_matrix_sets, types):
            rw.check(len(ms.matrices) == count and all(
                len(mat) == height and all(len(row) == width for row in mat) for mat in ms.matrices),
                f"matrix type {ms.gfv_matrix_type_idx}: {count} matrices of {height}x{width} expected")
            values.extend(matrix_element_to_int(v, p, "ecp matrix element")
                          for mat in ms.matrices for row in mat for v in row)
    return values


def _rebuild(m: EntropyCodedParameters, i: int, q: Sequence[int], kps: Optional[_Keypoints],
             types, mats: Optional[_Matrices]) -> Tuple[GfvMessage, Optional[_Keypoints], Optional[_Matrices]]:
    pic = GfvMessage(gfv_id=m.ecp_gfv_id, gfv_cnt=m.ecp_first_gfv_cnt + i,
                     gfv_drive_picture_fusion_flag=m.ecp_drive_picture_fusion_flag)
    pos = 0
    new_kps = new_mats = None
    if kps is not None:
        n, naxes = len(kps.q[0]), 3 if kps.z_present else 2
        axes_q = [list(q[a:naxes * n:naxes]) for a in range(naxes)]
        pos = naxes * n
        p = kps.precision_minus1 + 1
        pic.gfv_coordinate_present_flag = pic.gfv_kps_pred_flag = True
        pic.gfv_coordinate_precision_factor_minus1 = kps.precision_minus1
        pic.gfv_coordinate_z_present_flag = kps.z_present
        pic.gfv_coordinate_z_max_value_minus1 = kps.z_max_minus1
        vals = [[int_to_value(v, p) for v in a] for a in axes_q]
        pic.gfv_coordinate_x, pic.gfv_coordinate_y = vals[0], vals[1]
        pic.gfv_coordinate_z = vals[2] if kps.z_present else []
        new_kps = _Keypoints(kps.precision_minus1, kps.z_present, kps.z_max_minus1,
                             tuple(tuple(a) for a in axes_q))
    if types:
        precision_minus1 = types[0][4]
        p = precision_minus1 + 1
        sets, per_type = [], []
        for _, key, (count, height, width), _, _ in types:
            size = count * height * width
            tq = list(q[pos:pos + size])
            pos += size
            it = iter(tq)
            ms = GfvMatrixSet(**dict(zip(_SHAPE_FIELDS, key)))
            ms.matrices = [[[int_to_value(next(it), p) for _ in range(width)] for _ in range(height)]
                           for _ in range(count)]
            sets.append(ms)
            per_type.append(tuple(tq))
        pic.gfv_matrix_present_flag = True
        pic.gfv_matrix_element_precision_factor_minus1 = precision_minus1
        pic.gfv_matrix_sets = sets
        keys = tuple(t[1] for t in types)
        pic.gfv_matrix_pred_flag = mats is not None and keys == mats.sets
        new_mats = _Matrices(precision_minus1, keys, tuple(t[2] for t in types), tuple(per_type))
    return pic, new_kps, new_mats


def gfvc_entropy_coded_parameters(rw, m: EntropyCodedParameters, context) -> EntropyCodedParameters:
    state: GfvPredictionState = getattr(context, "gfv", context)
    m.ecp_gfv_id = rw.ue("ecp_gfv_id", m.ecp_gfv_id)
    m.ecp_first_gfv_cnt = rw.ue("ecp_first_gfv_cnt", m.ecp_first_gfv_cnt)
    rw.check(rw.reading or 0 < len(m.pictures) <= MAX_NUM_PICTURES,
             f"a run holds 1..{MAX_NUM_PICTURES} pictures, not {len(m.pictures)}")
    num = rw.ue("ecp_num_pictures_minus1", None if rw.reading else len(m.pictures) - 1) + 1
    rw.check(num <= MAX_NUM_PICTURES, f"ecp_num_pictures_minus1 = {num - 1} exceeds "
                                      f"{MAX_NUM_PICTURES - 1}")
    first = None if rw.reading else m.pictures[0]
    m.ecp_drive_picture_fusion_flag = rw.flag("ecp_drive_picture_fusion_flag",
                                              None if first is None else first.gfv_drive_picture_fusion_flag)
    m.ecp_coordinate_present_flag = rw.flag("ecp_coordinate_present_flag",
                                            None if first is None else first.gfv_coordinate_present_flag)
    m.ecp_matrix_present_flag = rw.flag("ecp_matrix_present_flag",
                                        None if first is None else first.gfv_matrix_present_flag)
    kps, mats = _layout(rw, m, state)
    kps_ref = kps if m.ecp_coordinate_present_flag else None
    types = []      # (reference type position, shape key, shape, reference q, precision_minus1)
    if m.ecp_matrix_present_flag:
        given_keys = None if first is None else [ms.shape_key() for ms in first.gfv_matrix_sets]
        flags = []
        for t, key in enumerate(mats.sets):
            flags.append(rw.flag(f"ecp_matrix_type_present_flag[{t}]",
                                 None if given_keys is None else key in given_keys))
            if flags[-1]:
                types.append((t, key, mats.shapes[t], mats.q[t], mats.precision_minus1))
        rw.check(any(flags), "ecp_matrix_present_flag = 1 needs a present matrix type")
        m.ecp_matrix_type_present_flag = flags
    rw.check(m.ecp_coordinate_present_flag or m.ecp_matrix_present_flag,
             "gfvc_entropy_coded_parameters needs coordinates or matrices")
    rw.align_zero("ecp_alignment_zero_bit")

    predictor: List[int] = []
    if kps_ref is not None:
        naxes = len(kps_ref.q)
        predictor.extend(kps_ref.q[a][i] for i in range(len(kps_ref.q[0])) for a in range(naxes))
    for t in types:
        predictor.extend(t[3])
    rw.check(num * len(predictor) <= MAX_NUM_VALUES,
             f"{num} pictures of {len(predictor)} values exceed {MAX_NUM_VALUES} values per payload")
    model = _Model(len(predictor))
    pictures_q: List[List[int]] = []
    if rw.reading:
        data = rw.rest_bytes("ecp_coded_byte")
        try:
            dec = ArithmeticDecoder(data, STATE_BITS)
            for _ in range(num):
                q = [p + _decode_delta(dec, model, k) for k, p in enumerate(predictor)]
                for v in q:
                    rw.check(abs(v) <= UE_MAX, f"ecp_coded_byte: a decoded value {v} is out of range")
                pictures_q.append(q)
                predictor = q
            dec.check_end()
        except ArithmeticCodingError as exc:
            raise rw.error(f"ecp_coded_byte: {exc.msg}")
    else:
        enc = ArithmeticEncoder(STATE_BITS)
        for pic in m.pictures:
            q = _picture_values(rw, pic, kps_ref, types)
            for k, (v, p) in enumerate(zip(q, predictor)):
                _encode_delta(enc, model, k, v - p)
            pictures_q.append(q)
            predictor = q
        rw.rest_bytes("ecp_coded_byte", enc.finish(flush_pending=True))
    # reconstruction and prediction state: as if the pictures had come in GFV messages
    pictures = []
    prev_mats = mats
    updates = []
    for i, q in enumerate(pictures_q):
        pic, new_kps, new_mats = _rebuild(m, i, q, kps_ref, types, prev_mats)
        pictures.append(pic)
        updates.append((new_kps, new_mats))
        prev_mats = new_mats or prev_mats
    for new_kps, new_mats in updates:
        state.update(m.ecp_gfv_id, False, new_kps, new_mats)
    m.pictures = pictures
    return m
