"""Reference-buffer strategies of multi-reference coding (MRDAC): which key pictures are coded,
in which order, which references each generated picture is animated from, and when a
reference leaves the buffer.

A strategy turns (number of pictures, key-picture positions, settings) into a *plan*: the
access units in decoding order, each one key picture (inserted into the buffer, with the
evictions that follow its insertion) and the generated pictures decoded with it, each with its
reference list (display indices of key pictures). The encoder codes the plan and signals all
of it in gfvc_reference_selection messages (doc/sei_payloads.md 1); the decoder follows those
messages, never a strategy.

Definitions (I = ``interval``, F = ``num_future``, D = ``max_delay``, B = ``max_buffer``):
- key pictures at 0, I, 2I, ... (``interval`` 0: picture 0 only); ``rp`` with ``selection:
  pose`` moves each key picture after the first inside its window (doc/codec.md);
- the reference list of generated picture t is its past part followed by its future part:
  ``single``: the latest key picture <= t, nothing else (DAC);
  ``rrb``: every reference in the buffer <= t (progressive buffer, zero structural delay);
  ``rp``: the latest key picture <= t and the next F key pictures after t;
  ``rp+rrb``: every reference in the buffer <= t and the next F key pictures after t;
  ``bidir``: every reference in the buffer <= t and the next key picture f after t when
  f - t <= D (so no picture waits more than D pictures);
- decoding order: a key picture is decoded just before the first generated picture whose list
  holds it (or at its display position when none needs it earlier); key pictures are decoded in
  display order, generated pictures in display order;
- evictions, after each insertion: references that no later generated picture can use
  (``single`` and ``rp``: those before the latest key picture <= the next generated picture),
  then, while the buffer holds more than B, the reference chosen by ``eviction`` among those not
  protected (the one just inserted and future references): ``oldest`` (smallest display index)
  or ``least_used`` (fewest generated pictures animated from it so far; ties: oldest).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Sequence

from ..errors import GfvcError

STRATEGIES = ("single", "rrb", "rp", "rp+rrb", "bidir")
EVICTIONS = ("oldest", "least_used")
SELECTIONS = ("uniform", "pose")
#: families whose model animates from several references at once
MULTI_REFERENCE_FAMILIES = ("mrdac",)


class ReferencePlanError(GfvcError):
    """A reference-buffer plan cannot be made with these settings."""


@dataclass
class ReferenceSettings:
    """``reference`` settings of a codec: the buffer strategy (doc/codec.md, Multi-reference coding)."""

    strategy: str = "single"
    max_buffer: int = 4
    eviction: str = "oldest"
    interval: int = 25             # a key picture every N pictures (0: picture 0 only)
    max_delay: int = 25            # bidir: a future reference at most this many pictures ahead
    num_future: int = 1            # rp, rp+rrb: future references per generated picture
    selection: str = "uniform"     # rp: key-picture positions, uniform or pose (diversity)
    weight_log2_denom: int = 6     # rs_weight_log2_denom of the aggregation weights (steps of 1/64)

    def problems(self, family: str) -> List[str]:
        p: List[str] = []
        for name, value, lo, hi in (("max_buffer", self.max_buffer, 1, 64), ("interval", self.interval, 0, 1 << 20),
                                    ("max_delay", self.max_delay, 0, 1 << 20),
                                    ("num_future", self.num_future, 0, 63),
                                    ("weight_log2_denom", self.weight_log2_denom, 0, 30)):
            if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
                p.append(f"reference.{name} must be an integer in {lo}..{hi}, got {value!r}")
        for name, value, allowed in (("strategy", self.strategy, STRATEGIES), ("eviction", self.eviction, EVICTIONS),
                                     ("selection", self.selection, SELECTIONS)):
            if value not in allowed:
                p.append(f"reference.{name} {value!r} is not one of {', '.join(allowed)}")
        if p:
            return p
        if family not in MULTI_REFERENCE_FAMILIES and self.strategy != "single":
            p.append(f"{family} is a single-reference model: reference.strategy must be 'single' "
                     f"(got {self.strategy!r}; rrb, rp, rp+rrb and bidir need a multi-reference model, mrdac)")
        need = self.min_buffer()
        if self.max_buffer < need:
            p.append(f"reference.max_buffer {self.max_buffer} is too small for {self.strategy}: it needs {need}")
        if self.strategy in ("rp", "rp+rrb") and self.num_future < 1:
            p.append(f"reference.num_future must be at least 1 for {self.strategy}")
        if self.selection != "uniform" and self.strategy != "rp":
            p.append("reference.selection pose applies to strategy rp only")
        return p

    def min_buffer(self) -> int:
        if self.strategy in ("rp", "rp+rrb"):
            return self.num_future + 1
        return 2 if self.strategy == "bidir" else 1


@dataclass
class GeneratedPlan:
    display: int
    refs: List[int]                # display indices of its references, past then future, ascending


@dataclass
class UnitPlan:
    """One access unit in decoding order: a key picture and the generated pictures decoded with it."""

    key: int                       # display index of the key picture
    ref_id: int                    # its refId in the buffer
    evict: List[int]               # display indices of the references evicted after the insertion
    evict_ids: List[int]           # their refIds
    generated: List[GeneratedPlan] = field(default_factory=list)


@dataclass
class ReferencePlan:
    num_pictures: int
    keys: List[int]
    units: List[UnitPlan]
    ref_ids: Dict[int, int]        # display index of a key picture -> refId (ids are reused after eviction)

    @property
    def decode_order(self) -> List[int]:
        out: List[int] = []
        for u in self.units:
            out.append(u.key)
            out.extend(g.display for g in u.generated)
        return out

    @property
    def delay(self) -> int:
        return structural_delay(self.decode_order)


def uniform_keys(n: int, interval: int) -> List[int]:
    return [0] if interval == 0 else list(range(0, n, interval))


def pose_keys(keypoints: Sequence, interval: int) -> List[int]:
    """Key pictures by pose diversity: picture 0, then in each window (previous key + ceil(I/2),
    previous key + I] the picture whose keypoints are farthest (mean Euclidean distance per
    keypoint, minimum over the key pictures already chosen) from every chosen key picture; ties:
    the earliest. ``keypoints``: per picture an (K, 2) array (the encoder's analysis)."""
    import numpy as np

    n = len(keypoints)
    if interval == 0 or n == 0:
        return [0][:n]
    kps = [np.asarray(k, dtype=np.float64).reshape(-1, 2) for k in keypoints]
    keys = [0]
    while True:
        lo = keys[-1] + max(1, (interval + 1) // 2)
        hi = min(keys[-1] + interval, n - 1)
        if lo > hi:
            return keys
        best, best_d = lo, -1.0
        for t in range(lo, hi + 1):
            d = min(float(np.linalg.norm(kps[t] - kps[k], axis=1).mean()) for k in keys)
            if d > best_d:
                best, best_d = t, d
        keys.append(best)


def future_refs(strategy: str, keys: Sequence[int], t: int, num_future: int, max_delay: int) -> List[int]:
    later = [k for k in keys if k > t]
    if strategy in ("rp", "rp+rrb"):
        return later[:num_future]
    if strategy == "bidir" and later and later[0] - t <= max_delay:
        return later[:1]
    return []


def make_plan(n: int, keys: Sequence[int], settings: ReferenceSettings) -> ReferencePlan:
    """The plan of a sequence of ``n`` pictures with key pictures ``keys`` (ascending, from 0)."""
    keys = list(keys)
    if n < 1 or not keys or keys[0] != 0 or keys != sorted(set(keys)) or keys[-1] >= n:
        raise ReferencePlanError(f"key pictures {keys} are not ascending display indices from 0 below {n}")
    s = settings
    keyset = set(keys)
    buffer: List[int] = []                  # display indices, insertion order
    uses: Dict[int, int] = {}
    ref_ids: Dict[int, int] = {}
    live_ids: Dict[int, int] = {}
    units: List[UnitPlan] = []
    decoded: set = set()

    def evict(k: int, unit: UnitPlan) -> None:
        buffer.remove(k)
        unit.evict.append(k)
        unit.evict_ids.append(live_ids.pop(k))

    def decode_key(k: int, t_next: int) -> None:
        rid = next(i for i in range(len(live_ids) + 1) if i not in live_ids.values())
        ref_ids[k] = live_ids[k] = rid
        unit = UnitPlan(k, rid, [], [])
        buffer.append(k)
        uses[k] = 0
        decoded.add(k)
        latest = max(x for x in keys if x <= t_next)
        if s.strategy in ("single", "rp"):
            for old in [x for x in buffer if x < latest]:
                evict(old, unit)
        protected = {k} | {x for x in buffer if x > t_next}
        while len(buffer) > s.max_buffer:
            candidates = [x for x in buffer if x not in protected]
            if not candidates:
                raise ReferencePlanError(f"reference.max_buffer {s.max_buffer} cannot hold the references "
                                         f"{sorted(buffer)} that {s.strategy} needs at picture {t_next}")
            if s.eviction == "oldest":
                victim = min(candidates)
            else:
                victim = min(candidates, key=lambda x: (uses[x], x))
            evict(victim, unit)
        units.append(unit)

    for t in range(n):
        if t in keyset:
            if t not in decoded:
                decode_key(t, t)
            continue
        future = future_refs(s.strategy, keys, t, s.num_future, s.max_delay)
        for k in keys:
            if k <= (future[-1] if future else t) and k not in decoded:
                decode_key(k, t)
        latest = max(x for x in keys if x <= t)
        if s.strategy in ("single", "rp"):
            past = [latest]
        else:
            past = sorted(x for x in buffer if x <= t)
        refs = past + future
        missing = [r for r in refs if r not in buffer]
        if missing:                          # cannot happen with validated settings
            raise ReferencePlanError(f"picture {t} needs references {missing} that are not in the buffer")
        for r in refs:
            uses[r] += 1
        units[-1].generated.append(GeneratedPlan(t, refs))
    return ReferencePlan(n, keys, units, ref_ids)


def structural_delay(decode_order: Sequence[int]) -> int:
    """Largest wait, in pictures, of any picture: picture i (display index) can be output once
    every picture decoded up to it has been captured (the largest display index among them) and
    picture i - 1 was output; its wait is that moment minus i."""
    n = len(decode_order)
    available = {}
    seen = -1
    for d in decode_order:
        seen = max(seen, d)
        available[d] = seen
    if sorted(available) != list(range(n)):
        raise ValueError("decode order is not a permutation of the display indices")
    out, delay = -1, 0
    for i in range(n):
        out = max(out, available[i])
        delay = max(delay, out - i)
    return delay
