"""Structure-aware fuzzing of NAL splitting, SEI parsing and gfvc-seidump.

A seed stream holds valid GFV and GFVE chains (base and predicted messages, every matrix
type family, z coordinates, neural-network URIs and payload bytes, chroma keys, pupils) and
every project payload. Each payload is written with a traced :class:`SyntaxWriter`, so the
fuzzer knows where every syntax element starts and ends. A case changes one or two SEI NAL
units of the seed at the level of the syntax:

- an element gets another value: 0, +-1, huge ue(v) up to 2^32 - 2, random u(n), bytes;
  counts and sizes (``*num*``, ``*minus1``, ``*info*``, ``*bytes*``, widths, heights) are
  chosen more often;
- an ue(v) gets 32 or more leading zeros; an element is deleted, duplicated, or gets
  random bits in front of it; the payload is truncated inside or at an element;
- payloadSize too small, too large or a long 0xFF run; payloadType swapped; trailing bits
  broken; messages reordered or duplicated (prediction without its reference);
- emulation prevention: bytes not escaped, an emulation_prevention_three_byte removed or
  inserted, a start code or 00 00 00 inside the NAL unit; prefix and suffix swapped;
- and, for one case in eight, byte-level mutations of the whole stream (bit flips, byte
  overwrites, insertions, deletions, truncation, 0xFF runs, spliced start codes).

Every case is parsed through the API (``split_nal_units`` + ``parse_sei_nal`` with one
prediction context, with or without element tracing) or through ``gfvc-seidump``'s dump
(text or JSON) or its ``main`` on a file. The only acceptable outcomes are a clean parse and
:class:`BitstreamError` with a byte offset inside the stream; anything else is a crash,
reported with the case number and the stream bytes. Per case the wall time and (optionally)
the tracemalloc peak of Python allocations are measured. Cases are deterministic: case ``i``
of seed ``s`` is always the same stream.

    python -m gfvc.bitstream.fuzz --cases 100000 [--seed S] [--first N] [--memory-every K]
                                  [--address-space-mb MB] [--progress N] [--json FILE]
    python -m gfvc.bitstream.fuzz --bench           # GFV parse time at 16..128 KB
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import random
import re
import sys
import tempfile
import time
import tracemalloc
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from .errors import BitstreamError
from .gfv import GfvMatrixSet, GfvMessage, GfvPredictionState, generative_face_video
from .gfve import GfveMessage
from .nal import add_emulation_prevention, annexb, make_nal_unit, nal_header, split_nal_units
from .payloads import (GeneratedPictureReferences, ModelIdentity, PictureHash, PredictionModes, ReferenceSelection,
                       Residual, ResidualLatent)
from .sei import (RawSeiPayload, SeiContext, UserDataUnregistered, parse_sei_nal,
                  sei_message_bytes, write_sei_payload)
from .syntax import UE_MAX, SyntaxReader, TraceEntry

CODEC = "hevc"
PREFIX_SEI, SUFFIX_SEI = 39, 40
DEFAULT_SEED = 20261125
# counts and sizes: what the parser allocates for; then elements that steer the syntax
_COUNT_NAME = re.compile(r"num_|_minus1|_info|_bytes|width|height")
_STEERING_NAME = re.compile(r"idx|precision|flag|cnt|_id\b|_id\[")


# -- the seed stream -----------------------------------------------------------------------
@dataclass
class SeedMessage:
    """One written SEI message: payloadType, payload as a bit string, its element trace."""

    payload_type: int
    bits: str
    trace: List[TraceEntry]


@dataclass
class SeedUnit:
    """A NAL unit of the seed stream: raw bytes (non-SEI) or SEI messages."""

    data: bytes = b""
    messages: Optional[List[SeedMessage]] = None
    nal_unit_type: int = 0


def _gfv_messages() -> List[List[object]]:
    """Per picture (a base and a predicted one): the GFV/GFVE messages of a valid chain."""
    pictures = []
    for i in range(2):
        base = i == 0
        gfv = GfvMessage(
            gfv_cnt=i, gfv_base_picture_flag=base, gfv_drive_picture_fusion_flag=i == 1,
            gfv_coordinate_present_flag=True, gfv_kps_pred_flag=True,
            gfv_coordinate_precision_factor_minus1=4, gfv_coordinate_z_present_flag=True,
            gfv_coordinate_z_max_value_minus1=255,
            gfv_coordinate_x=[0.5, -1.25 + i], gfv_coordinate_y=[2.0, -0.5 * i],
            gfv_coordinate_z=[1.0, 2.0 + i],
            gfv_matrix_present_flag=True, gfv_matrix_pred_flag=i > 0,
            gfv_matrix_element_precision_factor_minus1=3,
            gfv_matrix_sets=[
                GfvMatrixSet(0, [[[1.0, 0.5, 0.0], [-0.25, 1.0 + i, 0.0], [0.0, 0.0, 1.0]]] * 2,
                             gfv_num_matrices_equal_to_num_kps_flag=True),
                GfvMatrixSet(1, [[[0.5] * 3] * 3], gfv_num_matrices_info=1),
                GfvMatrixSet(2, [[[0.125 * i, 1.0], [2.0, -3.5]]],
                             gfv_matrix_width_minus1=1, gfv_matrix_height_minus1=1),
                GfvMatrixSet(4, [[[1.0, 0.0, 0.5]] * 3]),
                GfvMatrixSet(9, [[[0.1 * i, 7.0]]] * 2, gfv_num_matrices_minus1=1,
                             gfv_matrix_width_minus1=1)],
            gfv_nn_present_flag=base, gfv_nn_mode_idc=1 if base else 0,
            gfv_nn_tag_uri="urn:gfvc:tag" if base else "", gfv_nn_uri="urn:x" if base else "",
            gfv_chroma_key_info_present_flag=base,
            gfv_chroma_key_value=[16, None, 128] if base else [None] * 3,
            gfv_chroma_key_thr_value=[None, 1000] if base else [None] * 2)
        # a second gfv_id: matrices only (3-D type 6 without coordinates), nn payload bytes
        other = GfvMessage(gfv_id=1, gfv_cnt=i, gfv_base_picture_flag=base,
                           gfv_matrix_present_flag=True, gfv_matrix_pred_flag=i > 0,
                           gfv_matrix_element_precision_factor_minus1=7,
                           gfv_matrix_sets=[GfvMatrixSet(6, [[[1.0], [0.5 + i], [0.25]]],
                                                         gfv_matrix_3d_space_flag=True),
                                            GfvMatrixSet(3, [[[1.0, -0.5]]], gfv_matrix_width_minus1=1)],
                           gfv_nn_present_flag=base, gfv_nn_mode_idc=0,
                           gfv_nn_payload=b"\x00\x00\x01\x03nn" if base else b"")
        gfve = GfveMessage(gefv_gfv_cnt=i, gefv_base_picture_flag=base,
                           gefv_nn_present_flag=base, gefv_nn_mode_idc=1 if base else 0,
                           gefv_nn_tag_uri="t" if base else "", gefv_nn_uri="u" if base else "",
                           gefv_matrix_present_flag=True, gefv_matrix_pred_flag=i == 1,
                           gefv_matrix_element_precision_factor_minus1=5,
                           gefv_matrices=[[[0.5, 1.5]], [[-1.0], [2.0 + i]]],
                           gefv_pupil_coordinate_precision_factor_minus1=6,
                           gefv_pupil_left_eye=(0.25, 0.5 * i),
                           gefv_pupil_right_eye=(-0.75, 1.0) if base else None)
        pictures.append([gfv, other, gfve])
    return pictures


def _project_messages(i: int) -> List[object]:
    messages: List[object] = [
        ReferenceSelection(0, i, [0, 3] if i else [],
                           [GeneratedPictureReferences(i, 4, [i, 0], [0.5, -0.25]),
                            GeneratedPictureReferences(i + 1, 0, [1], [1.0])]),
        Residual(0, i, 1 + i % 2, 3, [ResidualLatent((2, 2), b"\x00\x00\x01\x02"),
                                      ResidualLatent((1, 3, 1), b"\xff")]),
        PictureHash(i, 1, i % 2, bytes(range(16))),
        PredictionModes(0, 1 + i, [1, 0, 1][: 1 + i % 3]),
        RawSeiPayload(180, b"\x00\x00\x00"),
        UserDataUnregistered(bytes(range(16)), b"other"),
    ]
    if i == 0:
        messages.insert(0, ModelIdentity("fomm", b"12345678", b"abcdefgh", 0))
    return messages


def _written(payloads: List[object], context: SeiContext) -> List[SeedMessage]:
    out = []
    for payload in payloads:
        payload_type, data, _, trace = write_sei_payload(payload, context, trace=True)
        bits = format(int.from_bytes(data, "big"), f"0{8 * len(data)}b") if data else ""
        out.append(SeedMessage(payload_type, bits, trace))
    return out


def seed_units() -> List[SeedUnit]:
    """The seed stream: parameter sets, then per picture a VCL NAL unit, a prefix SEI with
    the project payloads and a suffix SEI with GFV (two gfv_ids) and GFVE."""
    context = SeiContext()
    units = [SeedUnit(make_nal_unit(CODEC, 32, b"\x0c\x01\xff\xff")),
             SeedUnit(make_nal_unit(CODEC, 33, b"\x01\x01"))]
    for i, gfv in enumerate(_gfv_messages()):
        units.append(SeedUnit(messages=_written(_project_messages(i), context),
                              nal_unit_type=PREFIX_SEI))
        units.append(SeedUnit(make_nal_unit(CODEC, 19 if i == 0 else 1, b"\x80\x55\x66")))
        units.append(SeedUnit(messages=_written(gfv, context), nal_unit_type=SUFFIX_SEI))
    return units


def _bits_to_bytes(bits: str) -> bytes:
    return int(bits, 2).to_bytes(len(bits) // 8, "big") if bits else b""


def _sei_nal(nal_unit_type: int, messages: List[Tuple[int, bytes]], rbsp_tail: bytes = b"\x80",
             escape: bool = True) -> bytes:
    rbsp = b"".join(sei_message_bytes(t, p) for t, p in messages) + rbsp_tail
    body = add_emulation_prevention(rbsp) if escape else rbsp
    return nal_header(CODEC, nal_unit_type) + body


def seed_stream() -> bytes:
    """The seed stream as Annex-B bytes (every message parses cleanly)."""
    return annexb([_unit_bytes(u) for u in seed_units()])


def _unit_bytes(unit: SeedUnit) -> bytes:
    if unit.messages is None:
        return unit.data
    return _sei_nal(unit.nal_unit_type, [(m.payload_type, _bits_to_bytes(m.bits)) for m in unit.messages])


def stream_with_element(units: List[SeedUnit], unit: int, message: int, name: str,
                        new_bits: str) -> bytes:
    """The seed stream with element ``name`` of one message recoded as ``new_bits`` (a
    string of 0/1), the payload padded with payload_bit_equal_to_zero bits; the stream ends
    after the changed NAL unit."""
    seed = units[unit].messages[message]
    k = next(k for k, e in enumerate(seed.trace) if e.name == name)
    end = seed.trace[k + 1].bit_pos if k + 1 < len(seed.trace) else len(seed.bits)
    bits = seed.bits[:seed.trace[k].bit_pos] + new_bits + seed.bits[end:]
    bits += "0" * (-len(bits) % 8)
    payloads = [(m.payload_type, _bits_to_bytes(bits if j == message else m.bits))
                for j, m in enumerate(units[unit].messages)]
    return annexb([_unit_bytes(u) for u in units[:unit]] +
                  [_sei_nal(units[unit].nal_unit_type, payloads)])


# -- element encodings ---------------------------------------------------------------------
def ue_bits(value: int) -> str:
    code = format(value + 1, "b")
    return "0" * (len(code) - 1) + code


def se_bits(value: int) -> str:
    return ue_bits(2 * value - 1 if value > 0 else -2 * value)


def _new_value_bits(entry: TraceEntry, rng: random.Random) -> str:
    d, v = entry.descriptor, entry.value
    if d == "ue(v)":
        choice = rng.randrange(8)
        if choice == 0:
            new = 0
        elif choice == 1:
            new = min(UE_MAX, int(v) + rng.choice((1, 2, 255)))
        elif choice == 2:
            new = max(0, int(v) - 1)
        elif choice == 3:
            new = UE_MAX
        elif choice == 4:
            new = (1 << rng.randint(1, 32)) - 2
        elif choice == 5:
            new = rng.choice((1 << 28, 1 << 31, (1 << 32) - 3, 1023, 1024, 65535, 65536, 31, 32, 33))
        else:
            new = rng.randrange(UE_MAX + 1) >> rng.randrange(32)
        return ue_bits(new)
    if d == "se(v)":
        mag = rng.choice((0, 1, (1 << 31) - 1, rng.randrange(1 << 31) >> rng.randrange(31)))
        return se_bits(mag if rng.random() < 0.5 else -mag)
    m = re.fullmatch(r"[uf]\((\d+)\)", d)
    if m:
        n = int(m.group(1))
        new = rng.choice((0, (1 << n) - 1, rng.getrandbits(n), int(v) ^ 1 if v is not None else 0))
        return format(new & ((1 << n) - 1), f"0{n}b") if n else ""
    if d == "st(v)":
        text = rng.choice((b"", b"\xff\xfe", b"x" * rng.randint(1, 300), b"\xc3"))
        terminator = b"" if rng.random() < 0.3 else b"\x00"
        return "".join(format(b, "08b") for b in text + terminator)
    # b(8)xN and byte strings: other bytes of another length
    n = rng.choice((0, 1, 15, 16, 17, rng.randint(0, 40)))
    return "".join(format(rng.randrange(256), "08b") for _ in range(n))


def _mutate_message(msg: SeedMessage, rng: random.Random, ops: List[str]) -> str:
    """The payload bits of ``msg`` after 1..3 element-level mutations."""
    bits = msg.bits
    entries = msg.trace
    bounds = [(e.bit_pos, entries[k + 1].bit_pos if k + 1 < len(entries) else len(msg.bits))
              for k, e in enumerate(entries)]
    counts = [k for k, e in enumerate(entries) if _COUNT_NAME.search(e.name)]
    steering = [k for k, e in enumerate(entries) if _STEERING_NAME.search(e.name)]
    shift_at, shift = 0, 0
    for _ in range(rng.choice((1, 1, 2, 3))):
        if not entries:
            break
        pick = rng.random()
        is_count = bool(counts) and pick < 0.5
        if is_count:
            k = rng.choice(counts)
        elif steering and pick < 0.75:
            k = rng.choice(steering)
        else:
            k = rng.randrange(len(entries))
        start, end = bounds[k]
        if start >= shift_at:
            start, end = start + shift, end + shift
        elif end > shift_at:
            continue                      # overlaps an earlier edit: skip
        op = rng.choices(("value", "overlong", "delete", "duplicate", "insert", "flip", "truncate"),
                         (8, 1, 1, 1, 1, 1, 1))[0]
        ops.append(op)
        old = bits[start:end]
        if op == "value" and is_count and entries[k].descriptor == "ue(v)" and rng.random() < 0.6:
            new = ue_bits(rng.choice((UE_MAX, UE_MAX - 1, 1 << 28, 1 << 31, (1 << 20) - 1)))
        elif op == "value":
            new = _new_value_bits(entries[k], rng)
        elif op == "overlong":
            new = "0" * rng.randint(32, 48) + "1" + "".join(rng.choice("01") for _ in range(32))
        elif op == "delete":
            new = ""
        elif op == "duplicate":
            new = old + old
        elif op == "insert":
            new = "".join(rng.choice("01") for _ in range(rng.randint(1, 40))) + old
        elif op == "flip" and old:
            i = rng.randrange(len(old))
            new = old[:i] + ("1" if old[i] == "0" else "0") + old[i + 1:]
        else:                             # truncate inside or at the element
            bits = bits[:start + rng.randint(0, len(old))]
            break
        bits = bits[:start] + new + bits[end:]
        shift_at, shift = max(shift_at, end - shift), shift + len(new) - len(old)
    if len(bits) % 8:
        pad = 8 - len(bits) % 8
        bits += "0" * pad if rng.random() < 0.6 else "1" + "0" * (pad - 1)
    return bits


def mutate_bytes(data: bytes, rng: random.Random) -> bytes:
    """1-4 byte-level mutations of a whole stream."""
    buf = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(8)
        pos = rng.randrange(len(buf)) if buf else 0
        if op == 0 and buf:
            buf[pos] ^= 1 << rng.randrange(8)
        elif op == 1 and buf:
            buf[pos] = rng.randrange(256)
        elif op == 2:
            buf[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 4)))
        elif op == 3 and buf:
            del buf[pos:pos + rng.randint(1, 8)]
        elif op == 4:
            del buf[pos:]                                   # truncation
        elif op == 5:
            buf[pos:pos] = b"\xff" * rng.randint(1, 300)    # payloadType/Size 0xFF runs
        elif op == 6:
            buf[pos:pos] = b"\x00\x00\x01"                  # a start code in the middle
        else:
            buf[pos:pos + 1] = b"\x00"
    return bytes(buf)


def _mutate_unit(unit: SeedUnit, rng: random.Random, ops: List[str]) -> bytes:
    messages = [(m.payload_type, m.bits, m) for m in unit.messages]
    # messages with more counts and sizes are chosen more often
    weights = [1 + sum(1 for e in m.trace if _COUNT_NAME.search(e.name)) for m in unit.messages]
    k = rng.choices(range(len(messages)), weights)[0]
    payload_type, _, seed_msg = messages[k]
    payloads: List[Tuple[int, bytes]] = []
    for j, (t, bits, m) in enumerate(messages):
        if j == k and rng.random() < 0.8:
            bits = _mutate_message(m, rng, ops)
        payloads.append((t, _bits_to_bytes(bits)))
    nal_unit_type, tail, escape, size_fix = unit.nal_unit_type, b"\x80", True, None
    for _ in range(rng.randint(1, 2) if rng.random() < 0.35 else 0):
        op = rng.choice(("size", "type", "tail", "order", "copy", "epb", "noescape", "position"))
        ops.append(op)
        if op == "size":
            size_fix = rng.choice((0, 1, 254, 255, 256, 255 * 40, -1, 1 << 20))
        elif op == "type":
            t, p = payloads[k]
            payloads[k] = (rng.choice((223, 224, 5, 180, 255, 0x1FF)), p)
        elif op == "tail":
            tail = rng.choice((b"", b"\x00", b"\x81", b"\x80\x00", b"\x40"))
        elif op == "order":
            rng.shuffle(payloads)
        elif op == "copy":
            payloads.insert(rng.randrange(len(payloads) + 1), rng.choice(payloads))
        elif op == "noescape":
            escape = False
        elif op == "position":
            nal_unit_type = PREFIX_SEI + SUFFIX_SEI - nal_unit_type
    rbsp_messages = []
    for j, (t, p) in enumerate(payloads):
        raw = sei_message_bytes(t, p)
        if size_fix is not None and j == k:
            size = len(p) + size_fix if size_fix in (-1, 1) else size_fix
            size = max(size, 0)
            head = b"\xff" * (t // 255) + bytes([t % 255])
            raw = head + b"\xff" * (size // 255) + bytes([size % 255]) + p
        rbsp_messages.append(raw)
    rbsp = b"".join(rbsp_messages) + tail
    body = add_emulation_prevention(rbsp) if escape else rbsp
    if "epb" in ops:
        body = _mutate_epb(body, rng)
    return nal_header(CODEC, nal_unit_type) + body


def _mutate_epb(body: bytes, rng: random.Random) -> bytes:
    epbs = [m.start() + 2 for m in re.finditer(b"\x00\x00\x03", body)]
    choice = rng.randrange(4)
    if choice == 0 and epbs:
        i = rng.choice(epbs)
        return body[:i] + body[i + 1:]                      # an EPB removed
    pos = rng.randrange(len(body) + 1)
    insert = (b"\x00\x00\x03", b"\x00\x00\x03\x03", b"\x00\x00", b"\x00\x00\x00")[choice % 4]
    return body[:pos] + insert + body[pos:]


@dataclass
class Case:
    index: int
    data: bytes
    ops: List[str]
    mode: str


MODES = ("api", "api-trace", "dump-text", "dump-json", "main")
# per 8 cases: 3 API, 2 API with tracing, 2 text dumps, 1 JSON dump (one in 32: seidump main)
_MODE_CYCLE = ("api", "api-trace", "dump-text", "api", "dump-json", "api-trace", "api", "dump-text")


def make_case(index: int, seed: int = DEFAULT_SEED, units: Optional[List[SeedUnit]] = None) -> Case:
    """Case ``index`` of ``seed`` (deterministic)."""
    units = units if units is not None else seed_units()
    rng = random.Random(seed * 1_000_003 + index)
    mode = _MODE_CYCLE[index % len(_MODE_CYCLE)] if index % 32 != 31 else "main"
    if rng.random() < 0.125:
        data = mutate_bytes(annexb([_unit_bytes(u) for u in units]), rng)
        return Case(index, data, ["bytes"], mode)
    sei = [j for j, u in enumerate(units) if u.messages is not None]
    targets = set(rng.sample(sei, 2 if rng.random() < 0.15 else 1))
    ops: List[str] = []
    # the units before the last mutated one give it its prediction context; one more follows
    keep = max(targets) + 2
    nals = [_mutate_unit(u, rng, ops) if j in targets else _unit_bytes(u)
            for j, u in enumerate(units[:keep])]
    if rng.random() < 0.05:                              # a picture's NAL units dropped
        del nals[rng.randrange(2, len(nals)):][:1]
        ops.append("drop-nal")
    return Case(index, annexb(nals), ops, mode)


# -- running cases -------------------------------------------------------------------------
def parse_case(case: Case, folder: Optional[Path] = None) -> str:
    """'ok' or 'error' (BitstreamError with a byte offset inside the stream); any other
    exception propagates."""
    data = case.data
    if case.mode.startswith("api"):
        try:
            context = SeiContext()
            for nal in split_nal_units(data, CODEC):
                if nal.is_sei:
                    parse_sei_nal(nal, context, trace=case.mode == "api-trace")
        except BitstreamError as exc:
            if exc.offset is None or not 0 <= exc.offset <= len(data):
                raise AssertionError(f"BitstreamError without a stream offset: {exc}") from exc
            return "error"
        return "ok"
    from . import seidump
    sink = io.StringIO()
    if case.mode == "main":
        if folder is None:
            raise ValueError("mode 'main' needs a folder for the stream file")
        path = folder / "case.265"
        path.write_bytes(data)
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            rc = seidump.main([str(path), "--codec", CODEC])
        if rc not in (0, 1):
            raise AssertionError(f"gfvc-seidump exit status {rc}: {sink.getvalue()[-300:]}")
        if rc and "byte offset" not in sink.getvalue():
            raise AssertionError(f"gfvc-seidump error without a byte offset: {sink.getvalue()[-300:]}")
        return "error" if rc else "ok"
    try:
        errors = seidump.dump(data, CODEC, sink, case.mode == "dump-json")
    except BitstreamError as exc:
        if exc.offset is None or not 0 <= exc.offset <= len(data):
            raise AssertionError(f"BitstreamError without a stream offset: {exc}") from exc
        return "error"
    return "error" if errors else "ok"


@dataclass
class FuzzReport:
    seed: int
    first: int
    cases: int = 0
    outcomes: Dict[str, int] = field(default_factory=lambda: {"ok": 0, "error": 0, "crash": 0})
    ops: Dict[str, int] = field(default_factory=dict)
    modes: Dict[str, int] = field(default_factory=dict)
    max_seconds: float = 0.0
    max_seconds_case: int = -1
    max_peak_bytes: int = 0
    max_peak_case: int = -1
    memory_cases: int = 0
    wall_seconds: float = 0.0
    cpu_seconds: float = 0.0
    crashes: List[str] = field(default_factory=list)

    def write(self, path: Path) -> None:
        Path(path).write_text(json.dumps(self.__dict__, indent=1) + "\n")

    def summary(self) -> str:
        mem = (f", largest tracemalloc peak {self.max_peak_bytes / 1e6:.2f} MB (case "
               f"{self.max_peak_case}; {self.memory_cases} cases measured)"
               if self.memory_cases else "")
        return (f"{self.cases} cases (seed {self.seed}, first {self.first}): "
                f"{self.outcomes['ok']} parsed, {self.outcomes['error']} BitstreamError, "
                f"{self.outcomes['crash']} other exceptions; {self.wall_seconds:.1f} s wall, "
                f"{self.cpu_seconds:.1f} s cpu; slowest case {self.max_seconds * 1e3:.1f} ms "
                f"(case {self.max_seconds_case}){mem}")


def _address_space_limit(extra_mb: int) -> None:
    """Limit this process's address space to its present size + ``extra_mb`` (Linux): any
    case that tries to allocate more fails with MemoryError, which counts as a crash."""
    import resource

    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[0])
    import os
    limit = pages * os.sysconf("SC_PAGE_SIZE") + (extra_mb << 20)
    resource.setrlimit(resource.RLIMIT_AS, (limit, resource.getrlimit(resource.RLIMIT_AS)[1]))


def run_fuzz(count: int, seed: int = DEFAULT_SEED, first: int = 0, memory_every: int = 1,
             folder: Optional[Path] = None, stop_on_crash: bool = True,
             progress: Optional[int] = None, report_path: Optional[Path] = None) -> FuzzReport:
    """Run cases ``first .. first + count - 1``; see the module docstring.

    ``memory_every``: the tracemalloc peak is measured for every k-th case (1: all; 0: none;
    tracing makes a case about 7 times slower).
    """
    units = seed_units()
    report = FuzzReport(seed, first)
    own_folder = None
    if folder is None:
        shm = Path("/dev/shm")
        own_folder = tempfile.TemporaryDirectory(dir=shm if shm.is_dir() else None)
        folder = Path(own_folder.name)
    already_tracing = tracemalloc.is_tracing()
    start_wall, start_cpu = time.perf_counter(), time.process_time()
    try:
        for index in range(first, first + count):
            case = make_case(index, seed, units)
            # the measured residue rotates from block to block, so every mode is measured
            measure = memory_every > 0 and index % memory_every == (index // memory_every) % memory_every
            if measure:
                if already_tracing:
                    base = tracemalloc.get_traced_memory()[0]
                    tracemalloc.reset_peak()
                else:
                    base = 0
                    tracemalloc.start()
            t0 = time.perf_counter()
            try:
                outcome = parse_case(case, folder)
            except Exception as exc:  # noqa: BLE001 - anything but BitstreamError is a finding
                outcome = "crash"
                report.crashes.append(f"case {index} (seed {seed}, mode {case.mode}, ops "
                                      f"{case.ops}): {type(exc).__name__}: {exc}; stream "
                                      f"{case.data.hex()}")
            seconds = time.perf_counter() - t0
            if measure:
                peak = tracemalloc.get_traced_memory()[1] - base
                if not already_tracing:
                    tracemalloc.stop()
                report.memory_cases += 1
                if peak > report.max_peak_bytes:
                    report.max_peak_bytes, report.max_peak_case = peak, index
            if seconds > report.max_seconds:
                report.max_seconds, report.max_seconds_case = seconds, index
            report.cases += 1
            report.outcomes[outcome] += 1
            report.modes[case.mode] = report.modes.get(case.mode, 0) + 1
            for op in set(case.ops):
                report.ops[op] = report.ops.get(op, 0) + 1
            if progress and report.cases % progress == 0:
                print(f"  ... {report.cases} cases: {report.outcomes}, slowest "
                      f"{report.max_seconds * 1e3:.1f} ms, peak {report.max_peak_bytes / 1e6:.2f} MB",
                      flush=True)
                if report_path is not None:      # a partial report survives an interrupted run
                    report.wall_seconds = time.perf_counter() - start_wall
                    report.cpu_seconds = time.process_time() - start_cpu
                    report.write(report_path)
            if outcome == "crash" and stop_on_crash:
                break
    finally:
        report.wall_seconds = time.perf_counter() - start_wall
        report.cpu_seconds = time.process_time() - start_cpu
        if own_folder is not None:
            own_folder.cleanup()
    return report


# -- parse-speed benchmark -----------------------------------------------------------------
def gfv_payload_of_size(target_bytes: int, precision_minus1: int = 5) -> bytes:
    """A valid GFV payload of about ``target_bytes``: one matrix type 9 with many 1x8
    matrices of varied elements (what a large message looks like to the parser)."""
    per_matrix = 8

    def payload(count: int) -> bytes:
        rng = random.Random(count)
        mats = [[[rng.randrange(-2000, 2000) / 64 for _ in range(per_matrix)]] for _ in range(count)]
        msg = GfvMessage(gfv_base_picture_flag=True, gfv_matrix_present_flag=True,
                         gfv_matrix_element_precision_factor_minus1=precision_minus1,
                         gfv_matrix_sets=[GfvMatrixSet(9, mats, gfv_num_matrices_minus1=count - 1,
                                                       gfv_matrix_width_minus1=per_matrix - 1)])
        return write_sei_payload(msg, SeiContext())[1]

    probe = payload(64)
    return payload(max(1, round(64 * target_bytes / len(probe))))


def parse_work(payload: bytes) -> Tuple[float, int, int]:
    """(CPU seconds, matrix elements, bytes touched by the reader) to parse one GFV payload."""
    reader = SyntaxReader(payload)
    t0 = time.process_time()
    msg = generative_face_video(reader, GfvMessage(), GfvPredictionState())
    reader.payload_extension_bits("generative_face_video")
    cpu = time.process_time() - t0
    elements = sum(len(mat) * len(mat[0]) for ms in msg.gfv_matrix_sets for mat in ms.matrices)
    return cpu, elements, getattr(reader, "bytes_read", -1)


def bench(sizes=(16, 32, 64, 128)) -> List[Dict[str, float]]:
    """Per size: the payload parse alone, and a suffix SEI NAL unit holding it through
    split_nal_units + parse_sei_nal without and with element tracing (what seidump does)."""
    rows = []
    for kb in sizes:
        payload = gfv_payload_of_size(kb * 1024)
        cpu, elements, touched = parse_work(payload)
        stream = annexb([_sei_nal(SUFFIX_SEI, [(223, payload)])])
        nal_cpu = []
        for trace in (False, True):
            t0 = time.process_time()
            for nal in split_nal_units(stream, CODEC):
                parse_sei_nal(nal, SeiContext(), trace=trace)
            nal_cpu.append(time.process_time() - t0)
        rows.append({"kb": kb, "bytes": len(payload), "elements": elements, "cpu_s": cpu,
                     "bytes_read": touched, "nal_cpu_s": nal_cpu[0], "traced_nal_cpu_s": nal_cpu[1]})
    return rows


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gfvc.bitstream.fuzz",
                                     description="Structure-aware SEI parser fuzzing and the "
                                                 "GFV parse-speed benchmark.")
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--first", type=int, default=0, help="index of the first case")
    parser.add_argument("--memory-every", type=int, default=1, metavar="K",
                        help="measure the tracemalloc peak of every K-th case (0: none; default 1)")
    parser.add_argument("--address-space-mb", type=int, default=0, metavar="MB",
                        help="limit the process to its present size + MB (Linux): a larger "
                             "allocation becomes a MemoryError crash")
    parser.add_argument("--progress", type=int, default=0, metavar="N",
                        help="print a progress line every N cases")
    parser.add_argument("--json", metavar="FILE", help="write the report as JSON")
    parser.add_argument("--bench", action="store_true", help="run the parse-speed benchmark")
    args = parser.parse_args(argv)
    if args.bench:
        for row in bench():
            print(f"{row['kb']:4d} KB GFV payload ({row['bytes']} bytes, {row['elements']} "
                  f"elements): parse {row['cpu_s']:.3f} s cpu, {row['bytes_read']} bytes read "
                  f"({row['bytes_read'] / row['bytes']:.2f} per payload byte); as an SEI NAL "
                  f"unit {row['nal_cpu_s']:.3f} s, traced {row['traced_nal_cpu_s']:.3f} s")
        return 0
    if args.address_space_mb:
        seed_units()                  # imports and caches settle before the limit is taken
        _address_space_limit(args.address_space_mb)
    report = run_fuzz(args.cases, args.seed, args.first, args.memory_every,
                      stop_on_crash=False, progress=args.progress or None,
                      report_path=Path(args.json) if args.json else None)
    print(report.summary())
    print(f"operations: {dict(sorted(report.ops.items()))}; modes: {dict(sorted(report.modes.items()))}")
    for crash in report.crashes[:10]:
        print("CRASH", crash[:2000])
    if args.json:
        report.write(Path(args.json))
    return 1 if report.crashes else 0


if __name__ == "__main__":
    sys.exit(main())
