"""Byte accounting of base-layer streams: access-unit sizes and IRAP counts.

NAL unit splitting and picture boundaries come from gfvc.bitstream (one implementation for
the whole project); this module only adds the access-unit extent. An access unit here runs
from its first NAL unit's start code to the next access unit's first start code, so the
per-picture byte counts add up to the file size exactly (rate = 8 x file size).

The non-VCL NAL units that may only precede the first VCL NAL unit of an AU (AUD, parameter
sets, prefix SEI/APS, PH, ...; H.265 7.4.2.4.4, H.266 7.4.2.4.3) open the AU that follows them;
the other non-VCL units (suffix SEI, EOS, ...) close the AU before them.
"""
from __future__ import annotations

from gfvc.bitstream import BitstreamError, NalUnit, find_pictures
from gfvc.bitstream import split_nal_units as _split_nal_units

from .errors import BaseLayerError

# nal_unit_type values that open an access unit when they follow a VCL NAL unit.
AU_OPENING_TYPES = {
    "hevc": {32, 33, 34, 35, 39} | set(range(41, 45)) | set(range(48, 56)),
    # OPI, DCI, VPS, SPS, PPS, prefix APS, PH, AUD, prefix SEI, reserved 26..29
    "vvc": {12, 13, 14, 15, 16, 17, 19, 20, 23, 26, 27, 28, 29},
}
_IRAP_TYPES = {"hevc": range(16, 24), "vvc": range(7, 11)}


def split_nal_units(data: bytes, codec: str) -> list[NalUnit]:
    """gfvc.bitstream.split_nal_units, with a malformed stream reported as a BaseLayerError."""
    if codec not in AU_OPENING_TYPES:
        raise ValueError(f"unknown codec {codec!r}; expected 'hevc' or 'vvc'")
    try:
        units = _split_nal_units(data, codec)
    except BitstreamError as e:
        raise BaseLayerError(f"not a valid Annex-B {codec.upper()} stream: {e}") from None
    if not units:
        raise BaseLayerError(f"not an Annex-B {codec.upper()} stream: it holds no start code")
    return units


def _pictures(data: bytes, codec: str):
    units = split_nal_units(data, codec)
    try:
        pictures = find_pictures(units)
    except BitstreamError as e:
        raise BaseLayerError(f"not a valid Annex-B {codec.upper()} stream: {e}") from None
    if not pictures:
        raise BaseLayerError(f"the {codec.upper()} stream holds no coded picture")
    return units, pictures


def coded_picture_count(data: bytes | list[NalUnit], codec: str) -> int:
    """Number of coded pictures (first slices of a picture) in a stream or NAL unit list."""
    units = split_nal_units(data, codec) if isinstance(data, (bytes, bytearray)) else data
    try:
        return len(find_pictures(units))
    except BitstreamError as e:
        raise BaseLayerError(f"not a valid Annex-B {codec.upper()} stream: {e}") from None


def access_unit_sizes(data: bytes, codec: str) -> list[int]:
    """Bytes of each access unit (= coded picture for single-layer streams), in decoding order."""
    units, pictures = _pictures(data, codec)
    opening = AU_OPENING_TYPES[codec]
    starts = []
    after_previous = 0  # index of the first NAL unit after the previous picture's last VCL unit
    for picture in pictures:
        first = next((i for i in range(after_previous, picture.prefix_position)
                      if units[i].nal_unit_type in opening), picture.prefix_position)
        starts.append(units[first].start)
        after_previous = picture.last_vcl + 1
    starts[0] = 0  # bytes before the first AU opener (if any) count for picture 0
    bounds = starts + [len(data)]
    return [bounds[k + 1] - bounds[k] for k in range(len(starts))]


def nal_unit_types(data: bytes, codec: str) -> list[int]:
    return [n.nal_unit_type for n in split_nal_units(data, codec)]


def irap_picture_count(data: bytes, codec: str) -> int:
    """Number of coded pictures whose first VCL NAL unit is of an IRAP type."""
    units, pictures = _pictures(data, codec)
    return sum(1 for p in pictures if units[p.first_vcl].nal_unit_type in _IRAP_TYPES[codec])
