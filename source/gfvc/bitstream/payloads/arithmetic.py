"""A multi-symbol arithmetic coder over integer frequency tables (binary-interval coder with
bit-plus-follow underflow handling), used by gfvc_entropy_coded_parameters( ) and by the
re-implementation of the reference parameter coder (gfvc.coding.reference_coder).

The interval is [low, high] of ``state_bits`` bits. Coding symbol s of a table of counts c
(total T = sum c, T <= 2^(state_bits-2) + 2) narrows it to
``low + span*cum(s)//T .. low + span*cum(s+1)//T - 1`` with ``span = high - low + 1``, then
renormalises: while both ends lie in one half, that half's bit is output (plus the pending
underflow bits, inverted); while they straddle the middle within the middle quarters, an
underflow bit becomes pending. ``finish`` writes one 1 bit and pads with 0 bits to a byte
(pending underflow bits are not needed); the decoder reads 0 bits past the end of the data.
"""
from __future__ import annotations

from typing import List, Sequence

from ..errors import BitstreamError


class ArithmeticCodingError(BitstreamError):
    """A table that cannot be coded with, or data that does not decode."""


class _Coder:
    def __init__(self, state_bits: int) -> None:
        if state_bits < 8:
            raise ArithmeticCodingError(f"arithmetic coder state of {state_bits} bits is too small")
        self.full = 1 << state_bits
        self.mask = self.full - 1
        self.half = self.full >> 1
        self.quarter = self.half >> 1
        self.max_total = self.quarter + 2
        self.low, self.high = 0, self.mask

    def _narrow(self, counts: Sequence[int], symbol: int) -> None:
        total = sum(counts)
        if not 0 < total <= self.max_total or counts[symbol] <= 0:
            raise ArithmeticCodingError(f"symbol {symbol} has count {counts[symbol]} of {total}")
        cum = sum(counts[:symbol])
        span = self.high - self.low + 1
        self.high = self.low + (cum + counts[symbol]) * span // total - 1
        self.low = self.low + cum * span // total

    def _renormalise(self) -> None:
        half, quarter = self.half, self.quarter
        while True:
            if self.high < half:
                bit, sub = 0, 0
            elif self.low >= half:
                bit, sub = 1, half
            elif self.low >= quarter and self.high < half + quarter:
                bit, sub = None, quarter          # underflow: the bit is pending
            else:
                return
            self.low = (self.low - sub) << 1
            self.high = ((self.high - sub) << 1) | 1
            self._step(bit, sub)

    def _step(self, bit, sub: int) -> None:
        raise NotImplementedError


class ArithmeticEncoder(_Coder):
    def __init__(self, state_bits: int = 32) -> None:
        super().__init__(state_bits)
        self.pending = 0
        self.bits: List[int] = []

    def _step(self, bit, sub: int) -> None:
        if bit is None:
            self.pending += 1
            return
        self.bits.append(bit)
        if self.pending:
            self.bits.extend([bit ^ 1] * self.pending)
            self.pending = 0

    def encode(self, counts: Sequence[int], symbol: int) -> None:
        """Codes ``symbol`` with probability counts[symbol] / sum(counts)."""
        self._narrow(counts, symbol)
        self._renormalise()

    def finish(self, flush_pending: bool = False) -> bytes:
        """One 1 bit, then (``flush_pending``) the pending underflow bits as 0 bits, then 0 bits to
        a byte boundary. With ``flush_pending`` a decoder of all the coded symbols has read exactly
        ``state_bits`` + 8 * len(data) - k bits, 1 <= k <= 8 (see ArithmeticDecoder.check_end)."""
        bits = self.bits + [1] + ([0] * self.pending if flush_pending else [])
        bits.extend([0] * (-len(bits) % 8))
        out = bytearray()
        for i in range(0, len(bits), 8):
            byte = 0
            for b in bits[i:i + 8]:
                byte = (byte << 1) | b
            out.append(byte)
        return bytes(out)


class ArithmeticDecoder(_Coder):
    def __init__(self, data: bytes, state_bits: int = 32) -> None:
        super().__init__(state_bits)
        self.state_bits = state_bits
        self.data = bytes(data)
        self.pos = 0
        self.code = 0
        for _ in range(state_bits):
            self.code = (self.code << 1) | self._bit()

    def _bit(self) -> int:
        byte, bit = divmod(self.pos, 8)
        self.pos += 1
        if byte >= len(self.data):
            return 0
        return (self.data[byte] >> (7 - bit)) & 1

    def check_end(self) -> None:
        """After the last symbol of data written with ``finish(flush_pending=True)``: the data must
        hold exactly the final 1 bit (plus flushed bits) and the padding beyond the bits the
        symbols used; anything else means truncated, extended or corrupt data."""
        extra = 8 * len(self.data) - (self.pos - self.state_bits)
        if extra < 1:
            raise ArithmeticCodingError("the coded data ends before its last symbol (truncated?)")
        if extra > 8:
            raise ArithmeticCodingError(f"{(extra - 1) // 8} byte(s) follow the last coded symbol")

    def _step(self, bit, sub: int) -> None:
        self.code = ((self.code - sub) << 1) | self._bit()

    def decode(self, counts: Sequence[int]) -> int:
        total = sum(counts)
        if not 0 < total <= self.max_total:
            raise ArithmeticCodingError(f"frequency table total {total} out of range")
        span = self.high - self.low + 1
        offset = self.code - self.low
        if not 0 <= offset < span:
            raise ArithmeticCodingError("corrupt arithmetic code")
        value = ((offset + 1) * total - 1) // span
        symbol, cum = 0, 0
        while cum + counts[symbol] <= value:
            cum += counts[symbol]
            symbol += 1
        self._narrow(counts, symbol)
        self._renormalise()
        return symbol
