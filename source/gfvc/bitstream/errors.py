"""The one exception the bitstream layer raises for malformed or unwritable data."""
from __future__ import annotations

from typing import Optional

from ..errors import GfvcError


class BitstreamError(GfvcError, ValueError):
    """A stream or syntax structure that violates the syntax, with the byte offset of the fault.

    ``offset`` is the byte position in the Annex-B stream (or in the buffer that was being
    parsed when no stream is involved); it is None for errors raised while writing.
    """

    def __init__(self, msg: str, offset: Optional[int] = None):
        self.msg = msg
        self.offset = offset
        super().__init__(msg if offset is None else f"{msg} (at byte offset {offset})")


class ModelIdentityMismatch(BitstreamError):
    """The stream names a model/checkpoint other than the one the decoder was given."""
