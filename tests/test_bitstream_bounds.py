"""Parsing is bounded: counts are checked before allocation, work is linear in the payload
size, fractions must be below 2^P, and GFV/GFVE are suffix-only (issue 10)."""
from __future__ import annotations

import tracemalloc

import pytest

from gfvc.bitstream import (BitstreamError, GfveMessage, GfvMessage, RawSeiPayload,
                            SeiContext, SyntaxWriter, annexb, build_sei_nal, insert_sei,
                            make_nal_unit, parse_sei_nal, parse_sei_payload, split_nal_units,
                            write_sei_rbsp)
from gfvc.bitstream import fuzz
from gfvc.bitstream.syntax import UE_MAX

UNITS = fuzz.seed_units()
LIMIT = 2 << 20        # 2 MB of Python allocations: the seed stream needs well under 1 MB


def parse_all(data: bytes, trace: bool = True) -> None:
    context = SeiContext()
    for nal in split_nal_units(data, "hevc"):
        if nal.is_sei:
            parse_sei_nal(nal, context, trace=trace)


def peak_of(call) -> int:
    """tracemalloc peak (bytes) of call(); the exception it raises, if any, is returned too."""
    tracemalloc.start()
    try:
        try:
            call()
            raised = None
        except BitstreamError as exc:
            raised = exc
        return tracemalloc.get_traced_memory()[1], raised
    finally:
        tracemalloc.stop()


def gfv_with_huge_matrix_count(count_minus1: int) -> bytes:
    """A base GFV payload with one matrix type 9 whose gfv_num_matrices_minus1 is given and
    two 1x1 matrices' worth of elements: 21 bytes in an SEI NAL unit for 2^32 - 2."""
    w = SyntaxWriter()
    w.ue("gfv_id", 0), w.ue("gfv_cnt", 0), w.flag("gfv_base_picture_flag", 1)
    w.flag("gfv_nn_present_flag", 0), w.flag("gfv_chroma_key_info_present_flag", 0)
    w.flag("gfv_low_confidence_face_parameter_flag", 0), w.flag("gfv_coordinate_present_flag", 0)
    w.flag("gfv_matrix_present_flag", 1), w.ue("gfv_matrix_element_precision_factor_minus1", 3)
    w.ue("gfv_num_matrix_types_minus1", 0), w.u("gfv_matrix_type_idx", 6, 9)
    w.ue("gfv_num_matrices_minus1", count_minus1)
    w.ue("gfv_matrix_width_minus1", 0), w.ue("gfv_matrix_height_minus1", 0)
    for _ in range(2):
        w.ue("gfv_matrix_element_int", 1), w.u("gfv_matrix_element_dec", 4, 0)
        w.flag("gfv_matrix_element_sign_flag", 0)
    w.align_with_one()
    return w.getvalue()


@pytest.mark.parametrize("count_minus1", [UE_MAX, 1 << 28, 1 << 20])
def test_huge_matrix_count_is_refused_before_allocation(count_minus1):
    payload = gfv_with_huge_matrix_count(count_minus1)
    assert len(payload) <= 16
    nal = annexb([build_sei_nal([RawSeiPayload(223, payload)], "hevc", "suffix")])
    assert len(nal) <= 25
    peak, error = peak_of(lambda: parse_all(nal))
    assert error is not None and "gfv_matrix_type_idx 9" in str(error)
    assert f"{count_minus1 + 1} matrices of 1x1" in str(error) and "byte offset" in str(error)
    assert peak < LIMIT, f"{peak} bytes allocated"


def _count_elements():
    """(unit, message, element name) of every ue(v) count or size in the seed stream."""
    out = []
    for u, unit in enumerate(UNITS):
        for m, msg in enumerate(unit.messages or []):
            for entry in msg.trace:
                if entry.descriptor == "ue(v)" and fuzz._COUNT_NAME.search(entry.name):
                    out.append((u, m, entry.name))
    return out


COUNT_ELEMENTS = _count_elements()


def test_every_kind_of_count_is_covered():
    names = {name.split("[")[0] for _, _, name in COUNT_ELEMENTS}
    for expected in ("gfv_num_kps_minus1", "gfv_num_matrix_types_minus1", "gfv_num_matrices_info",
                     "gfv_num_matrices_minus1", "gfv_matrix_width_minus1", "gfv_matrix_height_minus1",
                     "gefv_num_matrices_minus1", "gefv_matrix_height_minus1", "gefv_matrix_width_minus1",
                     "rs_num_evictions", "rs_num_refs_minus1", "res_num_latents_minus1",
                     "res_latent_num_dims_minus1", "res_latent_num_bytes", "res_latent_dim_minus1",
                     "gph_num_pictures_minus1"):
        assert expected in names, expected


@pytest.mark.parametrize("value", [UE_MAX])
@pytest.mark.parametrize("unit,message,name", COUNT_ELEMENTS,
                         ids=[f"{u}-{m}-{n}" for u, m, n in COUNT_ELEMENTS])
def test_every_count_set_huge_is_bounded(unit, message, name, value):
    """Each count or size of every seed message set to a huge ue(v): the parse allocates
    almost nothing (and fails with BitstreamError where the count cannot be met)."""
    data = fuzz.stream_with_element(UNITS, unit, message, name, fuzz.ue_bits(value))
    peak, error = peak_of(lambda: parse_all(data, trace=False))
    assert peak < LIMIT, f"{name} = {value}: {peak} bytes allocated"
    # a picture count and a latent's shape are values, not counts of coded items: nothing
    # is allocated for them while parsing; every other count drives the syntax that follows
    if name.startswith(("gph_num_pictures_minus1", "res_latent_dim_minus1")):
        assert error is None, name
    else:
        assert error is not None, name


def test_parsing_work_is_linear_in_payload_size():
    """The reader touches a bounded number of bytes per payload byte (the old reader shifted
    the whole payload integer per element: work grew with size x elements)."""
    rows = []
    for kb in (8, 32):
        payload = fuzz.gfv_payload_of_size(kb * 1024)
        _, elements, touched = fuzz.parse_work(payload)
        rows.append((len(payload), elements, touched))
    (size_a, elems_a, touched_a), (size_b, elems_b, touched_b) = rows
    assert 3.5 < elems_b / elems_a < 4.5 and 3.5 < size_b / size_a < 4.5
    for size, _, touched in rows:
        assert 0 < touched <= 4 * size, (size, touched)
    assert touched_b / touched_a < 1.2 * size_b / size_a


def _fraction_stream(fraction: int) -> bytes:
    """The seed stream with the first predicted GFV delta fraction (P = 4) set to ``fraction``."""
    unit = 7                                   # suffix SEI of picture 1: predicted GFV first
    gfv = UNITS[unit].messages[0]
    assert gfv.payload_type == 223
    # a fraction of a non-zero delta (followed by its sign flag, so the rest stays aligned)
    name = next(e.name for e, after in zip(gfv.trace, gfv.trace[1:])
                if e.name.startswith("gfv_matrix_delta_element_dec") and "sign_flag" in after.name)
    return fuzz.stream_with_element(UNITS, unit, 0, name, fuzz.ue_bits(fraction)), name


@pytest.mark.parametrize("fraction", [16, 40, 1 << 20])
def test_predicted_fraction_of_2_to_the_p_or_more_is_an_error(fraction):
    data, name = _fraction_stream(fraction)
    with pytest.raises(BitstreamError, match=rf"gfv_matrix_delta_element_dec.* = {fraction} is not "
                                             rf"below 2\^4") as info:
        parse_all(data)
    nal = split_nal_units(data, "hevc")[-1]
    assert nal.offset < info.value.offset < nal.end


def test_predicted_fraction_below_2_to_the_p_parses():
    data, _ = _fraction_stream(15)
    parse_all(data)


# -- GFV / GFVE are suffix-only ------------------------------------------------------------
GFV = GfvMessage(gfv_base_picture_flag=True, gfv_coordinate_present_flag=True,
                 gfv_coordinate_x=[0.5], gfv_coordinate_y=[1.0])
GFVE = GfveMessage(gefv_base_picture_flag=True, gefv_pupil_left_eye=(0.5, 0.25))


@pytest.mark.parametrize("payload", [GFV, GFVE, RawSeiPayload(223, b"\x80"), RawSeiPayload(224, b"\x80")],
                         ids=["gfv", "gfve", "raw223", "raw224"])
def test_gfv_and_gfve_are_refused_in_prefix_sei(payload):
    with pytest.raises(BitstreamError, match="suffix-only") as info:
        build_sei_nal([payload], "vvc", "prefix")
    assert info.value.offset is None
    stream = annexb([make_nal_unit("hevc", 19, b"\x80\x11")])
    with pytest.raises(BitstreamError, match="suffix SEI NAL unit"):
        insert_sei(stream, "hevc", {0: [payload]}, "prefix")
    build_sei_nal([payload], "vvc", "suffix")            # suffix is fine


def test_gfv_in_a_prefix_sei_parses_with_a_warning():
    rbsp = write_sei_rbsp([GFV, GFVE, RawSeiPayload(77, b"\x01")])
    nal = split_nal_units(annexb([make_nal_unit("hevc", 39, rbsp)]), "hevc")[0]
    messages = parse_sei_nal(nal)
    assert [len(m.warnings) for m in messages] == [1, 1, 0]
    assert "suffix-only" in messages[0].warnings[0] and "prefix SEI" in messages[0].warnings[0]
    suffix = split_nal_units(annexb([make_nal_unit("hevc", 40, rbsp)]), "hevc")[0]
    assert all(not m.warnings for m in parse_sei_nal(suffix))
    assert parse_sei_payload(223, write_sei_rbsp([GFV])[2:-1], SeiContext())[1] == messages[0].payload
