"""gfvc_entropy_coded_parameters( ) (doc/sei_payloads.md section 5) and the arithmetic coder it
uses: round trips through SEI NAL units, the same reconstruction and prediction state as GFV
messages, the FV2V-like subset of matrix types, and one-line errors for bad or damaged payloads."""
from __future__ import annotations

import copy
import random

import pytest

from gfvc.bitstream import (BitstreamError, EntropyCodedParameters, GfvMatrixSet, GfvMessage,
                            SeiContext, build_sei_nal, parse_sei_rbsp, write_sei_rbsp)
from gfvc.bitstream.quant import coordinate_to_int, matrix_element_to_int
from gfvc.bitstream.payloads.arithmetic import (ArithmeticCodingError, ArithmeticDecoder,
                                                ArithmeticEncoder)

P = 6
STEP = 2.0 ** -P


def _coords(q):
    # values that HM's truncating coordinate quantiser maps to exactly q (as gfvc.coding does)
    return [v * STEP if v >= 0 else (v - 0.5) * STEP for v in q]


def _message(cnt, qx, qy, jac=None, base=False, extra_type7=None):
    m = GfvMessage(gfv_cnt=cnt, gfv_base_picture_flag=base, gfv_coordinate_present_flag=True,
                   gfv_coordinate_precision_factor_minus1=P - 1,
                   gfv_coordinate_x=_coords(qx), gfv_coordinate_y=_coords(qy))
    if jac is not None:
        m.gfv_matrix_present_flag = True
        m.gfv_matrix_element_precision_factor_minus1 = P - 1
        m.gfv_matrix_sets = [GfvMatrixSet(0, [[[v * STEP for v in jac[4 * i:4 * i + 2]],
                                               [v * STEP for v in jac[4 * i + 2:4 * i + 4]]]
                                              for i in range(len(qx))],
                                          gfv_num_matrices_equal_to_num_kps_flag=True)]
        if extra_type7 is not None:
            m.gfv_matrix_sets.append(GfvMatrixSet(7, [[[v * STEP] for v in extra_type7]],
                                                  gfv_matrix_height_minus1=len(extra_type7) - 1))
    return m


def _walk(n, k, scale, seed):
    rng = random.Random(seed)
    q = [[rng.randint(-40, 40) for _ in range(k)]]
    for _ in range(n - 1):
        q.append([v + round(rng.gauss(0, scale)) if rng.random() < 0.5 else v for v in q[-1]])
    return q


def _sequence(n=30, kps=5, seed=1, jac=True):
    xs, ys, js = _walk(n, kps, 3, seed), _walk(n, kps, 3, seed + 1), _walk(n, 4 * kps, 2, seed + 2)
    return [_message(i, xs[i], ys[i], js[i] if jac else None, base=(i == 0)) for i in range(n)]


def _values(m):
    """The integers of a reconstructed message (its values are q / 2^P exactly)."""
    out = [[round(v / STEP) for v in m.gfv_coordinate_x], [round(v / STEP) for v in m.gfv_coordinate_y]]
    for ms in m.gfv_matrix_sets:
        out.append([round(v / STEP) for mat in ms.matrices for row in mat for v in row])
    return out


def _coded(m):
    """The integers a message given to the writer codes (HM's quantisers)."""
    out = [[coordinate_to_int(v, P) for v in m.gfv_coordinate_x],
           [coordinate_to_int(v, P) for v in m.gfv_coordinate_y]]
    for ms in m.gfv_matrix_sets:
        out.append([matrix_element_to_int(v, P) for mat in ms.matrices for row in mat for v in row])
    return out


@pytest.mark.parametrize("jac", [True, False])
def test_round_trip_equals_gfv_messages(jac):
    msgs = _sequence(jac=jac)
    # reference: every picture as a GFV message
    gfv_ctx, recon_gfv = SeiContext(), []
    for m in msgs:
        write_sei_rbsp([m], gfv_ctx, recon_gfv)
    # the same pictures in one entropy-coded run after the base GFV message
    ctx = SeiContext()
    run = EntropyCodedParameters(ecp_first_gfv_cnt=1, pictures=msgs[1:])
    rbsp = write_sei_rbsp([msgs[0], run], ctx)
    parsed = parse_sei_rbsp(rbsp, SeiContext())
    assert [p.name for p in parsed] == ["generative_face_video", "gfvc_entropy_coded_parameters"]
    pictures = parsed[1].payload.pictures
    assert [p.gfv_cnt for p in pictures] == list(range(1, len(msgs)))
    for got, want in zip(pictures, recon_gfv[1:]):
        assert _values(got) == _values(want)
    # the state after the run is the one after the GFV messages: a following predicted GFV
    # message codes to the same bytes
    nxt = _message(len(msgs), [1, 2, 3, 4, 5], [5, 4, 3, 2, 1], [0] * 20 if jac else None)
    nxt.gfv_kps_pred_flag = True
    nxt.gfv_matrix_pred_flag = jac
    assert write_sei_rbsp([copy.deepcopy(nxt)], gfv_ctx) == write_sei_rbsp([copy.deepcopy(nxt)], ctx)
    # and it is much smaller than the GFV messages
    gfv_bytes = len(write_sei_rbsp(msgs[1:], _after_base(msgs[0])))
    assert len(rbsp) - len(write_sei_rbsp([msgs[0]], SeiContext())) < gfv_bytes


def _after_base(base):
    ctx = SeiContext()
    write_sei_rbsp([base], ctx)
    return ctx


def test_static_pictures_cost_little():
    base = _message(0, [3, -7, 12, 0, -1], [1, 1, -20, 5, 9], base=True)
    still = [_message(i, [3, -7, 12, 0, -1], [1, 1, -20, 5, 9]) for i in range(1, 250)]
    ctx = _after_base(base)
    run = EntropyCodedParameters(ecp_first_gfv_cnt=1, pictures=still)
    nal = build_sei_nal([run], "hevc", context=ctx)
    assert len(nal) * 8 / 249 < 2.0          # bits per picture, UUID and framing included


def test_subset_of_matrix_types_like_fv2v():
    """The base has types [0, 7]; the run carries only type 0 and says so."""
    base = _message(0, [1, 2], [3, 4], [1, 2, 3, 4, 5, 6, 7, 8], base=True, extra_type7=[9, 8, 7])
    ctx = _after_base(base)
    pics = [_message(i, [1 + i, 2], [3, 4 - i], [1, 2, 3, 4, 5, 6, 7, 8 + i]) for i in range(1, 6)]
    rbsp = write_sei_rbsp([EntropyCodedParameters(ecp_first_gfv_cnt=1, pictures=pics)], ctx)
    (parsed,) = parse_sei_rbsp(rbsp, _after_base(base))
    assert parsed.payload.ecp_matrix_type_present_flag == [True, False]
    for got, want in zip(parsed.payload.pictures, pics):
        assert [ms.gfv_matrix_type_idx for ms in got.gfv_matrix_sets] == [0]
        assert _values(got) == _coded(want)


def test_needs_a_reference():
    pics = _sequence(n=3)[1:]
    with pytest.raises(BitstreamError, match="has no reference keypoints"):
        write_sei_rbsp([EntropyCodedParameters(ecp_first_gfv_cnt=1, pictures=pics)], SeiContext())


def test_layout_must_match_the_reference():
    msgs = _sequence(n=3)
    ctx = _after_base(msgs[0])
    wrong = _message(1, [1, 2, 3], [1, 2, 3], [0] * 12)
    with pytest.raises(BitstreamError, match="reference's count"):
        write_sei_rbsp([EntropyCodedParameters(ecp_first_gfv_cnt=1, pictures=[wrong])], ctx)


@pytest.mark.parametrize("damage", ["truncate", "extend"])
def test_damaged_payload_is_a_clear_error(damage):
    msgs = _sequence(n=20)
    payload_ctx = _after_base(msgs[0])
    rbsp = write_sei_rbsp([EntropyCodedParameters(ecp_first_gfv_cnt=1, pictures=msgs[1:])],
                          payload_ctx)
    # rbsp = type 5, size, payload, 0x80 (size < 255 here)
    assert rbsp[0] == 5 and rbsp[1] < 255
    payload = rbsp[2:-1]
    payload = payload[:-3] if damage == "truncate" else payload + b"\x55\x66"
    damaged = bytes([5, len(payload)]) + payload + b"\x80"
    with pytest.raises(BitstreamError, match="ecp_coded_byte") as info:
        parse_sei_rbsp(damaged, _after_base(msgs[0]))
    assert "\n" not in str(info.value)


def test_arithmetic_coder_round_trip_and_end_check():
    rng = random.Random(5)
    tables = [(1, 1), (9, 1), (1, 30), (3, 5, 7), (1, 1, 1)]
    symbols = []
    enc = ArithmeticEncoder(32)
    for _ in range(3000):
        t = rng.choice(tables)
        s = rng.choices(range(len(t)), weights=t)[0]
        symbols.append((t, s))
        enc.encode(t, s)
    data = enc.finish(flush_pending=True)
    dec = ArithmeticDecoder(data, 32)
    assert [dec.decode(t) for t, _ in symbols] == [s for _, s in symbols]
    dec.check_end()
    short = ArithmeticDecoder(data[:-2], 32)
    for t, _ in symbols:
        short.decode(t)
    with pytest.raises(ArithmeticCodingError):
        short.check_end()
    with pytest.raises(ArithmeticCodingError, match="count 0"):
        ArithmeticEncoder(32).encode((0, 1), 0)
