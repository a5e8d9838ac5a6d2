"""The GFVC stream as access units: writing (encoder) and reading (decoder) mirror each other.

The encoder hands over base-layer streams (one per segment, from the real HEVC/VVC encoder)
and the SEI messages that belong to each of their pictures; :class:`StreamWriter` splices the
SEI NAL units in (prefix SEI after the parameter sets, suffix SEI after the last VCL NAL unit,
with the picture's nuh_layer_id and TemporalId) and concatenates the segments into ONE
Annex-B stream. :func:`read_stream` splits such a stream back into pictures with the parsed
messages of each, in stream order, through one prediction state.

:func:`rate_breakdown` attributes every byte of a stream to one category; the categories sum
exactly to the file size (design rule 2).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

from ..bitstream import BitstreamError, GfvMessage
from ..bitstream.access_unit import find_pictures
from ..bitstream.nal import START_CODE, NalUnit, codec_nal, make_nal_unit, split_nal_units
from ..coding.face_parameters import fit_prediction
from ..bitstream.sei import (SeiContext, SeiMessage, parse_sei_nal, sei_message_bytes,
                             write_sei_payload)

#: rate-breakdown category of each SEI payload name (gfvc.bitstream.sei registry names)
PAYLOAD_CATEGORY = {
    "generative_face_video": "gfv_sei",
    "generative_face_video_enhancement": "gfve_sei",
    "gfvc_reference_selection": "reference_selection",
    "gfvc_residual": "residual",
    "gfvc_model_identity": "model_identity",
    "gfvc_picture_hash": "picture_hash",
    "gfvc_entropy_coded_parameters": "entropy_coded_parameters",
    "gfvc_prediction_modes": "prediction_modes",
}
RATE_CATEGORIES = ("key_picture_vcl", "base_layer_vcl", "parameter_sets", "gfv_sei", "entropy_coded_parameters",
                   "gfve_sei",
                   "reference_selection", "residual", "prediction_modes", "model_identity", "picture_hash", "other_sei",
                   "sei_framing")


@dataclass
class WrittenMessage:
    """One SEI message as written: its sei_message( ) bytes and the decoder's view of it."""

    payload_type: int
    payload_bytes: bytes
    reconstructed: object          # what a decoder parses (quantised values, inherited elements)

    @property
    def sei_message(self) -> bytes:
        return sei_message_bytes(self.payload_type, self.payload_bytes)


class MessageWriter:
    """Writes SEI messages in stream order through the encoder's prediction state.

    The encoder must write messages in exactly the order they appear in the stream, because
    GFV prediction chains through them (the decoder parses them in that order).
    """

    def __init__(self) -> None:
        self.context = SeiContext()

    def write(self, payload: object) -> WrittenMessage:
        if isinstance(payload, GfvMessage):
            # prediction only where the previous message can serve as predictor (FV2V's first
            # generated picture: its base message carries one more matrix type)
            fit_prediction(payload, self.context)
        payload_type, data, recon, _ = write_sei_payload(payload, self.context)
        return WrittenMessage(payload_type, data, recon)

    def snapshot(self) -> SeiContext:
        return self.context.copy()

    def restore(self, snapshot: SeiContext) -> None:
        self.context = snapshot.copy()


@dataclass
class PictureSei:
    """The SEI NAL units to add to one base-layer picture: each inner list is one NAL unit."""

    prefix: List[List[WrittenMessage]] = field(default_factory=list)
    suffix: List[List[WrittenMessage]] = field(default_factory=list)


def pack(messages: Sequence, per_nal: int) -> List[List[WrittenMessage]]:
    """Group messages into SEI NAL units of at most ``per_nal`` messages (0: all in one). An
    element that is a list (a GFV message and the picture's residual message) stays in one NAL
    unit and counts as one."""
    units = [m if isinstance(m, list) else [m] for m in messages]
    if not units:
        return []
    if per_nal <= 0:
        per_nal = len(units)
    return [[m for unit in units[i:i + per_nal] for m in unit] for i in range(0, len(units), per_nal)]


def _sei_nal(codec: str, position: str, messages: Sequence[WrittenMessage], layer_id: int,
             temporal_id: int) -> bytes:
    spec = codec_nal(codec)
    rbsp = b"".join(m.sei_message for m in messages) + b"\x80"
    nut = spec.prefix_sei if position == "prefix" else spec.suffix_sei
    return make_nal_unit(codec, nut, rbsp, layer_id, temporal_id)


def _with_start_code(nal: bytes) -> bytes:
    return b"\x00" + START_CODE + nal


class StreamWriter:
    """Concatenates base-layer segment streams with their pictures' SEI into one stream."""

    def __init__(self, codec: str) -> None:
        self.codec = codec
        self._parts: List[bytes] = []
        self.num_pictures = 0

    def add_segment(self, base_stream: bytes, sei: Sequence[PictureSei]) -> None:
        """``base_stream``: an encoder's Annex-B output; ``sei[i]``: what picture i of it gets."""
        nals = split_nal_units(base_stream, self.codec)
        pictures = find_pictures(nals)
        if len(pictures) != len(sei):
            raise BitstreamError(f"segment has {len(pictures)} pictures but SEI for {len(sei)} was given")
        insert_before: Dict[int, List[bytes]] = {}
        insert_after: Dict[int, List[bytes]] = {}
        for pic, extra in zip(pictures, sei):
            for msgs in extra.prefix:
                insert_before.setdefault(pic.prefix_position, []).append(
                    _sei_nal(self.codec, "prefix", msgs, pic.layer_id, pic.temporal_id))
            for msgs in extra.suffix:
                insert_after.setdefault(pic.last_vcl, []).append(
                    _sei_nal(self.codec, "suffix", msgs, pic.layer_id, pic.temporal_id))
        out = []
        for i, nal in enumerate(nals):
            out.extend(_with_start_code(n) for n in insert_before.get(i, ()))
            out.append(base_stream[nal.start:nal.end])
            out.extend(_with_start_code(n) for n in insert_after.get(i, ()))
        self._parts.append(b"".join(out))
        self.num_pictures += len(pictures)

    def getvalue(self) -> bytes:
        return b"".join(self._parts)


# -- reading --------------------------------------------------------------------------------
@dataclass
class StreamPicture:
    """One coded base-layer picture of a stream and the SEI messages that belong to it."""

    index: int                                  # decoding order (= output order of the base layer)
    irap: bool
    layer_id: int
    temporal_id: int
    messages: List[SeiMessage] = field(default_factory=list)
    nal_indices: List[int] = field(default_factory=list)


@dataclass
class ParsedStream:
    codec: str
    nals: List[NalUnit]
    pictures: List[StreamPicture]


def read_stream(stream: bytes, codec: str) -> ParsedStream:
    """Split a stream into pictures and parse every SEI message in stream order.

    A prefix SEI NAL unit belongs to the next picture, a suffix SEI NAL unit to the picture
    before it. Raises BitstreamError for malformed data, SEI outside any picture included.
    """
    nals = split_nal_units(stream, codec)
    found = find_pictures(nals)
    if not found:
        raise BitstreamError("the stream holds no coded picture", 0)
    pictures = [StreamPicture(p.index, is_irap(codec, nals[p.first_vcl]), p.layer_id, p.temporal_id)
                for p in found]
    # owner of each NAL unit: pictures own [first NAL after the previous picture's last VCL ..
    # their last VCL] plus the suffix SEI that follow it
    owner = [0] * len(nals)
    pi = 0
    for i, nal in enumerate(nals):
        while pi + 1 < len(found) and i > found[pi].last_vcl and not (nal.is_sei and not nal.is_prefix_sei):
            pi += 1
        owner[i] = pi
    context = SeiContext()
    for i, nal in enumerate(nals):
        pic = pictures[owner[i]]
        pic.nal_indices.append(i)
        if nal.is_sei:
            if not nal.is_prefix_sei and i < found[owner[i]].first_vcl:
                raise BitstreamError("a suffix SEI NAL unit comes before the first picture", nal.offset)
            pic.messages.extend(parse_sei_nal(nal, context))
    return ParsedStream(codec, nals, pictures)


def is_irap(codec: str, nal: NalUnit) -> bool:
    # HEVC: BLA/IDR/CRA are 16..21 (+ reserved 22, 23); VVC: IDR_W_RADL 7, IDR_N_LP 8, CRA 9 (+ GDR 10 is not IRAP)
    t = nal.nal_unit_type
    return 16 <= t <= 23 if codec == "hevc" else 7 <= t <= 9


def rate_breakdown(stream: bytes, codec: str, key_pictures: Sequence[int],
                   parsed: Optional[ParsedStream] = None) -> Dict[str, int]:
    """Bytes of each category; the values sum to ``len(stream)`` exactly.

    VCL NAL units (with their start codes) are key-picture or other base-layer bytes,
    non-VCL non-SEI NAL units are parameter sets (VPS/SPS/PPS/APS, AUD, ...), SEI payload
    bytes go to their payload's category, and the SEI NAL units' start codes, NAL headers,
    sei_message headers, emulation prevention and trailing bits are ``sei_framing``.
    """
    parsed = parsed or read_stream(stream, codec)
    keys = set(key_pictures)
    out = {name: 0 for name in RATE_CATEGORIES}
    pic_of_nal = {}
    for pic in parsed.pictures:
        for i in pic.nal_indices:
            pic_of_nal[i] = pic.index
    first = parsed.nals[0].start if parsed.nals else 0
    out["parameter_sets"] += first  # bytes before the first start code (none in our streams)
    for i, nal in enumerate(parsed.nals):
        total = nal.end - nal.start
        nxt = parsed.nals[i + 1].start if i + 1 < len(parsed.nals) else len(stream)
        total += nxt - nal.end   # trailing zero bytes belong to the NAL unit before them
        if nal.is_vcl:
            out["key_picture_vcl" if pic_of_nal.get(i) in keys else "base_layer_vcl"] += total
        elif nal.is_sei:
            payload = 0
            pic = parsed.pictures[pic_of_nal[i]]   # its messages that lie inside this NAL unit
            for msg in (m for m in pic.messages if nal.offset <= m.offset < nal.end):
                cat = PAYLOAD_CATEGORY.get(msg.name, "other_sei")
                out[cat] += msg.payload_size
                payload += msg.payload_size
            out["sei_framing"] += total - payload
        else:
            out["parameter_sets"] += total
    assert sum(out.values()) == len(stream), (out, len(stream))
    return out
