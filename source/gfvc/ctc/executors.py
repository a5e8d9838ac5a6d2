"""Executors: where cells run. All three give the same outcomes; only the place differs.

- ``serial``: in this process, one cell after another (debugging, profiling).
- ``local``: a pool of worker processes on this machine (default one per core). Workers are
  started with ``spawn`` (torch and ``fork`` do not mix) and die with the driver, so a killed
  run leaves no worker behind that could still write.
- ``ray``: Ray tasks, on a local Ray instance or a cluster (``ray_address``). Outcomes travel
  back to the driver, which alone writes the run folder; workers need the sequences at the same
  path and the same gfvc install (a worker with other codec settings fails the cell, it does
  not produce a different result under the same digest).

Each executor keeps at most ``workers`` cells in flight, so ``running`` is the list of cells
being computed right now (the progress bar shows it).
"""
from __future__ import annotations

import multiprocessing
import os
import signal
from collections import deque
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Iterable, Iterator

from .cell import CellOutcome, CellTask, failure_record, limit_threads, run_cell
from .errors import CtcError

#: Ray runs a task again once when its worker process died, then reports the cell failed
RAY_MAX_RETRIES = 1


def _die_with_parent(parent_pid: int) -> None:
    """Pool initializer: ask Linux to SIGKILL this worker when the driver dies.

    (The signal follows the thread that started the worker; the pool starts its workers from
    the thread that submits, the driver's main thread, which lives as long as the run.)"""
    limit_threads()
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        PR_SET_PDEATHSIG = 1
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        return  # not Linux: orphans finish their cell and exit; their outcome is simply lost
    if os.getppid() != parent_pid:  # the driver died before prctl took effect
        os._exit(1)


def _lost_worker(task: CellTask, why: str) -> CellOutcome:
    err = f"worker process died while computing this cell ({why})"
    return CellOutcome(digest=task.digest, ok=False, record=failure_record(task, err, ""), log=err + "\n")


class SerialExecutor:
    name = "serial"

    def __init__(self, workers: int = 1):
        self.workers = 1
        self.running: list[CellTask] = []

    def run(self, tasks: Iterable[CellTask]) -> Iterator[tuple[CellTask, CellOutcome]]:
        for t in tasks:
            self.running = [t]
            out = run_cell(t)
            self.running = []
            yield t, out

    def close(self) -> None:
        pass


class LocalExecutor:
    name = "local"

    def __init__(self, workers: int):
        self.workers = max(1, int(workers))
        self.running: list[CellTask] = []
        self._pool: ProcessPoolExecutor | None = None

    def _new_pool(self) -> ProcessPoolExecutor:
        ctx = multiprocessing.get_context("spawn")
        return ProcessPoolExecutor(max_workers=self.workers, mp_context=ctx,
                                   initializer=_die_with_parent, initargs=(os.getpid(),))

    def run(self, tasks: Iterable[CellTask]) -> Iterator[tuple[CellTask, CellOutcome]]:
        """Cells in parallel. When a worker dies, the pool is broken and every cell in flight
        comes back with BrokenProcessPool, the culprit and the bystanders alike. Those cells
        become suspects and are retried one at a time: a suspect whose worker dies while it
        runs alone is the culprit and is recorded as failed; the others just finish."""
        queue = deque(tasks)
        suspects: deque[CellTask] = deque()
        alone = False  # the cell in flight is a suspect running alone
        self._pool = self._new_pool()
        inflight: dict = {}
        try:
            while queue or suspects or inflight:
                if suspects:
                    if not inflight:  # a suspect runs alone
                        t = suspects.popleft()
                        inflight[self._submit(t)] = t
                        alone = True
                else:
                    alone = False
                    while queue and len(inflight) < self.workers:
                        t = queue.popleft()
                        inflight[self._submit(t)] = t
                self.running = list(inflight.values())
                done, _ = wait(inflight, return_when=FIRST_COMPLETED)
                broken = False
                for fut in done:
                    t = inflight.pop(fut)
                    self.running = list(inflight.values())
                    try:
                        out = fut.result()
                    except BrokenProcessPool as e:
                        broken = True
                        if alone:
                            yield t, _lost_worker(t, str(e) or "process pool broken")
                        else:
                            suspects.append(t)
                        continue
                    yield t, out
                if broken:
                    suspects.extend(inflight.values())
                    inflight.clear()
                    self._pool.shutdown(wait=False, cancel_futures=True)
                    self._pool = self._new_pool()
        finally:
            self.running = []
            self.close()

    def _submit(self, task: CellTask):
        try:
            return self._pool.submit(run_cell, task)
        except BrokenProcessPool:  # broke after its last result came in: start a fresh one
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = self._new_pool()
            return self._pool.submit(run_cell, task)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


class RayExecutor:
    """Runs cells as Ray tasks (one CPU each). ``address`` None starts a private local Ray with
    ``workers`` CPUs; "auto" or host:port joins a running cluster, where the cluster's CPUs
    decide the parallelism and ``workers`` caps the cells in flight."""

    name = "ray"

    def __init__(self, workers: int, address: str | None = None):
        try:
            import ray
        except ImportError as e:
            raise CtcError(f"the ray executor needs the 'ray' package ({e})") from None
        self._ray = ray
        self.address = address
        self.running: list[CellTask] = []
        self._started_here = False
        if not ray.is_initialized():
            if address in (None, "", "local"):
                ray.init(num_cpus=int(workers), include_dashboard=False, log_to_driver=False,
                         configure_logging=False)
            else:
                ray.init(address=address, log_to_driver=False, configure_logging=False)
            self._started_here = True
        cpus = int(ray.cluster_resources().get("CPU", workers))
        self.workers = max(1, min(int(workers), cpus)) if address in (None, "", "local") else max(1, cpus)
        self._remote = ray.remote(num_cpus=1, max_retries=RAY_MAX_RETRIES)(run_cell)

    def run(self, tasks: Iterable[CellTask]) -> Iterator[tuple[CellTask, CellOutcome]]:
        ray = self._ray
        queue = deque(tasks)
        inflight: dict = {}
        try:
            while queue or inflight:
                while queue and len(inflight) < self.workers:
                    t = queue.popleft()
                    inflight[self._remote.remote(t)] = t
                self.running = list(inflight.values())
                done, _ = ray.wait(list(inflight), num_returns=1)
                for ref in done:
                    t = inflight.pop(ref)
                    self.running = list(inflight.values())
                    try:
                        out = ray.get(ref)
                    except Exception as e:  # noqa: BLE001 - worker died or Ray lost the task
                        out = _lost_worker(t, f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
                    yield t, out
        finally:
            for ref in inflight:
                ray.cancel(ref, force=True)
            self.running = []

    def close(self) -> None:
        if self._started_here and self._ray.is_initialized():
            self._ray.shutdown()


def make_executor(kind: str, workers: int, ray_address: str | None = None):
    if kind == "serial":
        return SerialExecutor()
    if kind == "local":
        return LocalExecutor(workers)
    if kind == "ray":
        return RayExecutor(workers, ray_address)
    raise CtcError(f"unknown executor {kind!r}")
