"""Quantisation of GFV/GFVE values (HM behaviour) and the signed magnitude coding they share.

Every value is coded as an integer ``q`` in units of 2^-P (P = precision_factor_minus1 + 1),
and reconstructed as ``q / 2^P``. Prediction is done on these integers: the coded delta is
``q - q_pred``, so a value reconstructs to the same number whether it is predicted or not,
and encoder and decoder hold identical integers (closed loop, no float drift).
"""
from __future__ import annotations

import math
from typing import List, Optional, Sequence, Tuple

from .errors import BitstreamError
from .syntax import UE_MAX


def _finite(value: float, what: str) -> float:
    v = float(value)
    if not math.isfinite(v):
        raise BitstreamError(f"{what} = {value!r} is not a finite number")
    return v


def coordinate_to_int(value: float, precision: int, what: str = "coordinate") -> int:
    """HM: C-style truncation of ``x * 2^P + 0.5`` (toward zero, so -1.7 -> -1 at P=0...)."""
    v = _finite(value, what)
    q = int(math.ldexp(v, precision) + 0.5)
    if abs(q) > UE_MAX:
        raise BitstreamError(f"{what} = {value!r} is too large to code at precision {precision}")
    return q


def matrix_element_to_int(value: float, precision: int, what: str = "matrix element") -> int:
    """HM: floor(|m|) as integer part; round(frac * 2^P) clipped to [0, 2^P - 1] as fraction."""
    v = _finite(value, what)
    a = abs(v)
    integer = math.floor(a)
    if integer > UE_MAX:
        raise BitstreamError(f"{what} = {value!r} is too large to code")
    scale = 1 << precision
    dec = min(math.floor((a - integer) * scale + 0.5), scale - 1)
    q = integer * scale + dec
    return -q if v < 0 else q


def int_to_value(q: int, precision: int) -> float:
    """Reconstructed value q / 2^P (exact in a double for |q| < 2^53)."""
    return math.ldexp(q, -precision)


def signed_ue(rw, abs_name: str, sign_name: str, value: int = 0) -> int:
    """``abs ue(v)`` then ``sign_flag u(1)`` when abs is non-zero (sign 1 = negative)."""
    if rw.reading:
        a = rw.ue(abs_name)
        if a and rw.flag(sign_name):
            return -a
        return a
    a = abs(value)
    rw.ue(abs_name, a)
    if a:
        rw.flag(sign_name, value < 0)
    return value


def element_names(prefix: str, index: str = "") -> Tuple[str, str, str]:
    """The (int, dec, sign_flag) element names of a matrix element."""
    return f"{prefix}_int{index}", f"{prefix}_dec{index}", f"{prefix}_sign_flag{index}"


def int_dec_sign(rw, names: Tuple[str, str, str], precision: int, dec_ue: bool,
                 value: int = 0) -> int:
    """``int ue(v)``, ``dec u(P)`` (or ue(v) where HM codes it so), sign u(1) when non-zero.

    ``value`` is the integer in units of 2^-P; returns it (reading: the decoded one).
    """
    int_name, dec_name, sign_name = names
    if rw.reading:
        integer = rw.ue(int_name)
        if dec_ue:
            start = rw.pos
            dec = rw.ue(dec_name)
            if dec >> precision:
                raise rw.error(f"{dec_name} = {dec} is not below 2^{precision} (a fraction in "
                               f"units of 2^-{precision})", start)
        else:
            dec = rw.u(dec_name, precision)
        q = (integer << precision) + dec
        if q and rw.flag(sign_name):
            return -q
        return q
    a = abs(value)
    rw.ue(int_name, a >> precision)
    if dec_ue:
        rw.ue(dec_name, a & ((1 << precision) - 1))
    else:
        rw.u(dec_name, precision, a & ((1 << precision) - 1))
    if a:
        rw.flag(sign_name, value < 0)
    return value


def matrix_elements(rw, prefix: str, index_prefix: str, shapes: Sequence[Tuple[int, int]], precision: int,
                    dec_ue: bool, given: Optional[Sequence[int]], predictors: Optional[Sequence[int]]
                    ) -> Tuple[List[List[List[float]]], List[int]]:
    """The element loop shared by GFV and GFVE: matrices of ``shapes`` ((height, width) each),
    elements in order matrix j, row h, column w, each coded as int/dec/sign of its difference
    to ``predictors[n]`` (0 without prediction). ``given`` holds the writer's quantised values.

    Returns the reconstructed matrices and their quantised values in coding order.
    """
    plain_names = element_names(prefix)
    q: List[int] = []
    matrices = []
    n = 0
    for j, (height, width) in enumerate(shapes):
        rows = []
        for h in range(height):
            row = []
            for w in range(width):
                predictor = predictors[n] if predictors is not None else 0
                delta = None if given is None else given[n] - predictor
                names = element_names(prefix, f"{index_prefix}[{j}][{h}][{w}]") \
                    if rw.indexed_names else plain_names
                value = predictor + int_dec_sign(rw, names, precision, dec_ue, delta)
                q.append(value)
                row.append(int_to_value(value, precision))
                n += 1
            rows.append(row)
        matrices.append(rows)
    return matrices, q
