"""Syntax readers and writers: one object per direction, same descriptor methods.

Every syntax structure in this package is ONE function ``structure(rw, msg, ...)`` that calls
``rw.u(name, n, value)``, ``rw.ue(name, value)`` and friends (the spec descriptors). With a
:class:`SyntaxWriter` the call writes ``value`` and returns it; with a :class:`SyntaxReader`
it reads the element and returns what it read (``value`` is ignored). Writer and parser
therefore cannot disagree, and the optional trace (name, descriptor, value, bit position)
gives ``gfvc-seidump`` its element names. This is FFmpeg's coded-bitstream idea.

Writing uses bitstring 4.4 (``Bits(ue=...)``, ``Bits(uint=..., length=...)``): its
Exp-Golomb code is the reference. Reading works on the payload bytes and a bit position:
each element converts only the (at most 5) bytes it covers, and ue(v) finds its leading
zeros with byte look-ups, so parsing time is linear in the payload size (``bytes_read``
counts the bytes touched). The pinned bitstring reads ``ue`` bit by bit in Python (24-70 us
per element measured on the project machine), which is why the reader is our own. It is
cross-checked against bitstring's ``read('ue')``/``read('se')`` by property tests
(tests/test_bitstream_nal.py).

Counts read from a stream are checked with :meth:`SyntaxReader.check_count` against the bits
that remain before anything is allocated for them (a 21-byte message must not ask for
gigabytes).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable, List, Optional

from bitstring import Bits

from .errors import BitstreamError

UE_MAX = (1 << 32) - 2          # largest value an ue(v) of at most 32 leading zeros can carry
SE_MAX = (1 << 31) - 1


# Bits are immutable, so the codes of frequent small values are built once (writing speed).
@lru_cache(maxsize=8192)
def _ue_code(value: int) -> Bits:
    return Bits(ue=value)


@lru_cache(maxsize=8192)
def _uint_code(value: int, length: int) -> Bits:
    return Bits(uint=value, length=length)


@dataclass(frozen=True)
class TraceEntry:
    """One syntax element as read or written: its spec name, descriptor, value, bit position."""

    bit_pos: int
    name: str
    descriptor: str
    value: Any


def inherit(rw, msg: Any, name: str, inherited: Any) -> None:
    """An element a predicted message does not code: reading takes the inherited value,
    writing requires the message to hold it already (messages always describe themselves)."""
    if rw.reading:
        setattr(msg, name, inherited)
    else:
        rw.check(getattr(msg, name) == inherited,
                 f"{name} = {getattr(msg, name)!r} but a predicted message inherits {inherited!r}")


class SyntaxReader:
    """Reads spec descriptors from a byte buffer (one SEI payload or one RBSP).

    The reader keeps the bytes and a bit position; every element reads only the bytes it
    covers (``bytes_read`` counts them), so parsing is linear in the payload size.
    """

    reading = True

    def __init__(self, data: bytes, locate: Optional[Callable[[int], int]] = None,
                 trace: bool = False):
        self._data = bytes(data)
        self._end = len(self._data) * 8
        self.pos = 0
        #: bytes touched by element reads (a deterministic measure of parsing work)
        self.bytes_read = 0
        self._locate = locate
        self.trace: Optional[List[TraceEntry]] = [] if trace else None
        # element names with array indices are only built when someone will see them
        self.indexed_names = trace

    # -- error reporting -------------------------------------------------------------
    def offset(self, bit_pos: Optional[int] = None) -> int:
        """Byte offset (in the stream when a locator was given) of a bit position."""
        byte = (self.pos if bit_pos is None else bit_pos) // 8
        return self._locate(byte) if self._locate else byte

    def error(self, msg: str, bit_pos: Optional[int] = None) -> BitstreamError:
        return BitstreamError(msg, self.offset(bit_pos))

    def check(self, condition: bool, msg: str) -> None:
        """Raise a BitstreamError at the current position unless ``condition`` holds."""
        if not condition:
            raise self.error(msg)

    def check_count(self, name: str, count: int, min_bits: int, what: str = "elements") -> None:
        """Before anything is allocated for ``count`` coded items of at least ``min_bits`` bits
        each: raise a BitstreamError unless the bits that remain can hold them."""
        need = count * min_bits
        if need > self._end - self.pos:
            raise self.error(f"{name}: {count} {what} need at least {need} bits but only "
                             f"{self._end - self.pos} are left")

    # -- position --------------------------------------------------------------------
    @property
    def bits_left(self) -> int:
        return self._end - self.pos

    def byte_aligned(self) -> bool:
        return self.pos % 8 == 0

    def more_data_in_payload(self) -> bool:
        return not (self.pos % 8 == 0 and self.pos == self._end)

    def payload_extension_bits(self, name: str) -> int:
        """After a payload's syntax: the number of reserved_payload_extension_data bits.

        What follows the syntax must be [extension bits] payload_bit_equal_to_one and zero
        bits up to the end of the payload (so the last byte is not zero).
        """
        left = self._end - self.pos
        if left == 0:
            return 0
        last = self._data[-1]
        if left < 8:
            last &= (1 << left) - 1
        self.bytes_read += 1
        if last == 0:
            raise self.error(f"{name}: {left} bits after the payload syntax without "
                             f"payload_bit_equal_to_one")
        trailing_zeros = (last & -last).bit_length() - 1
        return left - trailing_zeros - 1

    def _record(self, start: int, name: str, descriptor: str, value: Any) -> None:
        self.trace.append(TraceEntry(start, name, descriptor, value))

    def _take(self, n: int, name: str) -> int:
        pos = self.pos
        end = pos + n
        if end > self._end:
            raise self.error(f"{name}: needs {n} bits but only {self._end - pos} are left")
        self.pos = end
        if n == 0:
            return 0
        first, last = pos >> 3, (end + 7) >> 3
        self.bytes_read += last - first
        chunk = int.from_bytes(self._data[first:last], "big")
        return (chunk >> ((last << 3) - end)) & ((1 << n) - 1)

    # -- descriptors -----------------------------------------------------------------
    def u(self, name: str, n: int, value: Any = None) -> int:
        start = self.pos
        v = self._take(n, name)
        if self.trace is not None:
            self._record(start, name, f"u({n})", v)
        return v

    def flag(self, name: str, value: Any = None) -> bool:
        start = self.pos
        v = self._take(1, name)
        if self.trace is not None:
            self._record(start, name, "u(1)", v)
        return v == 1

    def f(self, name: str, n: int, pattern: int) -> int:
        start = self.pos
        v = self._take(n, name)
        if v != pattern:
            raise self.error(f"{name} is {v:#x}, the syntax requires {pattern:#x}", start)
        if self.trace is not None:
            self._record(start, name, f"f({n})", v)
        return v

    def _leading_zeros(self, name: str) -> int:
        """Zero bits from the position to the next 1 bit (at most 32 are looked at)."""
        start = self.pos
        data = self._data
        index = start >> 3
        if index >= len(data):
            raise self.error(f"{name}: ue(v) runs past the end of the data")
        byte = data[index] & (0xFF >> (start & 7))
        zeros = 8 - (start & 7) - byte.bit_length()
        scanned = 1
        while byte == 0 and zeros <= 32:
            index += 1
            if index >= len(data):
                self.bytes_read += scanned
                raise self.error(f"{name}: ue(v) runs past the end of the data")
            byte = data[index]
            zeros += 8 - byte.bit_length()
            scanned += 1
        self.bytes_read += scanned
        if zeros > 31:
            if byte == 0 and not any(data[index:]):   # the error path only: one scan
                raise self.error(f"{name}: ue(v) runs past the end of the data")
            raise self.error(f"{name}: ue(v) with more than 31 leading zero bits "
                             f"(more than 32 bits)")
        return zeros

    def ue(self, name: str, value: Any = None) -> int:
        start = self.pos
        data = self._data
        index = start >> 3
        byte = data[index] & (0xFF >> (start & 7)) if index < len(data) else 0
        if byte:                        # the common case: the leading 1 is in this byte
            leading_zeros = 8 - (start & 7) - byte.bit_length()
            self.bytes_read += 1
        else:
            leading_zeros = self._leading_zeros(name)
        self.pos = start + leading_zeros
        v = self._take(leading_zeros + 1, name) - 1
        if self.trace is not None:
            self._record(start, name, "ue(v)", v)
        return v

    def se(self, name: str, value: Any = None) -> int:
        start = self.pos
        trace, self.trace = self.trace, None
        try:
            k = self.ue(name)
        finally:
            self.trace = trace
        v = (k + 1) // 2 if k % 2 else -(k // 2)
        if self.trace is not None:
            self._record(start, name, "se(v)", v)
        return v

    def b(self, name: str, value: Any = None) -> int:
        start = self.pos
        v = self._take(8, name)
        if self.trace is not None:
            self._record(start, name, "b(8)", v)
        return v

    def _aligned_bytes(self, name: str, count: int) -> bytes:
        if self.pos % 8:
            raise self.error(f"{name}: byte string does not start byte-aligned")
        start = self.pos // 8
        if start + count > len(self._data):
            raise self.error(f"{name}: needs {count} bytes but only "
                             f"{len(self._data) - start} are left")
        self.pos += 8 * count
        return self._data[start:start + count]

    def byte_string(self, name: str, count: int, value: Any = None) -> bytes:
        """``count`` x b(8), traced as one element (hex)."""
        start = self.pos
        v = self._aligned_bytes(name, count)
        if self.trace is not None:
            self._record(start, name, f"b(8)x{count}", v)
        return v

    def rest_bytes(self, name: str, value: Any = None) -> bytes:
        """``while( more_data_in_payload() ) name b(8)``; must start byte-aligned."""
        start = self.pos
        v = self._aligned_bytes(name, (self._end - self.pos) // 8)
        if self.trace is not None:
            self._record(start, name, f"b(8)x{len(v)}", v)
        return v

    def st(self, name: str, value: Any = None) -> str:
        start = self.pos
        if self.pos % 8:
            raise self.error(f"{name}: st(v) does not start byte-aligned")
        first = self.pos // 8
        nul = self._data.find(b"\x00", first)
        if nul < 0:
            raise self.error(f"{name}: st(v) has no terminating null byte")
        raw = self._data[first:nul]
        try:
            v = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise self.error(f"{name}: st(v) is not valid UTF-8 ({exc.reason})") from None
        self.pos = 8 * (nul + 1)
        if self.trace is not None:
            self._record(start, name, "st(v)", v)
        return v

    def align_zero(self, name: str) -> None:
        """``while( !byte_aligned() ) name f(1)`` with the bits equal to 0 (traced once)."""
        if self.pos % 8:
            self.f(name, 8 - self.pos % 8, 0)


class SyntaxWriter:
    """Writes spec descriptors into a bitstring; returns each value it wrote."""

    reading = False
    indexed_names = True

    def __init__(self, trace: bool = False):
        self._pieces: List[Bits] = []
        self.pos = 0
        self.trace: Optional[List[TraceEntry]] = [] if trace else None

    def error(self, msg: str, bit_pos: Optional[int] = None) -> BitstreamError:
        return BitstreamError(msg)

    def check(self, condition: bool, msg: str) -> None:
        if not condition:
            raise BitstreamError(msg)

    def check_count(self, name: str, count: int, min_bits: int, what: str = "elements") -> None:
        """Reading only: the values being written are already in memory."""

    def byte_aligned(self) -> bool:
        return self.pos % 8 == 0

    def _put(self, bits: Bits, name: str, descriptor: str, value: Any) -> None:
        if self.trace is not None:
            self.trace.append(TraceEntry(self.pos, name, descriptor, value))
        self._pieces.append(bits)
        self.pos += len(bits)

    @staticmethod
    def _need(name: str, value: Any) -> None:
        if value is None:
            raise BitstreamError(f"{name}: no value to write")

    def u(self, name: str, n: int, value: Any = None) -> int:
        self._need(name, value)
        v = int(value)
        if not 0 <= v < (1 << n):
            raise BitstreamError(f"{name} = {v} does not fit u({n})")
        self._put(_uint_code(v, n), name, f"u({n})", v)
        return v

    def flag(self, name: str, value: Any = None) -> bool:
        self._need(name, value)
        self.u(name, 1, 1 if value else 0)
        return bool(value)

    def f(self, name: str, n: int, pattern: int) -> int:
        self._put(_uint_code(pattern, n), name, f"f({n})", pattern)
        return pattern

    def ue(self, name: str, value: Any = None) -> int:
        self._need(name, value)
        v = int(value)
        if not 0 <= v <= UE_MAX:
            raise BitstreamError(f"{name} = {v} is outside the ue(v) range 0..{UE_MAX}")
        self._put(_ue_code(v), name, "ue(v)", v)
        return v

    def se(self, name: str, value: Any = None) -> int:
        self._need(name, value)
        v = int(value)
        if not -SE_MAX <= v <= SE_MAX:
            raise BitstreamError(f"{name} = {v} is outside the se(v) range")
        self._put(Bits(se=v), name, "se(v)", v)
        return v

    def b(self, name: str, value: Any = None) -> int:
        return self.u(name, 8, value)

    def byte_string(self, name: str, count: int, value: Any = None) -> bytes:
        self._need(name, value)
        v = bytes(value)
        if len(v) != count:
            raise BitstreamError(f"{name}: {len(v)} bytes given, the syntax needs {count}")
        if self.pos % 8:
            raise BitstreamError(f"{name}: byte string does not start byte-aligned")
        self._put(Bits(bytes=v), name, f"b(8)x{count}", v)
        return v

    def rest_bytes(self, name: str, value: Any = None) -> bytes:
        self._need(name, value)
        v = bytes(value)
        return self.byte_string(name, len(v), v)

    def st(self, name: str, value: Any = None) -> str:
        self._need(name, value)
        v = str(value)
        raw = v.encode("utf-8")
        if b"\x00" in raw:
            raise BitstreamError(f"{name}: st(v) value contains a null character")
        if self.pos % 8:
            raise BitstreamError(f"{name}: st(v) does not start byte-aligned")
        self._put(Bits(bytes=raw + b"\x00"), name, "st(v)", v)
        return v

    def align_zero(self, name: str) -> None:
        if self.pos % 8:
            self.f(name, 8 - self.pos % 8, 0)

    def align_with_one(self) -> None:
        """payload_bit_equal_to_one f(1) then payload_bit_equal_to_zero f(1) to alignment."""
        if self.pos % 8:
            self.f("payload_bit_equal_to_one", 1, 1)
            self.align_zero("payload_bit_equal_to_zero")

    def getvalue(self) -> bytes:
        """The written bytes; the caller must have aligned the data first."""
        if self.pos % 8:
            raise BitstreamError(f"internal: {self.pos} bits written is not a whole byte count")
        return Bits().join(self._pieces).tobytes()
