"""Errors raised by gfvc.coding. Every message says what is wrong in one line."""
from __future__ import annotations

from ..errors import GfvcError


class EntropyCodingError(GfvcError, ValueError):
    """A symbol cannot be coded with the given tables, or a coded string is corrupt/truncated."""


class EntropyTablesError(GfvcError, RuntimeError):
    """An entropy model is used for coding before its CDF tables were built (call update())."""
