"""Where a run's time went: seconds per stage summed over cells, and each stage's share."""
from __future__ import annotations

from collections import defaultdict
from typing import Any

#: stages shown first and in this order; any other stage a codec reports follows them
MAIN_STAGES = ("read", "encode", "decode", "metrics", "store", "tables")


class StageTimes:
    def __init__(self):
        self.seconds: dict[str, float] = defaultdict(float)
        self.metric_seconds: dict[str, float] = defaultdict(float)
        self.cpu_seconds: dict[str, float] = defaultdict(float)  # read / coding / metrics
        self.cells = 0

    def add(self, stage: str, seconds: float) -> None:
        self.seconds[stage] += float(seconds)

    def add_cell(self, timings: dict[str, Any]) -> None:
        """Add one cell's record timings ('metric:<name>' entries detail the 'metrics' stage)."""
        self.cells += 1
        for k, v in timings.items():
            if k.startswith("cpu:"):
                self.cpu_seconds[k.split(":", 1)[1]] += float(v)
            elif k.startswith("metric:"):
                self.metric_seconds[k.split(":", 1)[1]] += float(v)
            else:
                self.seconds[k] += float(v)

    def ordered(self) -> list[tuple[str, float]]:
        keys = [k for k in MAIN_STAGES if k in self.seconds] + sorted(k for k in self.seconds if k not in MAIN_STAGES)
        return [(k, self.seconds[k]) for k in keys]

    def as_dict(self, **extra) -> dict[str, Any]:
        total = sum(self.seconds.values())
        return dict(extra, cells=self.cells, stage_seconds=dict(self.ordered()),
                    stage_share={k: (v / total if total else 0.0) for k, v in self.ordered()},
                    metric_seconds=dict(sorted(self.metric_seconds.items())),
                    cpu_seconds=dict(sorted(self.cpu_seconds.items())))

    def render(self, title: str) -> str:
        total = sum(self.seconds.values())
        lines = [title, f"  {'stage':<16}{'seconds':>10}{'share':>8}"]
        for k, v in self.ordered():
            lines.append(f"  {k:<16}{v:>10.2f}{(100 * v / total if total else 0):>7.1f}%")
            if k == "metrics":
                for m, mv in sorted(self.metric_seconds.items()):
                    lines.append(f"    {m:<14}{mv:>10.2f}")
        lines.append(f"  {'total':<16}{total:>10.2f}  (wall seconds summed over workers)")
        cpu_total = sum(self.cpu_seconds.values())
        if cpu_total:
            lines.append("  CPU seconds (worker + encoder processes): " + ", ".join(
                f"{k} {v:.2f} ({100 * v / cpu_total:.0f}%)" for k, v in sorted(self.cpu_seconds.items())))
        return "\n".join(lines)
