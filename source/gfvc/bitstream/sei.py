"""SEI framing: sei_rbsp( ), sei_message( ), sei_payload( ) and the payload registry.

sei_rbsp( ) { do sei_message( ) while( more_rbsp_data( ) ); rbsp_trailing_bits( ) }
sei_message( ) { payloadType and payloadSize as runs of ff_byte (0xFF) + a last byte;
                 sei_payload( payloadType, payloadSize ) }
sei_payload( ) ends with [reserved_payload_extension_data] payload_bit_equal_to_one and
payload_bit_equal_to_zero bits when the payload syntax does not end byte-aligned.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple

from .errors import BitstreamError
from .gfv import PAYLOAD_TYPE_GFV, GfvMessage, GfvPredictionState, generative_face_video
from .gfve import (PAYLOAD_TYPE_GFVE, GfveMessage, GfvePredictionState,
                   generative_face_video_enhancement)
from .nal import NalUnit, codec_nal, make_nal_unit, split_nal_units
from .payloads.entropy_coded_parameters import (ENTROPY_CODED_PARAMETERS_UUID,
                                                EntropyCodedParameters,
                                                gfvc_entropy_coded_parameters)
from .payloads.model_identity import MODEL_IDENTITY_UUID, ModelIdentity, gfvc_model_identity
from .payloads.prediction_modes import PREDICTION_MODES_UUID, PredictionModes, gfvc_prediction_modes
from .payloads.picture_hash import PICTURE_HASH_UUID, PictureHash, gfvc_picture_hash
from .payloads.reference_selection import (REFERENCE_SELECTION_UUID, ReferenceSelection,
                                           gfvc_reference_selection)
from .payloads.residual import RESIDUAL_UUID, Residual, gfvc_residual
from .syntax import SyntaxReader, SyntaxWriter, TraceEntry

PAYLOAD_TYPE_USER_DATA_UNREGISTERED = 5
UUID_BYTES = 16
#: payload types HM lists as suffix-only (SEI::getSuffixPayloadTypes): GFV and GFVE
SUFFIX_ONLY_PAYLOAD_TYPES = (PAYLOAD_TYPE_GFV, PAYLOAD_TYPE_GFVE)


class SeiContext:
    """State that SEI messages of one stream share: the GFV and GFVE prediction states.

    Encoder and decoder each keep one and pass every message through it in stream order.
    """

    def __init__(self) -> None:
        self.gfv = GfvPredictionState()
        self.gfve = GfvePredictionState()

    def copy(self) -> "SeiContext":
        other = SeiContext()
        other.gfv, other.gfve = self.gfv.copy(), self.gfve.copy()
        return other

    def assign(self, other: "SeiContext") -> None:
        self.gfv, self.gfve = other.gfv, other.gfve


@dataclass
class UserDataUnregistered:
    """user_data_unregistered( ) with a UUID that no registered project payload uses."""

    uuid_iso_iec_11578: bytes = bytes(UUID_BYTES)
    user_data_payload_byte: bytes = b""


@dataclass
class RawSeiPayload:
    """A payload type this package does not parse: its bytes as they are."""

    payload_type: int = 0
    payload: bytes = b""


@dataclass(frozen=True)
class PayloadSyntax:
    """How one kind of payload is coded: its payloadType (and UUID for user data)."""

    name: str
    cls: type
    syntax: Callable            # syntax(rw, msg, context: SeiContext) -> msg
    payload_type: int
    uuid: Optional[bytes] = None


def _user_data_unregistered(rw, m: UserDataUnregistered, context) -> UserDataUnregistered:
    m.uuid_iso_iec_11578 = rw.byte_string("uuid_iso_iec_11578", UUID_BYTES, m.uuid_iso_iec_11578)
    m.user_data_payload_byte = rw.rest_bytes("user_data_payload_byte", m.user_data_payload_byte)
    return m


def _raw_payload(rw, m: RawSeiPayload, context) -> RawSeiPayload:
    m.payload = rw.rest_bytes("payload_byte", m.payload)
    return m


#: payloadType -> syntax (user_data_unregistered dispatches on the UUID below)
SEI_PAYLOADS: Dict[int, PayloadSyntax] = {}
#: UUID -> project payload carried in user_data_unregistered
USER_DATA_PAYLOADS: Dict[bytes, PayloadSyntax] = {}
_BY_CLASS: Dict[type, PayloadSyntax] = {}


def register_payload(entry: PayloadSyntax) -> None:
    """Add a payload syntax (payloadType, or UUID for user_data_unregistered)."""
    if entry.uuid is not None:
        if len(entry.uuid) != UUID_BYTES or entry.payload_type != PAYLOAD_TYPE_USER_DATA_UNREGISTERED:
            raise ValueError("a UUID payload is a 16-byte UUID in payloadType 5")
        USER_DATA_PAYLOADS[entry.uuid] = entry
    else:
        SEI_PAYLOADS[entry.payload_type] = entry
    _BY_CLASS[entry.cls] = entry


for _entry in (
    PayloadSyntax("generative_face_video", GfvMessage,
                  lambda rw, m, ctx: generative_face_video(rw, m, ctx.gfv), PAYLOAD_TYPE_GFV),
    PayloadSyntax("generative_face_video_enhancement", GfveMessage,
                  lambda rw, m, ctx: generative_face_video_enhancement(rw, m, ctx.gfve),
                  PAYLOAD_TYPE_GFVE),
    PayloadSyntax("user_data_unregistered", UserDataUnregistered, _user_data_unregistered,
                  PAYLOAD_TYPE_USER_DATA_UNREGISTERED),
    PayloadSyntax("gfvc_reference_selection", ReferenceSelection, gfvc_reference_selection,
                  PAYLOAD_TYPE_USER_DATA_UNREGISTERED, REFERENCE_SELECTION_UUID),
    PayloadSyntax("gfvc_residual", Residual, gfvc_residual,
                  PAYLOAD_TYPE_USER_DATA_UNREGISTERED, RESIDUAL_UUID),
    PayloadSyntax("gfvc_model_identity", ModelIdentity, gfvc_model_identity,
                  PAYLOAD_TYPE_USER_DATA_UNREGISTERED, MODEL_IDENTITY_UUID),
    PayloadSyntax("gfvc_picture_hash", PictureHash, gfvc_picture_hash,
                  PAYLOAD_TYPE_USER_DATA_UNREGISTERED, PICTURE_HASH_UUID),
    PayloadSyntax("gfvc_entropy_coded_parameters", EntropyCodedParameters,
                  gfvc_entropy_coded_parameters, PAYLOAD_TYPE_USER_DATA_UNREGISTERED,
                  ENTROPY_CODED_PARAMETERS_UUID),
    PayloadSyntax("gfvc_prediction_modes", PredictionModes, gfvc_prediction_modes,
                  PAYLOAD_TYPE_USER_DATA_UNREGISTERED, PREDICTION_MODES_UUID),
):
    register_payload(_entry)

_RAW = PayloadSyntax("reserved_message", RawSeiPayload, _raw_payload, -1)


def payload_syntax(payload: object) -> PayloadSyntax:
    if isinstance(payload, RawSeiPayload):
        return _RAW
    try:
        return _BY_CLASS[type(payload)]
    except KeyError:
        raise BitstreamError(f"no SEI payload syntax for {type(payload).__name__}") from None


def _run_payload_syntax(rw, entry: PayloadSyntax, payload: object, context: "SeiContext") -> object:
    if entry.uuid is not None:
        rw.byte_string("uuid_iso_iec_11578", UUID_BYTES, entry.uuid)
    return entry.syntax(rw, payload, context)


# -- writing ----------------------------------------------------------------------------
def write_sei_payload(payload: object, context: SeiContext,
                      trace: bool = False) -> Tuple[int, bytes, object, Optional[List[TraceEntry]]]:
    """(payloadType, payload bytes, reconstructed payload, trace) of one message.

    ``payload`` is not modified; the reconstructed copy holds what a decoder will parse
    (quantised values, inherited elements). Updates ``context`` (prediction state).
    """
    entry = payload_syntax(payload)
    recon = copy.deepcopy(payload)
    rw = SyntaxWriter(trace=trace)
    recon = _run_payload_syntax(rw, entry, recon, context)
    rw.align_with_one()
    payload_type = payload.payload_type if entry is _RAW else entry.payload_type
    return payload_type, rw.getvalue(), recon, rw.trace


def _ff_coded(value: int) -> bytes:
    return b"\xff" * (value // 255) + bytes([value % 255])


def sei_message_bytes(payload_type: int, payload: bytes) -> bytes:
    """sei_message( ): payloadType and payloadSize (0xFF runs) followed by the payload."""
    if payload_type < 0:
        raise BitstreamError(f"payloadType {payload_type} is negative")
    return _ff_coded(payload_type) + _ff_coded(len(payload)) + payload


def write_sei_rbsp(payloads: Sequence[object], context: Optional[SeiContext] = None,
                   reconstructed: Optional[List[object]] = None) -> bytes:
    """sei_rbsp( ) holding the given messages; appends their reconstructions when asked.

    ``context`` changes only when all messages were written.
    """
    if not payloads:
        raise BitstreamError("an SEI NAL unit needs at least one message")
    context = context if context is not None else SeiContext()
    work = context.copy()
    parts = []
    recons = []
    for payload in payloads:
        payload_type, data, recon, _ = write_sei_payload(payload, work)
        parts.append(sei_message_bytes(payload_type, data))
        recons.append(recon)
    context.assign(work)
    if reconstructed is not None:
        reconstructed.extend(recons)
    return b"".join(parts) + b"\x80"


def build_sei_nal(payloads: Sequence[object], codec: str, position: str = "suffix",
                  layer_id: int = 0, temporal_id: int = 0,
                  context: Optional[SeiContext] = None,
                  reconstructed: Optional[List[object]] = None) -> bytes:
    """A prefix or suffix SEI NAL unit (no start code) holding the given messages."""
    spec = codec_nal(codec)
    if position not in ("prefix", "suffix"):
        raise BitstreamError(f"SEI position must be 'prefix' or 'suffix', not {position!r}")
    nal_unit_type = spec.prefix_sei if position == "prefix" else spec.suffix_sei
    if position == "prefix":
        for payload in payloads:
            entry = payload_syntax(payload)
            payload_type = payload.payload_type if entry is _RAW else entry.payload_type
            if payload_type in SUFFIX_ONLY_PAYLOAD_TYPES:
                raise BitstreamError(f"payloadType {payload_type} ({_suffix_only_name(payload_type)}) "
                                     f"is a suffix SEI message (HM lists 223 and 224 as "
                                     f"suffix-only): write it in a suffix SEI NAL unit")
    rbsp = write_sei_rbsp(payloads, context, reconstructed)
    return make_nal_unit(codec, nal_unit_type, rbsp, layer_id, temporal_id)


def _suffix_only_name(payload_type: int) -> str:
    return "generative_face_video" if payload_type == PAYLOAD_TYPE_GFV \
        else "generative_face_video_enhancement"


# -- parsing ----------------------------------------------------------------------------
@dataclass
class SeiMessage:
    """One parsed sei_message( )."""

    payload_type: int
    payload_size: int
    payload: object
    name: str
    offset: int                                # stream offset of its first payloadType byte
    extension_bits: int = 0                    # reserved_payload_extension_data length
    trace: Optional[List[TraceEntry]] = field(default=None, repr=False)
    #: conformance remarks that do not stop parsing (e.g. a suffix-only message in a prefix SEI)
    warnings: List[str] = field(default_factory=list)


def _ff_read(rbsp: bytes, pos: int, what: str, locate) -> Tuple[int, int]:
    value = 0
    while True:
        if pos >= len(rbsp):
            raise BitstreamError(f"sei_message: {what} runs past the end of the SEI NAL unit",
                                 locate(pos))
        byte = rbsp[pos]
        pos += 1
        value += byte
        if byte != 0xFF:
            return value, pos


def parse_sei_payload(payload_type: int, data: bytes, context: SeiContext, trace: bool = False,
                      locate: Optional[Callable[[int], int]] = None
                      ) -> Tuple[PayloadSyntax, object, int, Optional[List[TraceEntry]]]:
    """(syntax, payload object, extension bits, trace) of one payload's bytes."""
    reader = SyntaxReader(data, locate, trace)
    entry = SEI_PAYLOADS.get(payload_type)
    if entry is None:
        entry = _RAW
        msg = _raw_payload(reader, RawSeiPayload(payload_type), context)
    elif payload_type == PAYLOAD_TYPE_USER_DATA_UNREGISTERED and len(data) >= UUID_BYTES \
            and data[:UUID_BYTES] in USER_DATA_PAYLOADS:
        entry = USER_DATA_PAYLOADS[data[:UUID_BYTES]]
        reader.byte_string("uuid_iso_iec_11578", UUID_BYTES)
        msg = entry.syntax(reader, entry.cls(), context)
    else:
        msg = entry.syntax(reader, entry.cls(), context)
    extension = reader.payload_extension_bits(entry.name)
    return entry, msg, extension, reader.trace


def parse_sei_rbsp(rbsp: bytes, context: Optional[SeiContext] = None, trace: bool = False,
                   locate: Optional[Callable[[int], int]] = None) -> List[SeiMessage]:
    """All sei_message( )s of an sei_rbsp( ). ``locate`` maps rbsp offsets to stream offsets."""
    context = context if context is not None else SeiContext()
    locate = locate or (lambda i: i)
    messages: List[SeiMessage] = []
    pos = 0
    while True:
        left = len(rbsp) - pos
        if left == 1 and rbsp[pos] == 0x80:
            return messages
        if left <= 1:
            what = ("no rbsp_trailing_bits" if left == 0
                    else f"rbsp_trailing_bits is {rbsp[pos]:#04x}, not 0x80")
            raise BitstreamError(f"sei_rbsp: {what}", locate(pos))
        start = pos
        payload_type, pos = _ff_read(rbsp, pos, "payloadType", locate)
        payload_size, pos = _ff_read(rbsp, pos, "payloadSize", locate)
        if pos + payload_size > len(rbsp):
            raise BitstreamError(f"sei_message: payloadSize {payload_size} exceeds the "
                                 f"{len(rbsp) - pos} bytes left in the SEI NAL unit", locate(start))
        base = pos
        entry, msg, extension, entries = parse_sei_payload(
            payload_type, rbsp[pos:pos + payload_size], context, trace,
            lambda i, base=base: locate(base + i))
        messages.append(SeiMessage(payload_type, payload_size, msg, entry.name, locate(start),
                                   extension, entries))
        pos += payload_size


def parse_sei_nal(nal: NalUnit, context: Optional[SeiContext] = None,
                  trace: bool = False) -> List[SeiMessage]:
    """The messages of a prefix or suffix SEI NAL unit; offsets are stream offsets."""
    if not nal.is_sei:
        raise BitstreamError(f"{nal.type_name} is not an SEI NAL unit", nal.offset)
    messages = parse_sei_rbsp(nal.rbsp, context, trace, nal.stream_offset)
    if nal.is_prefix_sei:
        for msg in messages:
            if msg.payload_type in SUFFIX_ONLY_PAYLOAD_TYPES:
                msg.warnings.append(f"payloadType {msg.payload_type} ({msg.name}) in a prefix SEI "
                                    f"NAL unit at byte offset {nal.offset}: HM lists it as "
                                    f"suffix-only")
    return messages


def read_sei_messages(stream: bytes, codec: str, context: Optional[SeiContext] = None,
                      trace: bool = False) -> Iterator[Tuple[NalUnit, List[SeiMessage]]]:
    """(NAL unit, its messages) for every SEI NAL unit of a stream, in stream order."""
    context = context if context is not None else SeiContext()
    for nal in split_nal_units(stream, codec):
        if nal.is_sei:
            yield nal, parse_sei_nal(nal, context, trace)
