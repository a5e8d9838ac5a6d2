"""Coded pictures in a NAL unit list, and splicing SEI NAL units into a stream from any encoder.

A new picture starts at a VCL NAL unit that is the first of its picture:
- HEVC: first_slice_segment_in_pic_flag (the first bit of the slice segment header) is 1;
- VVC: a picture header NAL unit (PH_NUT) precedes it, or sh_picture_header_in_slice_header_flag
  (the first bit of the slice header) is 1;
- in both, a VCL NAL unit of another nuh_layer_id than the previous one starts a new picture.
Pictures are numbered in decoding order from 0; with one layer this is the access-unit index.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, List, Mapping, Optional, Sequence, Tuple, Union

from .errors import BitstreamError
from .nal import START_CODE, NalUnit, codec_nal, split_nal_units


@dataclass(frozen=True)
class Picture:
    """One coded picture: NAL-unit indices into the list it was found in."""

    index: int
    first_vcl: int
    last_vcl: int
    prefix_position: int     # prefix SEI goes before this NAL unit (first VCL, or VVC's PH)
    layer_id: int
    temporal_id: int


def find_pictures(nals: Sequence[NalUnit]) -> List[Picture]:
    """The coded pictures of a NAL unit list, in decoding order."""
    pictures: List[Picture] = []
    ph_index: Optional[int] = None
    current: Optional[List[int]] = None   # [first_vcl, last_vcl, prefix_position]
    layer = tid = -1

    def close() -> None:
        if current is not None:
            pictures.append(Picture(len(pictures), current[0], current[1], current[2], layer, tid))

    for i, nal in enumerate(nals):
        spec = codec_nal(nal.codec)
        if nal.nal_unit_type == spec.picture_header:
            ph_index = i
            continue
        if not nal.is_vcl:
            continue
        if len(nal.data) < 3:
            raise BitstreamError("VCL NAL unit without a slice header", nal.offset)
        first_bit = nal.data[2] >> 7   # never an emulation prevention byte: follows the header
        starts = current is None or first_bit == 1 or ph_index is not None \
            or nal.layer_id != layer
        if starts:
            close()
            current = [i, i, ph_index if ph_index is not None else i]
            layer, tid = nal.layer_id, nal.temporal_id
        else:
            current[1] = i
        ph_index = None
    close()
    return pictures


SeiSource = Union[Mapping[int, Sequence[object]], Callable[[int], Optional[Sequence[object]]]]


def splice(data: bytes, insertions: Sequence[Tuple[int, bytes]]) -> bytes:
    """Insert NAL units (bytes without start code) at stream byte positions, each with a
    4-byte start code; stable for equal positions."""
    out: List[bytes] = []
    last = 0
    for pos, nal in sorted(insertions, key=lambda item: item[0]):
        out.append(data[last:pos])
        out.append(b"\x00" + START_CODE + nal)
        last = pos
    out.append(data[last:])
    return b"".join(out)


def insert_sei(stream: bytes, codec: str, messages: SeiSource, position: str = "suffix",
               context=None) -> bytes:
    """Insert one SEI NAL unit per picture into an existing Annex-B stream.

    ``messages`` maps the picture index (decoding order) to the SEI messages of that picture
    (a mapping or a function; empty or None: nothing inserted). ``position`` is ``"prefix"``
    (before the first VCL NAL unit of the picture, after its parameter sets and existing
    prefix SEI) or ``"suffix"`` (right after the last VCL NAL unit of the picture). The SEI
    NAL unit takes the nuh_layer_id and TemporalId of its picture. ``context`` is the
    :class:`~gfvc.bitstream.sei.SeiContext` whose prediction state the messages are written
    with (a fresh one when None). The bytes of the original NAL units are kept unchanged.
    """
    from .sei import SeiContext, build_sei_nal

    if position not in ("prefix", "suffix"):
        raise BitstreamError(f"SEI position must be 'prefix' or 'suffix', not {position!r}")
    context = context if context is not None else SeiContext()
    lookup = messages if callable(messages) else messages.get
    nals = split_nal_units(stream, codec)
    insertions: List[Tuple[int, bytes]] = []
    for pic in find_pictures(nals):
        msgs = lookup(pic.index)
        if not msgs:
            continue
        nal = build_sei_nal(msgs, codec, position, pic.layer_id, pic.temporal_id, context)
        at = nals[pic.prefix_position].start if position == "prefix" else nals[pic.last_vcl].end
        insertions.append((at, nal))
    return splice(stream, insertions)
