"""Range asymmetric numeral systems (rANS) coder, byte-compatible with CompressAI 1.2.x.

The RDAC reference codes its residual latents with CompressAI's ``RansEncoder`` /
``RansDecoder``. This module writes and reads the same byte strings, so a stream made by the
reference decodes here and vice versa. Everything is integer arithmetic on Python ints: the
result does not depend on the machine.

Coder parameters (those of CompressAI):
- 64-bit state, renormalisation to the interval [2**31, 2**63), 32-bit output words written
  little-endian;
- symbol probabilities are 16-bit quantised CDFs (``PRECISION``);
- each CDF ``i`` covers ``cdf_lengths[i] - 1`` symbols; the last one (``max_value``) is an
  escape: a value outside ``[offset, offset + max_value)`` is coded as the escape symbol
  followed by the value in "bypass" mode, 4 raw bits at a time: first the number of 4-bit
  groups (unary in chunks of 15), then the groups, least significant first. The raw value is
  ``-2 * v - 1`` below the range and ``2 * (v - max_value)`` above it.

Stream layout: the encoder runs backwards over the symbols, so the decoder reads forward:
``[state low word, state high word, renormalisation words...]``.
"""
from __future__ import annotations

import heapq
import struct
from bisect import bisect_right
from typing import Sequence

import numpy as np

from .errors import EntropyCodingError

PRECISION = 16
BYPASS_BITS = 4
BYPASS_MAX = (1 << BYPASS_BITS) - 1
RANS_L = 1 << 31                     # lower end of the normalisation interval
WORD_MASK = 0xFFFFFFFF
PRECISION_MASK = (1 << PRECISION) - 1
# x_max of a bypass put: ((RANS_L >> 16) << 32) * (1 << (16 - BYPASS_BITS))
BYPASS_X_MAX = ((RANS_L >> PRECISION) << 32) << (PRECISION - BYPASS_BITS)
MAX_BYPASS_GROUPS = 8                # 32-bit raw values; anything longer is a corrupt stream


def _as_int_list(values, name: str) -> list[int]:
    array = np.asarray(values)
    if array.size == 0:
        return []
    if array.dtype.kind not in "iu":
        raise EntropyCodingError(f"{name} must be integers, got dtype {array.dtype}")
    return array.reshape(-1).astype(np.int64).tolist()


class CdfTables:
    """The integer tables one entropy model codes with: CDF rows, their lengths, offsets.

    ``cdfs`` is (num_cdfs, max_len) int32 as CompressAI stores ``_quantized_cdf`` (rows padded
    with zeros past their length); ``cdf_lengths[i]`` counts the valid entries of row i
    (symbols + escape + 1); ``offsets[i]`` is the value coded by symbol 0 of row i.
    """

    def __init__(self, cdfs, cdf_lengths, offsets):
        cdfs = np.asarray(cdfs)
        if cdfs.ndim != 2 or cdfs.shape[0] == 0:
            raise EntropyCodingError(f"CDF table must be a non-empty 2-D array, got shape {cdfs.shape}")
        self.rows: list[list[int]] = cdfs.astype(np.int64).tolist()
        self.lengths: list[int] = _as_int_list(cdf_lengths, "cdf_lengths")
        self.offsets: list[int] = _as_int_list(offsets, "offsets")
        if not len(self.rows) == len(self.lengths) == len(self.offsets):
            raise EntropyCodingError(
                f"table sizes disagree: {len(self.rows)} CDFs, {len(self.lengths)} lengths, "
                f"{len(self.offsets)} offsets")
        for i, (row, length) in enumerate(zip(self.rows, self.lengths)):
            if not 3 <= length <= len(row):
                raise EntropyCodingError(f"CDF {i}: length {length} outside [3, {len(row)}]")
            if row[0] != 0 or row[length - 1] != 1 << PRECISION:
                raise EntropyCodingError(f"CDF {i} does not run from 0 to 2**{PRECISION}")

        self.cdf_array = cdfs.astype(np.int64)
        self.length_array = np.asarray(self.lengths, dtype=np.int64)
        self.offset_array = np.asarray(self.offsets, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.rows)


def _check_indexes(indexes: list[int], num_cdfs: int) -> None:
    if indexes and (min(indexes) < 0 or max(indexes) >= num_cdfs):
        raise EntropyCodingError(
            f"CDF index out of range [0, {num_cdfs}): min {min(indexes)}, max {max(indexes)}")


def encode_with_indexes(symbols, indexes, tables: CdfTables) -> bytes:
    """Code ``symbols[k]`` with CDF ``indexes[k]``; returns the rANS byte string."""
    symbols = _as_int_list(symbols, "symbols")
    indexes = _as_int_list(indexes, "indexes")
    if len(symbols) != len(indexes):
        raise EntropyCodingError(f"{len(symbols)} symbols but {len(indexes)} indexes")
    _check_indexes(indexes, len(tables))

    # Forward pass: the sequence of coding operations, (start, freq) for a modelled symbol and
    # (raw bits, 0) for a bypass group. rANS is LIFO, so they are applied in reverse below.
    index_array = np.asarray(indexes, dtype=np.int64)
    max_values = tables.length_array[index_array] - 2
    values = np.asarray(symbols, dtype=np.int64) - tables.offset_array[index_array]
    escaped = (values < 0) | (values >= max_values)
    coded = np.where(escaped, max_values, values)
    starts = tables.cdf_array[index_array, coded]
    freqs = tables.cdf_array[index_array, coded + 1] - starts
    if np.any(freqs <= 0):
        k = int(np.flatnonzero(freqs <= 0)[0])
        raise EntropyCodingError(f"symbol {symbols[k]} has zero frequency in CDF {indexes[k]}")
    operations: list[tuple[int, int]] = list(zip(starts.tolist(), freqs.tolist()))
    escapes = np.flatnonzero(escaped).tolist()
    if escapes:
        bypass: dict[int, list[tuple[int, int]]] = {}
        for k in escapes:
            value, max_value = int(values[k]), int(max_values[k])
            raw = -2 * value - 1 if value < 0 else 2 * (value - max_value)
            if raw >= 1 << 31:
                raise EntropyCodingError(f"symbol {symbols[k]} is outside the 32-bit escape range")
            bypass[k] = _bypass_operations(raw)
        # Each escape symbol is followed by its bypass groups.
        modelled, operations = operations, []
        for k, operation in enumerate(modelled):
            operations.append(operation)
            if k in bypass:
                operations.extend(bypass[k])

    state = RANS_L
    words: list[int] = []          # renormalisation words in the order they are produced
    for start, freq in reversed(operations):
        if freq:
            if state >= (freq << 47):          # ((RANS_L >> PRECISION) << 32) * freq
                words.append(state & WORD_MASK)
                state >>= 32
            quotient, remainder = divmod(state, freq)
            state = (quotient << PRECISION) + remainder + start
        else:
            if state >= BYPASS_X_MAX:
                words.append(state & WORD_MASK)
                state >>= 32
            state = (state << BYPASS_BITS) | start
    words.reverse()
    return struct.pack(f"<{len(words) + 2}I", state & WORD_MASK, state >> 32, *words)


def _bypass_operations(raw: int) -> list[tuple[int, int]]:
    """Bypass groups of an escaped value: group count (unary in chunks of 15), then the groups."""
    groups = 0
    while raw >> (groups * BYPASS_BITS):
        groups += 1
    operations = []
    count = groups
    while count >= BYPASS_MAX:
        operations.append((BYPASS_MAX, 0))
        count -= BYPASS_MAX
    operations.append((count, 0))
    for j in range(groups):
        operations.append(((raw >> (j * BYPASS_BITS)) & BYPASS_MAX, 0))
    return operations


class _WordReader:
    """Reads the 32-bit renormalisation words of a stream, failing cleanly at its end."""

    def __init__(self, data: bytes):
        if len(data) % 4 or len(data) < 8:
            raise EntropyCodingError(
                f"rANS string of {len(data)} bytes is not a whole number (>= 2) of 32-bit words")
        self.words = struct.unpack(f"<{len(data) // 4}I", data)
        self.position = 2

    def initial_state(self) -> int:
        return self.words[0] | (self.words[1] << 32)

    def next(self) -> int:
        if self.position >= len(self.words):
            raise EntropyCodingError("rANS string is truncated (ran out of words while decoding)")
        word = self.words[self.position]
        self.position += 1
        return word


def decode_with_indexes(data: bytes, indexes, tables: CdfTables) -> list[int]:
    """Decode one value per entry of ``indexes`` from ``data`` (made by encode_with_indexes)."""
    indexes = _as_int_list(indexes, "indexes")
    _check_indexes(indexes, len(tables))
    reader = _WordReader(bytes(data))
    state = reader.initial_state()

    def read_bypass_group() -> int:
        nonlocal state
        group = state & BYPASS_MAX
        state >>= BYPASS_BITS
        if state < RANS_L:
            state = (state << 32) | reader.next()
        return group

    values: list[int] = []
    for index in indexes:
        cdf = tables.rows[index]
        length = tables.lengths[index]
        cumulative = state & PRECISION_MASK
        symbol = bisect_right(cdf, cumulative, 0, length) - 1
        if not 0 <= symbol < length - 1:
            raise EntropyCodingError(f"rANS string is corrupt (no symbol for {cumulative} in CDF {index})")
        start = cdf[symbol]
        state = (cdf[symbol + 1] - start) * (state >> PRECISION) + cumulative - start
        if state < RANS_L:
            state = (state << 32) | reader.next()
        value = symbol
        if value == length - 2:                 # escape: the value follows in bypass mode
            group = read_bypass_group()
            groups = group
            while group == BYPASS_MAX:
                group = read_bypass_group()
                groups += group
            if groups > MAX_BYPASS_GROUPS:
                raise EntropyCodingError(f"rANS string is corrupt ({groups} bypass groups)")
            raw = 0
            for j in range(groups):
                raw |= read_bypass_group() << (j * BYPASS_BITS)
            value = -(raw >> 1) - 1 if raw & 1 else (raw >> 1) + length - 2
        values.append(value + tables.offsets[index])

    # A complete stream ends exactly where the encoder started: initial state, all words used.
    if state != RANS_L or reader.position != len(reader.words):
        raise EntropyCodingError("rANS string is corrupt (decoder did not end in the initial state)")
    return values


def pmf_to_quantized_cdf(pmf: Sequence[float], precision: int = PRECISION) -> list[int]:
    """Quantise a probability mass function to an integer CDF (CompressAI's algorithm).

    ``pmf`` are float32 values (the last one is the escape/tail mass). Steps: scale by
    2**precision and round half away from zero, renormalise to the total with integer division,
    accumulate, pin the end to 2**precision, then give every zero-width symbol one unit taken
    from the narrowest symbol wider than one unit (the first such symbol on ties).
    """
    scale = 1 << precision
    probabilities = np.asarray(pmf, dtype=np.float32).astype(np.float64).reshape(-1)
    if not np.all(np.isfinite(probabilities)) or np.any(probabilities < 0):
        raise EntropyCodingError("a PMF holds a negative or non-finite probability")
    # float32 * 2**precision is exact in float64; std::round rounds half away from zero.
    counts = np.floor(probabilities * scale + 0.5).astype(np.int64)
    total = int(counts.sum())
    if total == 0:
        raise EntropyCodingError("PMF sums to zero after quantisation")
    cdf = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum((scale * counts) // total, out=cdf[1:])
    cdf[-1] = scale
    freq = np.diff(cdf).tolist()
    zeros = [i for i, f in enumerate(freq) if f == 0]
    if zeros:
        # Each zero-width symbol (in ascending order) takes one unit from the currently narrowest
        # symbol wider than one unit, the lowest index on ties. Moving the CDF entries between the
        # two symbols by one, as CompressAI does, changes exactly these two frequencies.
        donors = [(f, j) for j, f in enumerate(freq) if f > 1]
        heapq.heapify(donors)
        for i in zeros:
            if not donors:
                raise EntropyCodingError("cannot give every symbol a non-zero frequency")
            f, j = heapq.heappop(donors)
            freq[j] = f - 1
            freq[i] = 1
            if f - 1 > 1:
                heapq.heappush(donors, (f - 1, j))
        cdf[1:] = np.cumsum(freq)
    return cdf.tolist()
