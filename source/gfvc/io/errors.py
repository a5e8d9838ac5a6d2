"""Errors raised by gfvc.io. Every message names the file it is about."""


class SequenceError(ValueError):
    """A sequence file or name does not match what was asked for (size, frame count, format)."""
