"""The progress of a run: cells done of all, ETA, and the cells being computed now.

On a terminal this is a tqdm bar on stderr; when stderr is a file (batch jobs, cluster logs)
it is one plain line per finished cell, which reads better than carriage-return redraws.
"""
from __future__ import annotations

import time
from typing import TextIO


def _running_text(running) -> str:
    if not running:
        return ""
    text = running[0].title
    return text + (f" (+{len(running) - 1} more)" if len(running) > 1 else "")


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


class Progress:
    def __init__(self, total: int, done: int, enabled: bool, stream: TextIO):
        self.enabled = enabled
        self.stream = stream
        self.total = total
        self.done = done
        self.failed = 0
        self._first_done = done
        self._t0 = time.monotonic()
        self._bar = None
        if enabled and getattr(stream, "isatty", lambda: False)():
            from tqdm import tqdm

            # initial=done: the ETA counts only this start's pace, not the cells found finished
            self._bar = tqdm(total=total, initial=done, unit="cell", file=stream, dynamic_ncols=True,
                             desc="CTC", smoothing=0.1, mininterval=0.5)

    def _postfix(self, running) -> str:
        parts = [f"{self.failed} failed"] if self.failed else []
        now = _running_text(running)
        if now:
            parts.append(f"now {now}")
        return ", ".join(parts)

    def show_running(self, running) -> None:
        if self._bar is not None:
            self._bar.set_postfix_str(self._postfix(running), refresh=True)

    def eta_seconds(self) -> float | None:
        finished_here = self.done - self._first_done
        if finished_here <= 0:
            return None
        return (time.monotonic() - self._t0) / finished_here * (self.total - self.done)

    def advance(self, task, ok: bool, running) -> None:
        self.done += 1
        if not ok:
            self.failed += 1
        if self._bar is not None:
            self._bar.set_postfix_str(self._postfix(running), refresh=False)
            self._bar.update(1)
        elif self.enabled:
            eta = self.eta_seconds()
            print(f"[{self.done}/{self.total}] {'done' if ok else 'FAILED'} {task.title}"
                  f" | elapsed {_duration(time.monotonic() - self._t0)}"
                  f" ETA {_duration(eta) if eta is not None else '?'}"
                  + (f" | {self._postfix(running)}" if running or self.failed else ""),
                  file=self.stream, flush=True)

    def note(self, message: str) -> None:
        if self._bar is not None:
            self._bar.write(message, file=self.stream)
        else:
            print(message, file=self.stream, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
