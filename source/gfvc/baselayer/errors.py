"""Errors of the base-layer codecs. Each message is one line that names the tool and, when a
tool failed, ends with the last lines the tool itself printed (its own words)."""
from __future__ import annotations

from ..errors import GfvcError


class BaseLayerError(GfvcError, RuntimeError):
    """A base-layer encode or decode could not be done.

    ``tool`` names the program or library that was asked; ``stderr_tail`` holds the last lines
    it printed (empty when the error was found before anything ran).
    """

    def __init__(self, message: str, tool: str = "", stderr_tail: str = ""):
        self.tool = tool
        self.stderr_tail = stderr_tail
        text = message
        if stderr_tail:
            text = f"{message}; {tool or 'the tool'} said: {stderr_tail}"
        super().__init__(text)


class MissingBinaryError(BaseLayerError):
    """A backend's executable is not configured or does not exist."""


class UnsupportedStructureError(BaseLayerError, ValueError):
    """The backend cannot code the requested structure (or picture format)."""


class PictureFormatError(BaseLayerError, ValueError):
    """The pictures given to an encoder are not something it can code (odd size, wrong dtype...)."""


class ToolFailedError(BaseLayerError):
    """An encoder or decoder ran and reported failure, or produced no output."""


class PictureCountError(BaseLayerError):
    """A decoder returned a different number of pictures than the stream/caller says it holds."""


class StreamTruncatedError(BaseLayerError):
    """The stream ends inside its last picture (or before a picture its last NAL units announce)."""
