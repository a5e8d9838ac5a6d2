"""NAL units in Annex-B byte streams (HEVC and VVC): headers, start codes, emulation prevention.

HEVC nal_unit_header(): forbidden_zero_bit u(1), nal_unit_type u(6), nuh_layer_id u(6),
nuh_temporal_id_plus1 u(3). VVC: forbidden_zero_bit u(1), nuh_reserved_zero_bit u(1),
nuh_layer_id u(6), nal_unit_type u(5), nuh_temporal_id_plus1 u(3).
"""
from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import Dict, List, Optional, Sequence, Tuple

from .errors import BitstreamError

CODECS = ("hevc", "vvc")
START_CODE = b"\x00\x00\x01"
NAL_HEADER_SIZE = 2

HEVC_NAL_TYPE_NAMES: Dict[int, str] = {
    0: "TRAIL_N", 1: "TRAIL_R", 2: "TSA_N", 3: "TSA_R", 4: "STSA_N", 5: "STSA_R",
    6: "RADL_N", 7: "RADL_R", 8: "RASL_N", 9: "RASL_R", 16: "BLA_W_LP", 17: "BLA_W_RADL",
    18: "BLA_N_LP", 19: "IDR_W_RADL", 20: "IDR_N_LP", 21: "CRA_NUT", 32: "VPS_NUT",
    33: "SPS_NUT", 34: "PPS_NUT", 35: "AUD_NUT", 36: "EOS_NUT", 37: "EOB_NUT", 38: "FD_NUT",
    39: "PREFIX_SEI_NUT", 40: "SUFFIX_SEI_NUT",
}
VVC_NAL_TYPE_NAMES: Dict[int, str] = {
    0: "TRAIL_NUT", 1: "STSA_NUT", 2: "RADL_NUT", 3: "RASL_NUT", 7: "IDR_W_RADL",
    8: "IDR_N_LP", 9: "CRA_NUT", 10: "GDR_NUT", 12: "OPI_NUT", 13: "DCI_NUT", 14: "VPS_NUT",
    15: "SPS_NUT", 16: "PPS_NUT", 17: "PREFIX_APS_NUT", 18: "SUFFIX_APS_NUT", 19: "PH_NUT",
    20: "AUD_NUT", 21: "EOS_NUT", 22: "EOB_NUT", 23: "PREFIX_SEI_NUT", 24: "SUFFIX_SEI_NUT",
    25: "FD_NUT",
}


@dataclass(frozen=True)
class CodecNal:
    """The NAL unit type numbers of one codec that the bitstream layer acts on."""

    name: str
    max_vcl_type: int        # VCL NAL unit types are 0..max_vcl_type
    max_type: int
    prefix_sei: int
    suffix_sei: int
    picture_header: int      # -1: the codec has no picture header NAL unit
    type_names: Dict[int, str] = field(repr=False, compare=False)

    def type_name(self, nal_unit_type: int) -> str:
        if nal_unit_type in self.type_names:
            return self.type_names[nal_unit_type]
        kind = "RSV_VCL" if nal_unit_type <= self.max_vcl_type else "RSV_OR_UNSPEC"
        return f"{kind}_{nal_unit_type}"


HEVC = CodecNal("hevc", 31, 63, 39, 40, -1, HEVC_NAL_TYPE_NAMES)
VVC = CodecNal("vvc", 11, 31, 23, 24, 19, VVC_NAL_TYPE_NAMES)
_CODEC_NAL = {"hevc": HEVC, "vvc": VVC}


def codec_nal(codec: str) -> CodecNal:
    try:
        return _CODEC_NAL[codec]
    except KeyError:
        raise BitstreamError(f"unknown codec {codec!r} (use one of {', '.join(CODECS)})") from None


# -- NAL unit header -------------------------------------------------------------------
def nal_header(codec: str, nal_unit_type: int, layer_id: int = 0, temporal_id: int = 0) -> bytes:
    """The 2-byte nal_unit_header() of ``codec``."""
    spec = codec_nal(codec)
    if not 0 <= nal_unit_type <= spec.max_type:
        raise BitstreamError(f"nal_unit_type {nal_unit_type} out of range for {codec}")
    if not 0 <= layer_id <= 63:
        raise BitstreamError(f"nuh_layer_id {layer_id} out of range 0..63")
    if not 0 <= temporal_id <= 6:
        raise BitstreamError(f"TemporalId {temporal_id} out of range 0..6")
    tid_plus1 = temporal_id + 1
    if codec == "hevc":
        value = (nal_unit_type << 9) | (layer_id << 3) | tid_plus1
    else:
        value = (layer_id << 8) | (nal_unit_type << 3) | tid_plus1
    return value.to_bytes(2, "big")


def parse_nal_header(codec: str, header: bytes, offset: int = 0) -> Tuple[int, int, int]:
    """(nal_unit_type, nuh_layer_id, TemporalId) of a 2-byte header; offset is for errors."""
    if len(header) < NAL_HEADER_SIZE:
        raise BitstreamError("NAL unit shorter than its 2-byte header", offset)
    b0, b1 = header[0], header[1]
    if b0 & 0x80:
        raise BitstreamError("forbidden_zero_bit is 1 in a NAL unit header", offset)
    if codec == "hevc":
        nal_unit_type, layer_id = (b0 >> 1) & 0x3F, ((b0 & 1) << 5) | (b1 >> 3)
    elif codec == "vvc":
        nal_unit_type, layer_id = b1 >> 3, b0 & 0x3F
    else:
        codec_nal(codec)
        raise AssertionError("unreachable")
    if (b1 & 7) == 0:
        raise BitstreamError("nuh_temporal_id_plus1 is 0 in a NAL unit header", offset)
    return nal_unit_type, layer_id, (b1 & 7) - 1


# -- which codec a stream is -------------------------------------------------------------
def header_problem(codec: str, header: bytes) -> Optional[str]:
    """Why a 2-byte header cannot be a ``codec`` header in a stream we decode (None if it can).

    Besides the errors of :func:`parse_nal_header`, the bits the codec reserves are checked:
    VVC nuh_reserved_zero_bit = 1 or nuh_layer_id 56..63, HEVC nuh_layer_id 63. Those NAL
    units are only ignored by a decoder, but an HEVC header read as VVC (and the reverse)
    shows exactly these values.
    """
    codec_nal(codec)
    if len(header) < NAL_HEADER_SIZE:
        return "NAL unit shorter than its 2-byte header"
    b0, b1 = header[0], header[1]
    if b0 & 0x80:
        return "forbidden_zero_bit is 1"
    if (b1 & 7) == 0:
        return "nuh_temporal_id_plus1 is 0"
    if codec == "vvc":
        if b0 & 0x40:
            return "nuh_reserved_zero_bit is 1"
        if (b0 & 0x3F) > 55:
            return f"nuh_layer_id {b0 & 0x3F} is reserved (VVC: 0..55)"
    elif (((b0 & 1) << 5) | (b1 >> 3)) == 63:
        return "nuh_layer_id 63 is reserved (HEVC: 0..62)"
    return None


@dataclass(frozen=True)
class CodecFit:
    """How a stream's NAL unit headers read as one codec (see :func:`codec_fit`)."""

    codec: str
    plausible: bool
    reason: str            # why it is not plausible ("" when it is)
    offset: int            # stream offset of the NAL unit the reason is about


def _headers(data: bytes):
    sc = data.find(START_CODE)
    while sc >= 0:
        yield sc + 3, data[sc + 3:sc + 5]
        sc = data.find(START_CODE, sc + 3)


def codec_fit(data: bytes, codec: str) -> CodecFit:
    """Whether an Annex-B stream reads plausibly as ``codec``.

    Plausible: every NAL unit header passes :func:`header_problem`, and at least one NAL unit
    of nuh_layer_id 0 has a nal_unit_type other than 0. A VVC stream read as HEVC shows every
    NAL unit as TRAIL_N (type 0) with the VVC type as its layer; an HEVC stream read as VVC
    has nuh_reserved_zero_bit = 1 in its parameter sets and SEI, and its slices read as
    TRAIL_NUT with nuh_layer_id = 2 x the HEVC type. A stream of nothing but type-0 NAL units
    of layer 0 has identical headers in both codecs and is plausible in neither.
    """
    other_than_trail = False
    first = None
    for offset, header in _headers(data):
        problem = header_problem(codec, header)
        if problem:
            return CodecFit(codec, False, f"NAL unit header at byte offset {offset}: {problem}",
                            offset)
        if first is None:
            first = offset
        nal_unit_type, layer_id, _ = parse_nal_header(codec, header, offset)
        if layer_id == 0 and nal_unit_type != 0:
            other_than_trail = True
    if not other_than_trail:
        return CodecFit(codec, False, "every NAL unit reads as type 0 (trailing picture) or has "
                                      "nuh_layer_id > 0", first or 0)
    return CodecFit(codec, True, "", 0)


def check_stream_codec(data: bytes, codec: str) -> None:
    """BitstreamError when the stream reads plausibly as the other codec but not as ``codec``
    ("the stream looks like HEVC, not VVC")."""
    mine = codec_fit(data, codec)
    if mine.plausible:
        return
    other = CODECS[1 - CODECS.index(codec)]
    if codec_fit(data, other).plausible:
        raise BitstreamError(f"the stream looks like {other.upper()}, not {codec.upper()} "
                             f"(read as {codec.upper()}, {mine.reason})", mine.offset)


# -- emulation prevention ---------------------------------------------------------------
_NEEDS_EPB = re.compile(b"\x00\x00(?=[\x00-\x03])")


def add_emulation_prevention(rbsp: bytes) -> bytes:
    """Insert emulation_prevention_three_byte: 00 00 0x (x <= 3) -> 00 00 03 0x.

    A payload that ends in 0x00 gets a final 0x03 so that the NAL unit does not end in zero.
    """
    escaped = _NEEDS_EPB.sub(b"\x00\x00\x03", rbsp)
    if escaped.endswith(b"\x00"):
        escaped += b"\x03"
    return escaped


def remove_emulation_prevention(payload: bytes) -> Tuple[bytes, List[int]]:
    """(rbsp, positions): every 03 after 00 00 removed; ``positions`` holds, for each removed
    byte, the rbsp index of the byte that followed it (to map rbsp offsets back)."""
    positions: List[int] = []
    parts: List[bytes] = []
    start = 0
    removed = 0
    while True:
        hit = payload.find(b"\x00\x00\x03", start)
        if hit < 0:
            break
        parts.append(payload[start:hit + 2])
        start = hit + 3
        positions.append(hit + 2 - removed)
        removed += 1
    if not positions:
        return payload, positions
    parts.append(payload[start:])
    return b"".join(parts), positions


# -- NAL units --------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class NalUnit:
    """One NAL unit of an Annex-B stream.

    ``data`` is the NAL unit as stored (header + payload with emulation prevention bytes);
    ``offset`` is the stream position of its header, ``start`` that of its start code
    (zero_byte included), ``end`` the position just past its last byte.
    """

    codec: str
    nal_unit_type: int
    layer_id: int
    temporal_id: int
    data: bytes
    offset: int = 0
    start: int = 0

    @property
    def end(self) -> int:
        return self.offset + len(self.data)

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def start_code_size(self) -> int:
        return self.offset - self.start

    @property
    def type_name(self) -> str:
        return codec_nal(self.codec).type_name(self.nal_unit_type)

    @property
    def is_vcl(self) -> bool:
        return self.nal_unit_type <= codec_nal(self.codec).max_vcl_type

    @property
    def is_sei(self) -> bool:
        spec = codec_nal(self.codec)
        return self.nal_unit_type in (spec.prefix_sei, spec.suffix_sei)

    @property
    def is_prefix_sei(self) -> bool:
        return self.nal_unit_type == codec_nal(self.codec).prefix_sei

    @cached_property
    def _unescaped(self) -> Tuple[bytes, List[int]]:
        return remove_emulation_prevention(self.data[NAL_HEADER_SIZE:])

    @property
    def rbsp(self) -> bytes:
        """The payload after the header with emulation prevention removed."""
        return self._unescaped[0]

    def stream_offset(self, rbsp_index: int) -> int:
        """Stream byte offset of byte ``rbsp_index`` of :attr:`rbsp`."""
        before = bisect.bisect_right(self._unescaped[1], rbsp_index)
        return self.offset + NAL_HEADER_SIZE + rbsp_index + before


def make_nal_unit(codec: str, nal_unit_type: int, rbsp: bytes, layer_id: int = 0,
                  temporal_id: int = 0) -> bytes:
    """NAL unit bytes (header + escaped payload) without a start code."""
    return nal_header(codec, nal_unit_type, layer_id, temporal_id) + add_emulation_prevention(rbsp)


def annexb(nal_units: Sequence[bytes]) -> bytes:
    """Join NAL unit bytes into a byte stream with 4-byte start codes."""
    return b"".join(b"\x00" + START_CODE + n for n in nal_units)


def split_nal_units(data: bytes, codec: str) -> List[NalUnit]:
    """Split an Annex-B byte stream into NAL units (3- and 4-byte start codes).

    Leading zero bytes and trailing_zero_8bits are allowed; anything else outside a NAL unit,
    a NAL unit shorter than its header, a bad header, or 00 00 00 / 00 00 02 inside a NAL
    unit raises :class:`BitstreamError` with the byte offset.
    """
    codec_nal(codec)
    data = bytes(data)
    units: List[NalUnit] = []
    sc = data.find(START_CODE)
    if sc < 0:
        if data.strip(b"\x00"):
            raise BitstreamError("no Annex-B start code (00 00 01) in the stream", 0)
        return units
    if data[:sc].strip(b"\x00"):
        raise BitstreamError("data before the first start code", 0)
    while sc >= 0:
        begin = sc + 3
        nxt = data.find(START_CODE, begin)
        stop = nxt if nxt >= 0 else len(data)
        end = stop
        while end > begin and data[end - 1] == 0:   # trailing_zero_8bits / next zero_byte
            end -= 1
        nal = data[begin:end]
        for bad in (b"\x00\x00\x00", b"\x00\x00\x02"):
            pos = nal.find(bad)
            if pos >= 0:
                raise BitstreamError(f"forbidden byte sequence {bad.hex(' ')} inside a NAL unit",
                                     begin + pos)
        nal_unit_type, layer_id, temporal_id = parse_nal_header(codec, nal, begin)
        start = sc - 1 if sc > 0 and data[sc - 1] == 0 else sc
        units.append(NalUnit(codec, nal_unit_type, layer_id, temporal_id, nal, begin, start))
        sc = nxt
    return units
