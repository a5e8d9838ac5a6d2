"""A codec whose progress the test controls, for the CTC kill/resume test (loaded as a run plugin).

``ctc_test_gated`` codes with the real anchor. While the gate folder holds the FIFO ``events``
(created by the test), it stops at two checkpoints and waits for the test:

- ``code``: in a worker process, on entering ``code()``;
- ``plan``: in the driver, when the planner builds the codec, if ``hold-plan`` exists too;
- ``store``: in the driver, before it writes a cell's record (after the cell's bitstream), if
  ``hold-store`` existed when the planner built the codec (the driver's store writer is then
  wrapped; the test process never has it).

At a checkpoint the process makes and opens its own release FIFO, writes one line of JSON to
``events`` (its PID, written by the process itself, the checkpoint and a token; one ``write``
of less than PIPE_BUF bytes, so lines of several workers never mix), then blocks reading the
release FIFO until the test writes ``go`` into it. Nothing here sleeps or polls: every wait is a
blocking open or read that the other side ends. Without ``events`` the codec is the anchor
(the reference run and the final resume use it so).

The gate folder is an option of the codec but not part of its settings, so the cells' digests
do not depend on it.
"""
from __future__ import annotations

import json
import multiprocessing
import os
import uuid
from pathlib import Path

from ctc_helpers import CODEC
from gfvc.codec.registry import SequenceCodec, _REGISTRY, get_codec, register_codec

NAME = "ctc_test_gated"


def checkpoint(gate: Path, where: str, **info) -> None:
    """Announce this process at checkpoint ``where`` and wait until the test releases it."""
    token = uuid.uuid4().hex
    release = gate / f"release-{token}"
    os.mkfifo(release)
    # Opened read-write (Linux): the open never blocks, and a read blocks until the test writes
    # (it never sees end-of-file, since this process itself holds a writing end). Opened before
    # the announcement, so the test's non-blocking open for writing always finds a reader.
    rfd = os.open(release, os.O_RDWR)
    try:
        line = json.dumps(dict(info, pid=os.getpid(), where=where, token=token)) + "\n"
        fd = os.open(gate / "events", os.O_WRONLY)  # the test holds it open for reading
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)
        answer = b""
        while len(answer) < 2:
            answer += os.read(rfd, 2 - len(answer))
    finally:
        os.close(rfd)
    if answer != b"go":
        raise RuntimeError(f"{NAME}: the test answered {answer!r} at checkpoint {where}")


def _in_worker() -> bool:
    return multiprocessing.parent_process() is not None


def _hold_record_writes(gate: Path) -> None:
    """Wrap the run store's writer in this (driver) process: stop before each cell record."""
    import gfvc.ctc.store as store

    real = store.atomic_write_bytes
    if getattr(real, "gated", False):
        return

    def write(path, data, *args, **kwargs):
        p = Path(path)
        if p.parent.name == "cells" and p.suffix == ".json" and (gate / "events").exists():
            checkpoint(gate, "store", file=p.name)
        return real(path, data, *args, **kwargs)

    write.gated = True
    store.atomic_write_bytes = write


class GatedCodec(SequenceCodec):
    name = NAME
    default_rate_points = ()

    def __init__(self, gate: str):
        self.gate = Path(gate)
        self.inner = get_codec(CODEC)
        if not _in_worker() and (self.gate / "events").exists():
            if (self.gate / "hold-store").exists():
                _hold_record_writes(self.gate)
            if (self.gate / "hold-plan").exists():
                checkpoint(self.gate, "plan")

    def settings(self):
        return {"inner": self.inner.settings(), "test_codec": self.name}

    def validate_rate_point(self, rp):
        self.inner.validate_rate_point(rp)

    def code(self, frames, fps, rate_point, workdir):
        if _in_worker() and (self.gate / "events").exists():
            checkpoint(self.gate, "code", rate_point=rate_point)
        return self.inner.code(frames, fps, rate_point, workdir)


if NAME not in _REGISTRY:
    register_codec(NAME)(GatedCodec)
