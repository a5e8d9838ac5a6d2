"""Errors raised by gfvc.io. Every message names the file it is about."""
from __future__ import annotations

from ..errors import FileProblem, GfvcError


class SequenceError(GfvcError, ValueError):
    """A sequence file or name does not match what was asked for (size, frame count, format)."""


class SourceError(SequenceError):
    """A source of the built-in sequences cannot be fetched, extracted or verified."""


class BuildError(SequenceError):
    """A built-in sequence could not be built as its manifest says (bytes, frames, boxes)."""


class DataRootError(SequenceError):
    """The gfvc data folder (test_sequences/, cfg/, anchors/) cannot be found."""


class SequenceFileError(SequenceError, FileProblem):
    """A sequence path that is missing or is not a regular file (a directory, FIFO or device is named
    as such). Both a SequenceError and an OSError, so either kind of handler reports it."""
