"""Runs a plan: skip finished cells, compute the rest on an executor, store each as it finishes,
then assemble the result table (in plan order, so its bytes do not depend on which cell finished
first or on which executor) and write the report."""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from .. import __version__
from ..errors import FileProblem, GfvcError
from .cell import CellTask
from .digest import FileHashCache
from .executors import make_executor
from .plan import Plan
from .progress import Progress
from .store import RunStore, json_bytes
from .tables import write_run_tables
from .timing import StageTimes
from ..io import atomic_write_bytes

DONE, MEASURE, TODO = "done", "measure", "todo"


@dataclass
class CellState:
    task: CellTask
    status: str
    record: dict[str, Any] | None = None
    failure: dict[str, Any] | None = None


@dataclass
class RunSummary:
    run_dir: Path
    cells: int
    reused: int
    computed: int
    failed: list[dict[str, Any]] = field(default_factory=list)
    written: dict[str, str] = field(default_factory=dict)  # what the tables/report wrote
    wall_s: float = 0.0
    times: StageTimes | None = None

    @property
    def ok(self) -> bool:
        return not self.failed


def _measured(task: CellTask, rec: dict[str, Any]) -> tuple[str, ...]:
    have = rec.get("metrics", {})
    return tuple(m.name for m in task.metrics if m.name in have and have[m.name].get("digest") == m.digest)


def cell_states(plan: Plan, store: RunStore) -> list[CellState]:
    states = []
    for t in plan.tasks:
        rec = store.load_record(t.digest)
        if rec is None:
            states.append(CellState(t, TODO, failure=store.load_failure(t.digest)))
            continue
        measured = _measured(t, rec)
        decoded_ok = not t.keep_decoded or (rec.get("decoded_file") and (store.root / rec["decoded_file"]).is_file())
        status = DONE if len(measured) == len(t.metrics) and decoded_ok else MEASURE
        states.append(CellState(t, status, record=rec))
    return states


def _work_task(state: CellState) -> CellTask:
    if state.status != MEASURE:
        return state.task
    from dataclasses import replace

    return replace(state.task, expected_bitstream_sha256=state.record["bitstream_sha256"],
                   measured=_measured(state.task, state.record))


def run_plan(plan: Plan, executor: str | None = None, workers: int | None = None, ray_address: str | None = None,
             progress: bool = True, report: bool = True, stream: TextIO | None = None,
             hash_cache: FileHashCache | None = None) -> RunSummary:
    cfg = plan.config
    stream = stream if stream is not None else sys.stderr
    executor = executor or cfg.executor
    workers = workers or cfg.workers
    ray_address = ray_address if ray_address is not None else cfg.ray_address
    t_start = time.perf_counter()
    store = RunStore(cfg.output)
    store.open()
    try:
        if hash_cache is not None:
            hash_cache.save()  # the input hashes of this plan, kept for the next start
        atomic_write_bytes(store.root / "run.yaml", _config_snapshot(plan))
        states = cell_states(plan, store)
        for warning in store.warnings:
            print(f"gfvc-ctc: warning: {warning}", file=stream, flush=True)
        pending = [s for s in states if s.status != DONE]
        by_digest = {s.task.digest: s for s in states}
        times = StageTimes()
        summary = RunSummary(run_dir=store.root, cells=len(states), reused=len(states) - len(pending), computed=0)
        retried = sum(1 for s in pending if s.failure)
        print(f"gfvc-ctc: {len(states)} cells in {store.root}: {summary.reused} finished, "
              f"{len(pending)} to compute" + (f" ({retried} failed before, retried)" if retried else ""),
              file=stream, flush=True)
        if pending:
            ex = make_executor(executor, workers, ray_address)
            workers = ex.workers
            bar = Progress(total=len(states), done=summary.reused, enabled=progress, stream=stream)
            try:
                outcomes = ex.run([_work_task(s) for s in pending])
                bar.show_running(ex.running)
                for task, outcome in outcomes:
                    t0 = time.perf_counter()
                    state = by_digest[task.digest]
                    rec = store.commit(task, outcome, state.record)
                    times.add("store", time.perf_counter() - t0)
                    if rec is None:
                        state.failure = outcome.record
                        summary.failed.append(outcome.record)
                        bar.note(f"FAILED {task.title}: {outcome.record['error']}")
                    else:
                        state.record, state.status, state.failure = rec, DONE, None
                        times.add_cell(outcome.record.get("timings", {}))
                        summary.computed += 1
                    bar.advance(task, ok=rec is not None, running=ex.running)
            finally:
                bar.close()
                ex.close()
        records = [s.record if s.status == DONE else None for s in states]
        summary.failed = [s.failure or {"sequence": s.task.sequence, "codec": s.task.codec_label,
                                        "rate_point": s.task.rate_point, "error": "not computed"}
                          for s in states if s.status != DONE]
        t0 = time.perf_counter()
        try:
            summary.written = write_run_tables(plan, records, store.root, report=report and not summary.failed)
        except OSError as e:  # a writer outside gfvc.files (the XLSX or plot library) on a full disk
            if isinstance(e, GfvcError):
                raise
            raise FileProblem(f"cannot write the tables in {store.root}: {e.strerror or e}") from None
        times.add("tables", time.perf_counter() - t0)
        summary.wall_s = time.perf_counter() - t_start
        summary.times = times
        atomic_write_bytes(store.root / "timing.json", json_bytes(times.as_dict(
            wall_s=summary.wall_s, executor=executor, workers=workers, computed=summary.computed,
            reused=summary.reused, failed=len(summary.failed))))
        all_times = StageTimes()
        for r in records:
            if r is not None:
                all_times.add_cell(r.get("timings", {}))
        print(times.render(f"time per stage, {summary.computed} cells computed in this start "
                           f"({executor}, {workers} workers, {summary.wall_s:.1f} s wall)"), file=stream)
        if summary.reused:
            print(all_times.render(f"time per stage, all {sum(r is not None for r in records)} finished cells"),
                  file=stream)
        return summary
    finally:
        store.close()


def _config_snapshot(plan: Plan) -> bytes:
    import yaml

    cfg = plan.config
    snap = {
        "gfvc_version": __version__,
        "name": cfg.name,
        "source": str(cfg.source) if cfg.source else None,
        "sequences": [{"name": s.name, "file": str(s.path), "dataset_class": s.dataset_class, "frames": s.frames}
                      for s in plan.sequences],
        "codecs": [{"label": c.spec.label, "name": c.spec.name, "options": c.spec.options,
                    "rate_points": c.rate_points, "settings": c.settings} for c in plan.codecs],
        "metrics": cfg.metrics, "metric_options": cfg.metric_options,
        "unavailable_metrics": plan.unavailable,
        "bdrate": {"anchors": cfg.bdrate_anchors, "tests": cfg.bdrate_tests},
        "keep_decoded": cfg.keep_decoded,
    }
    return yaml.safe_dump(snap, sort_keys=False, default_flow_style=None).encode()
