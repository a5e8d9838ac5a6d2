"""One cell of a CTC run: one sequence x one codec x one rate point. Encode, decode, measure.

:func:`run_cell` runs inside a worker process (local pool or Ray). It never writes into the
run folder: it returns a :class:`CellOutcome` (the record, the bitstream, optionally the decoded
pictures, and the cell's log) and the driver stores it. So a worker needs no shared file
system for outputs and a run folder only ever holds what the driver committed.
"""
from __future__ import annotations

import hashlib
import io
import logging
import os
import platform
import sys
import tempfile
import time
import traceback
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

RECORD_FORMAT = "gfvc-ctc-cell/1"
FAILURE_FORMAT = "gfvc-ctc-failure/1"


@dataclass(frozen=True)
class MetricTask:
    name: str
    options: dict[str, Any]
    digest: str  # identity of this metric's result: name, options, weights, gfvc version


@dataclass(frozen=True)
class CellTask:
    """Everything a worker needs to compute one cell (picklable, no open handles)."""

    digest: str
    identity: dict[str, Any]  # what the digest was computed from (stored in the record)
    sequence: str
    dataset_class: str
    path: str
    frames: int
    fps: float
    width: int
    height: int
    input_sha256: str
    codec_name: str
    codec_label: str
    codec_options: dict[str, Any]
    codec_settings_digest: str
    rate_point: Any
    metrics: tuple[MetricTask, ...]  # every metric the run reports
    keep_decoded: bool
    # A stored record whose coding is still valid but which lacks some metrics: the worker codes
    # again and, if the bitstream is the stored one, measures only the metrics not in `measured`.
    expected_bitstream_sha256: str | None = None
    measured: tuple[str, ...] = ()
    plugins: tuple[str, ...] = ()  # modules to import first: they register codecs/metrics

    @property
    def title(self) -> str:
        return f"{self.sequence}/{self.codec_label}/{self.rate_point}"


@dataclass
class CellOutcome:
    digest: str
    ok: bool
    record: dict[str, Any] = field(default_factory=dict)  # the cell record (ok) or failure record
    bitstream: bytes = b""
    decoded: bytes | None = None  # planar RGB of the decoded pictures, when asked to keep them
    log: str = ""
    pictures: dict[str, bytes] = field(default_factory=dict)  # PNG files of the visual report (gfvc.ctc.visual)


def cpu_seconds() -> float:
    """CPU time of this process and of its finished children (the encoder runs as a child).

    Wall times on a shared machine say little; CPU times say what the work costs."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def limit_threads() -> None:
    """Each worker runs one cell on one core: more threads would fight the other workers, and
    the same thread count everywhere keeps floating-point reductions identical between
    executors (Ray gives its workers OMP_NUM_THREADS=1; the local pool must match it)."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = "1"
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)


def import_plugins(modules) -> None:
    import importlib

    for m in modules:
        importlib.import_module(m)


_HASHES = None


def _worker_hashes():
    """This worker's cache of input hashes: a sequence is hashed once per worker, not per cell."""
    global _HASHES
    if _HASHES is None:
        from .digest import FileHashCache

        _HASHES = FileHashCache(None)
    return _HASHES


def _compute_cell(task: CellTask, log: logging.Logger) -> CellOutcome:
    import_plugins(task.plugins)
    from .. import __version__
    from ..codec.registry import get_codec
    from ..io import read_sequence
    from ..metrics import MetricUnavailable, get_metric
    from .digest import digest_of, metric_digest

    timings: dict[str, float] = {}
    t0, c0 = time.perf_counter(), cpu_seconds()
    got_sha = _worker_hashes().sha256(Path(task.path))
    if got_sha != task.input_sha256:
        raise RuntimeError(f"{task.path}: content differs from the file the run was planned with "
                           f"(SHA-256 {got_sha[:12]} vs {task.input_sha256[:12]}); changed, or another file on this node")
    frames = read_sequence(task.path, num_frames=task.frames)
    timings["read"] = time.perf_counter() - t0
    timings["cpu:read"] = cpu_seconds() - c0
    log.info("read %d frames of %s (%dx%d) in %.3f s", frames.shape[0], task.path, frames.shape[2],
             frames.shape[1], timings["read"])

    codec = get_codec(task.codec_name, **task.codec_options)
    settings_digest = digest_of(codec.settings())
    if settings_digest != task.codec_settings_digest:
        raise RuntimeError(f"codec {task.codec_label} has other settings on this worker than on the driver "
                           f"(different encoder or gfvc version installed?)")
    with tempfile.TemporaryDirectory(prefix="gfvc-ctc-") as wd:
        t0, c0 = time.perf_counter(), cpu_seconds()
        result = codec.code(frames, task.fps, task.rate_point, Path(wd))
        coding_wall = time.perf_counter() - t0
        timings["cpu:coding"] = cpu_seconds() - c0
    for stage, sec in (result.timings or {}).items():
        timings[str(stage)] = float(sec)
    if not result.timings:
        timings["encode"] = coding_wall
    log.info("coded at rate point %r: %d bytes in %.3f s (%s)", task.rate_point, len(result.bitstream),
             coding_wall, ", ".join(f"{k} {v:.3f} s" for k, v in (result.timings or {}).items()))
    decoded = np.asarray(result.decoded)
    if decoded.shape != frames.shape or decoded.dtype != np.uint8:
        raise RuntimeError(f"codec {task.codec_label} returned decoded pictures {decoded.dtype} {decoded.shape}, "
                           f"expected uint8 {frames.shape}")
    bit_sha = hashlib.sha256(result.bitstream).hexdigest()
    metric_tasks = task.metrics
    if task.expected_bitstream_sha256:
        if bit_sha == task.expected_bitstream_sha256:
            metric_tasks = tuple(m for m in task.metrics if m.name not in task.measured)
        else:
            log.warning("bitstream differs from the stored one (%s vs %s): the codec is not deterministic; "
                        "measuring every metric again", bit_sha[:12], task.expected_bitstream_sha256[:12])

    metrics: dict[str, Any] = {}
    t_metrics, c_metrics = time.perf_counter(), cpu_seconds()
    for mt in metric_tasks:
        t0 = time.perf_counter()
        metric = get_metric(mt.name, **mt.options)
        # The driver found this metric available; a worker without its weights, or with other
        # weight files, must not put different numbers under the same identity.
        if metric_digest(mt.name, mt.options, metric.weights_info(), __version__, metric.version) != mt.digest:
            raise RuntimeError(f"metric {mt.name} has other weight files on this worker than on the driver")
        try:
            res = metric.compute(frames, decoded)
        except MetricUnavailable as e:
            raise RuntimeError(f"metric {mt.name} is unavailable on this worker: {e.reason}") from None
        sec = time.perf_counter() - t0
        timings[f"metric:{mt.name}"] = sec
        per_picture = [float(x) for x in np.asarray(res.per_picture, dtype=np.float64).ravel()]
        metrics[mt.name] = {"digest": mt.digest, "mean": float(res.mean), "per_picture": per_picture}
        log.info("metric %s = %.6f (%.3f s)", mt.name, float(res.mean), sec)
    timings["metrics"] = time.perf_counter() - t_metrics
    timings["cpu:metrics"] = cpu_seconds() - c_metrics

    from .visual import cell_visual

    t0 = time.perf_counter()
    visual, pictures = cell_visual(frames, decoded, any(m.name == "psnr_y" for m in task.metrics))
    timings["pictures"] = time.perf_counter() - t0

    nbytes = len(result.bitstream)
    seconds = task.frames / task.fps
    record = {
        "format": RECORD_FORMAT,
        "digest": task.digest,
        "identity": task.identity,
        "sequence": task.sequence,
        "dataset_class": task.dataset_class,
        "codec": task.codec_label,
        "codec_name": task.codec_name,
        "rate_point": task.rate_point,
        "frames": task.frames,
        "fps": task.fps,
        "bytes": nbytes,
        "kbps": nbytes * 8 / 1000 / seconds,
        "bitstream_sha256": bit_sha,
        # MD5 of each decoded picture as gfvc-decode prints it (planar R, G, B): what a
        # cross-check (gfvc-crosscheck) compares a fresh decoding with, for every codec
        "md5_per_picture": decoded_md5_list(decoded),
        "metrics": metrics,
        "codec_metadata": result.metadata or {},
        "visual": visual,
        "timings": timings,
        "computed": {"id": uuid.uuid4().hex, "at": _now(), "host": platform.node(), "pid": os.getpid(),
                     "gfvc_version": __version__},
    }
    decoded_bytes = None
    if task.keep_decoded:
        from ..io.sequence import rgb_to_planar_bytes

        decoded_bytes = rgb_to_planar_bytes(decoded)
    return CellOutcome(digest=task.digest, ok=True, record=record, bitstream=result.bitstream,
                       decoded=decoded_bytes, pictures=pictures)


def decoded_md5_list(decoded: np.ndarray) -> list[str]:
    """Hex MD5 of each (H, W, 3) uint8 RGB picture, planar R, G, B (gfvc.bitstream.picture_md5)."""
    from ..bitstream import picture_md5

    return [picture_md5([p]).hex() for p in decoded]


def failure_record(task: CellTask, error: str, detail: str) -> dict[str, Any]:
    return {"format": FAILURE_FORMAT, "digest": task.digest, "identity": task.identity,
            "sequence": task.sequence, "codec": task.codec_label, "rate_point": task.rate_point,
            "error": error, "traceback": detail, "at": _now(), "host": platform.node(), "pid": os.getpid()}


def run_cell(task: CellTask) -> CellOutcome:
    """Compute one cell; never raises: a failure comes back as an outcome with ok=False."""
    limit_threads()
    buf = io.StringIO()
    handler = logging.StreamHandler(buf)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    root = logging.getLogger("gfvc")
    root.addHandler(handler)
    old_level = root.level
    root.setLevel(logging.INFO)
    log = logging.getLogger("gfvc.ctc.cell")
    log.info("cell %s digest %s on %s pid %d", task.title, task.digest, platform.node(), os.getpid())
    try:
        outcome = _compute_cell(task, log)
    except BaseException as e:  # noqa: BLE001 - a cell's failure must not stop the run
        if isinstance(e, KeyboardInterrupt):
            raise
        detail = traceback.format_exc()
        error = f"{type(e).__name__}: {e}".splitlines()[0] if str(e) else type(e).__name__
        log.error("cell failed: %s", error)
        outcome = CellOutcome(digest=task.digest, ok=False, record=failure_record(task, error, detail))
        buf.write(detail)
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
    outcome.log = buf.getvalue()
    return outcome
