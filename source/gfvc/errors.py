"""The root of every error gfvc raises on purpose.

Each package defines its own errors (``BitstreamError``, ``BaseLayerError``, ``CtcError``, ...)
under :class:`GfvcError`, so an application can report any of them as one line and treat
everything else as a bug.
"""
from __future__ import annotations


class GfvcError(Exception):
    """An error that gfvc reports to the user as one line (bad input, missing tool, ...)."""


class FileProblem(GfvcError, OSError):
    """A path cannot be used as asked: missing, not a regular file, would overwrite an input, ..."""
