"""Bit reader against bitstring, emulation prevention, NAL splitting, pictures, SEI insertion."""
from __future__ import annotations

import re

import bitstring
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gfvc.bitstream import (BitstreamError, GfvMessage, PictureHash, SeiContext, SyntaxReader,
                            add_emulation_prevention, annexb, find_pictures,
                            insert_sei, make_nal_unit, parse_sei_nal, remove_emulation_prevention,
                            split_nal_units)

FAST = settings(deadline=None, max_examples=80, suppress_health_check=[HealthCheck.too_slow])


# -- bit reader vs the bitstring reference ------------------------------------------------
@FAST
@given(st.lists(st.tuples(st.sampled_from(["ue", "se", "u"]), st.integers(0, 1 << 31),
                          st.integers(1, 32)), min_size=1, max_size=40))
def test_reader_matches_bitstring(elements):
    stream = bitstring.BitStream()
    expected = []
    for kind, value, n in elements:
        if kind == "ue":
            stream.append(bitstring.Bits(ue=value))
        elif kind == "se":
            value = value - (1 << 30)
            stream.append(bitstring.Bits(se=value))
        else:
            value &= (1 << n) - 1
            stream.append(bitstring.Bits(uint=value, length=n))
        expected.append(value)
    stream.append(bitstring.Bits(uint=1, length=1))      # a stop bit, then zero padding
    data = stream.tobytes()
    reader = SyntaxReader(data)
    check = bitstring.ConstBitStream(data)
    for (kind, _, n), value in zip(elements, expected):
        got = reader.u("x", n) if kind == "u" else getattr(reader, kind)("x")
        ref = check.read(f"uint:{n}") if kind == "u" else check.read(kind)
        assert got == ref == value
        assert reader.pos == check.pos


@FAST
@given(st.binary(max_size=12))
def test_reader_errors_are_bitstream_errors_with_offsets(data):
    reader = SyntaxReader(data, locate=lambda i: 1000 + i)
    try:
        while True:
            reader.ue("x")
    except BitstreamError as exc:
        assert exc.offset is not None and 1000 <= exc.offset <= 1000 + len(data)


# -- emulation prevention -------------------------------------------------------------------
def reference_escape(rbsp: bytes) -> bytes:
    """The spec's byte loop (7.4.2 / Annex B), written out plainly."""
    out, zeros = bytearray(), 0
    for b in rbsp:
        if zeros == 2 and b <= 3:
            out.append(3)
            zeros = 0
        out.append(b)
        zeros = zeros + 1 if b == 0 else 0
    if out.endswith(b"\x00"):
        out.append(3)
    return bytes(out)


@FAST
@given(st.lists(st.sampled_from([0, 0, 0, 1, 2, 3, 4, 0x80, 0xFF]), max_size=64).map(bytes))
def test_emulation_prevention_both_ways(rbsp):
    escaped = add_emulation_prevention(rbsp)
    assert escaped == reference_escape(rbsp)
    assert re.search(b"\x00\x00[\x00-\x02]", escaped) is None
    back, positions = remove_emulation_prevention(escaped)
    if not rbsp.endswith(b"\x00"):
        assert back == rbsp
    assert len(escaped) - len(back) == len(positions)


# -- splitting ----------------------------------------------------------------------------
def test_split_three_and_four_byte_start_codes_and_trailing_zeros():
    a = make_nal_unit("hevc", 32, b"\x01\x02")
    b = make_nal_unit("hevc", 1, b"\x80\x00\x00\x01")          # needs an emulation byte
    data = b"\x00\x00" + b"\x00\x00\x00\x01" + a + b"\x00\x00" + b"\x00\x00\x01" + b + b"\x00"
    nals = split_nal_units(data, "hevc")
    assert [n.data for n in nals] == [a, b]
    assert [n.start_code_size for n in nals] == [4, 4]          # zero_byte before 00 00 01
    assert nals[1].rbsp == b"\x80\x00\x00\x01"
    assert nals[0].offset == 6 and data[nals[1].offset:nals[1].end] == b
    data3 = b"\x00\x00\x01" + a + b"\x00\x00\x01" + b
    assert [n.start_code_size for n in split_nal_units(data3, "hevc")] == [3, 3]


@pytest.mark.parametrize("data,fault,offset", [
    (b"\x12\x00\x00\x01\x40\x01", "before the first start code", 0),
    (b"\x00\x00\x01\x40", "shorter than its 2-byte header", 3),
    (b"\x00\x00\x01\xc0\x01", "forbidden_zero_bit", 3),
    (b"\x00\x00\x01\x40\x00\x05", "nuh_temporal_id_plus1 is 0", 3),
    (b"\x00\x00\x01\x40\x01\x00\x00\x02\x05", "forbidden byte sequence", 5),
    (b"\x55\x66", "no Annex-B start code", 0),
])
def test_split_errors(data, fault, offset):
    with pytest.raises(BitstreamError, match=fault) as info:
        split_nal_units(data, "hevc")
    assert info.value.offset == offset
    assert f"at byte offset {offset}" in str(info.value)


# -- pictures and insertion in synthetic streams ---------------------------------------------
def hevc_stream():
    """VPS SPS PPS | slice(first) slice(not first) | slice(first, tid 1): two pictures."""
    nal = lambda t, first, tid=0: make_nal_unit("hevc", t, bytes([0x80 if first else 0x40, 0x11]),
                                                temporal_id=tid)
    return annexb([make_nal_unit("hevc", 32, b"\x0c"), make_nal_unit("hevc", 33, b"\x01"),
                   make_nal_unit("hevc", 34, b"\xc1"), nal(19, True), nal(19, False),
                   nal(1, True, tid=1)])


def vvc_stream():
    """AUD SPS PPS PH slice slice | AUD slice(PH in slice header, tid 2)."""
    nal = lambda t, b0, tid=0: make_nal_unit("vvc", t, bytes([b0, 0x22]), temporal_id=tid)
    return annexb([nal(20, 0x10), nal(15, 0x01), nal(16, 0x01), nal(19, 0x01), nal(7, 0x00),
                   nal(7, 0x00), nal(20, 0x10, 2), nal(0, 0x80, 2)])


def test_find_pictures():
    hevc = find_pictures(split_nal_units(hevc_stream(), "hevc"))
    assert [(p.first_vcl, p.last_vcl, p.prefix_position, p.temporal_id) for p in hevc] == \
        [(3, 4, 3, 0), (5, 5, 5, 1)]
    vvc = find_pictures(split_nal_units(vvc_stream(), "vvc"))
    assert [(p.first_vcl, p.last_vcl, p.prefix_position, p.temporal_id) for p in vvc] == \
        [(4, 5, 3, 0), (7, 7, 7, 2)]


@pytest.mark.parametrize("codec,stream", [("hevc", hevc_stream), ("vvc", vvc_stream)])
@pytest.mark.parametrize("position", ["prefix", "suffix"])
def test_insert_sei_positions_and_temporal_id(codec, stream, position):
    original = stream()
    msg = lambda i: [PictureHash(gph_first_output_idx=i)]
    out = insert_sei(original, codec, msg, position)
    nals = split_nal_units(out, codec)
    old = split_nal_units(original, codec)
    kept = [n.data for n in nals if not n.is_sei]
    assert kept == [n.data for n in old]                       # original NAL units untouched
    pictures = find_pictures(nals)
    seis = [i for i, n in enumerate(nals) if n.is_sei]
    assert len(seis) == len(pictures) == 2
    for pic, i in zip(pictures, seis):
        sei = nals[i]
        assert sei.is_prefix_sei == (position == "prefix")
        assert (sei.layer_id, sei.temporal_id) == (pic.layer_id, pic.temporal_id)
        if position == "prefix":
            assert i == pic.prefix_position - 1
        else:
            assert i == pic.last_vcl + 1
        (parsed,) = parse_sei_nal(sei)
        assert parsed.payload == PictureHash(gph_first_output_idx=pic.index)


def test_insert_sei_uses_the_given_prediction_context():
    ctx = SeiContext()
    base = GfvMessage(gfv_base_picture_flag=True, gfv_coordinate_present_flag=True,
                      gfv_coordinate_x=[1.0], gfv_coordinate_y=[2.0])
    nxt = GfvMessage(gfv_cnt=1, gfv_coordinate_present_flag=True, gfv_kps_pred_flag=True,
                     gfv_coordinate_x=[1.5], gfv_coordinate_y=[2.0])
    out = insert_sei(hevc_stream(), "hevc", {0: [base], 1: [nxt]}, "suffix", ctx)
    reader = SeiContext()
    parsed = [m.payload for n in split_nal_units(out, "hevc") if n.is_sei
              for m in parse_sei_nal(n, reader)]
    assert parsed[1].gfv_coordinate_x == [1.5]
    second_sei = [n for n in split_nal_units(out, "hevc") if n.is_sei][1]
    with pytest.raises(BitstreamError, match="no reference keypoints") as info:
        parse_sei_nal(second_sei, SeiContext())          # a decoder that missed the base
    assert second_sei.offset < info.value.offset < second_sei.end
