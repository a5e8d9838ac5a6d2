"""Errors of the CTC runner."""
from __future__ import annotations

from ..errors import GfvcError


class CtcError(GfvcError):
    """A CTC run cannot go on; the message says why in one line."""


class ConfigError(CtcError):
    """The run's configuration has problems; ``problems`` lists every one, one line each.

    The runner collects all problems before any work starts so that a user fixes them in one go.
    """

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


class RunLockedError(CtcError):
    """Another process is running the same run folder."""
