"""Codecs that fail on purpose, for the CTC runner's failure tests (loaded as a run plugin).

They code with the real anchor and fail only at the rate point they are told to, while a flag
file exists; the runner must record the failure, finish the other cells, and retry the failed
ones next time. Importing this module registers them; tests/test_ctc_failures.py removes them
from the registry again after each test so that no other test sees them.
"""
from __future__ import annotations

import os
from pathlib import Path

from ctc_helpers import CODEC
from gfvc.codec.registry import SequenceCodec, _REGISTRY, get_codec, register_codec


class _FailingAt(SequenceCodec):
    default_rate_points = ()

    def __init__(self, fail_flag: str, fail_at: int):
        self.fail_flag, self.fail_at = fail_flag, fail_at
        self.inner = get_codec(CODEC)

    def settings(self):
        # the flag file is not part of the result's identity: the same cell must succeed later
        return {"inner": self.inner.settings(), "test_codec": self.name}

    def validate_rate_point(self, rp):
        self.inner.validate_rate_point(rp)

    def code(self, frames, fps, rate_point, workdir):
        if rate_point == self.fail_at and Path(self.fail_flag).exists():
            self.fail()
        return self.inner.code(frames, fps, rate_point, workdir)


class RaisingCodec(_FailingAt):
    name = "ctc_test_raising"

    def fail(self):
        raise RuntimeError("ctc_test_raising: told to fail at this rate point")


class CrashingCodec(_FailingAt):
    name = "ctc_test_crashing"

    def fail(self):
        os.kill(os.getpid(), 9)  # the worker process dies as if killed for memory


for _cls in (RaisingCodec, CrashingCodec):
    if _cls.name not in _REGISTRY:
        register_codec(_cls.name)(_cls)
