"""Just enough Annex-B parsing to account for bytes: NAL unit boundaries and access units.

Only the NAL unit header and the first bit of a slice header are read, so this works on any
HEVC (H.265) or VVC (H.266) stream without parsing parameter sets. An access unit here runs
from its first NAL unit's start code to the next access unit's first start code, so the
per-picture byte counts add up to the file size exactly (rate = 8 x file size).

Access-unit boundaries follow H.265 7.4.2.4.4 and H.266 7.4.2.4.3: a new picture starts at
- HEVC: a VCL NAL unit with first_slice_segment_in_pic_flag = 1,
- VVC: a picture header NAL unit (PH_NUT), or a VCL NAL unit with
  sh_picture_header_in_slice_header_flag = 1,
and the non-VCL NAL units that may only precede the first VCL NAL unit of an AU (AUD,
parameter sets, prefix SEI/APS, ...) belong to the AU that follows them.
"""
from __future__ import annotations

from dataclasses import dataclass

from .errors import BaseLayerError

# HEVC nal_unit_type values that open an access unit when they follow a VCL NAL unit.
_HEVC_AU_PREFIX = {32, 33, 34, 35, 39} | set(range(41, 45)) | set(range(48, 56))
# VVC: OPI, DCI, VPS, SPS, PPS, prefix APS, PH, AUD, prefix SEI, reserved 26/27 (H.266 7.4.2.4.3).
_VVC_AU_PREFIX = {12, 13, 14, 15, 16, 17, 19, 20, 23, 26, 27, 28, 29}
_VVC_PH_NUT = 19


@dataclass(frozen=True)
class NalUnit:
    start: int  # offset of the start code
    payload_start: int  # offset of the NAL unit header
    end: int  # offset after the last byte (start of the next start code or end of data)
    nal_unit_type: int
    is_vcl: bool
    first_bit_after_header: int  # first bit of the slice header for VCL NAL units


def _start_codes(data: bytes) -> list[tuple[int, int]]:
    """(start code offset incl. a leading zero byte, header offset) for each NAL unit."""
    found = []
    i = data.find(b"\x00\x00\x01")
    while i >= 0:
        begin = i - 1 if i > 0 and data[i - 1] == 0 else i
        found.append((begin, i + 3))
        i = data.find(b"\x00\x00\x01", i + 3)
    return found


def split_nal_units(data: bytes, codec: str) -> list[NalUnit]:
    """Split an Annex-B byte stream into NAL units; ``codec`` is 'hevc' or 'vvc'."""
    if codec not in ("hevc", "vvc"):
        raise ValueError(f"unknown codec {codec!r}; expected 'hevc' or 'vvc'")
    starts = _start_codes(data)
    if not starts or data[: starts[0][0]].strip(b"\x00"):
        raise BaseLayerError(f"not an Annex-B {codec.upper()} stream: it does not begin with a start code")
    units = []
    for k, (begin, hdr) in enumerate(starts):
        end = starts[k + 1][0] if k + 1 < len(starts) else len(data)
        if end - hdr < 2:
            raise BaseLayerError(f"truncated NAL unit at byte {begin} of the {codec.upper()} stream")
        if codec == "hevc":
            nut = (data[hdr] >> 1) & 0x3F
            vcl = nut < 32
        else:
            nut = (data[hdr + 1] >> 3) & 0x1F
            vcl = nut < 12
        first_bit = (data[hdr + 2] >> 7) & 1 if end - hdr > 2 else 0
        units.append(NalUnit(begin, hdr, end, nut, vcl, first_bit))
    return units


def _starts_picture(nal: NalUnit, codec: str, ph_seen: bool) -> bool:
    if codec == "hevc":
        return nal.is_vcl and nal.first_bit_after_header == 1  # first_slice_segment_in_pic_flag
    # VVC: the picture header either precedes the slices (PH_NUT) or sits in the one slice.
    return nal.is_vcl and not ph_seen and nal.first_bit_after_header == 1


def access_unit_sizes(data: bytes, codec: str) -> list[int]:
    """Bytes of each access unit (= coded picture for single-layer streams), in decoding order."""
    units = split_nal_units(data, codec)
    prefix = _HEVC_AU_PREFIX if codec == "hevc" else _VVC_AU_PREFIX
    au_starts: list[int] = []
    pending: int | None = None  # start of AU-opening non-VCL units seen since the last VCL
    ph_seen = False
    for nal in units:
        if not nal.is_vcl:
            if nal.nal_unit_type in prefix and pending is None:
                pending = nal.start
            if codec == "vvc" and nal.nal_unit_type == _VVC_PH_NUT:
                ph_seen = True
                au_starts.append(pending if pending is not None else nal.start)
                pending = None
            continue
        if _starts_picture(nal, codec, ph_seen):
            au_starts.append(pending if pending is not None else nal.start)
        pending = None
        ph_seen = False
    if not au_starts:
        raise BaseLayerError(f"the {codec.upper()} stream holds no coded picture")
    if au_starts[0] != 0:
        au_starts[0] = 0  # leading bytes (e.g. parameter sets before the first AU opener) count for picture 0
    bounds = au_starts + [len(data)]
    return [bounds[k + 1] - bounds[k] for k in range(len(au_starts))]


def nal_unit_types(data: bytes, codec: str) -> list[int]:
    return [n.nal_unit_type for n in split_nal_units(data, codec)]


def irap_picture_count(data: bytes, codec: str) -> int:
    """Number of VCL NAL units of IRAP type that start a picture (HEVC 16..23, VVC 7..10)."""
    lo, hi = (16, 23) if codec == "hevc" else (7, 10)
    units = split_nal_units(data, codec)
    return sum(1 for n in units if n.is_vcl and lo <= n.nal_unit_type <= hi and n.first_bit_after_header == 1)
