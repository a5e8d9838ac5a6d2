"""The metric interface, the registry and the helpers every metric shares.

A metric compares a reference sequence with a distorted one, both ``(N, H, W, 3)`` uint8 RGB,
and returns one value per picture plus the sequence mean (the mean of the per-picture values,
as JVET reports sequence PSNR). Deep metrics run batched on torch tensors, on CUDA when present.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np

from ..errors import GfvcError

COLOUR_SPACES = ("rgb", "yuv420", "y")


class MetricError(GfvcError, ValueError):
    """Bad input to a metric (shape, dtype, unknown name or option)."""


class MetricUnavailable(GfvcError, RuntimeError):
    """A metric cannot run here (weights missing or unreadable, tool missing); ``reason`` says why."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class MetricResult:
    per_picture: np.ndarray  # float64, one value per picture
    mean: float


class Metric(ABC):
    """One quality metric. Subclasses set ``name``, ``higher_is_better`` and ``colour_space``."""

    name: str = ""
    higher_is_better: bool = True
    colour_space: str = "rgb"
    # The definition's version: raised when a metric's values change for the same inputs and
    # options, so that stored results of the old definition get another identity (measured again).
    version: str = "1"

    def availability(self) -> tuple[bool, str | None]:
        """Cheap check (no model is built): can ``compute`` run? ``(False, reason)`` if not."""
        return True, None

    def weights_info(self) -> dict:
        """Weight files used: ``{role: {"path": ..., "sha256": ...}}``; ``{}`` for metrics without weights."""
        return {}

    def compute(self, reference: np.ndarray, distorted: np.ndarray) -> MetricResult:
        ok, reason = self.availability()
        if not ok:
            raise MetricUnavailable(f"{self.name}: {reason}")
        reference, distorted = check_pair(reference, distorted)
        per_picture = np.asarray(self._per_picture(reference, distorted), dtype=np.float64)
        if per_picture.shape != (reference.shape[0],):
            raise AssertionError(f"{self.name} returned {per_picture.shape} values for {reference.shape[0]} pictures")
        return MetricResult(per_picture=per_picture, mean=float(per_picture.mean()))

    @abstractmethod
    def _per_picture(self, reference: np.ndarray, distorted: np.ndarray) -> np.ndarray:
        """Checked (N, H, W, 3) uint8 inputs -> (N,) values."""

    def __repr__(self) -> str:
        return f"<metric {self.name}>"


def check_pair(reference: np.ndarray, distorted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    reference = np.asarray(reference)
    distorted = np.asarray(distorted)
    for what, a in (("reference", reference), ("distorted", distorted)):
        if a.dtype != np.uint8 or a.ndim != 4 or a.shape[-1] != 3:
            raise MetricError(f"{what} must be uint8 RGB (N, H, W, 3), got {a.dtype} {a.shape}")
    if reference.shape != distorted.shape:
        raise MetricError(f"reference {reference.shape} and distorted {distorted.shape} differ in shape")
    if reference.shape[0] == 0:
        raise MetricError("no pictures to compare")
    return reference, distorted


# ---------------------------------------------------------------------------------------------
# Registry

_FACTORIES: dict[str, Callable[..., Metric]] = {}


def register_metric(name: str):
    def decorate(factory):
        if name in _FACTORIES:
            raise ValueError(f"metric {name!r} registered twice")
        _FACTORIES[name] = factory
        return factory
    return decorate


def get_metric(name: str, **options) -> Metric:
    """A metric by registry name; ``options`` go to its constructor (device, batch_size, weights...)."""
    try:
        factory = _FACTORIES[name]
    except KeyError:
        raise MetricError(f"unknown metric {name!r}; known: {', '.join(_FACTORIES)}") from None
    try:
        return factory(**options)
    except TypeError as e:  # an option the metric does not take
        raise MetricError(f"metric {name!r}: {e}") from None


def available_metrics() -> list[str]:
    """Names of all registered metrics (whether their weights are present or not)."""
    return list(_FACTORIES)


# ---------------------------------------------------------------------------------------------
# Torch helpers shared by the tensor metrics (imported lazily so PSNR/VMAF work without torch)

def default_device(device: str | None):
    import torch

    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def batches(n: int, batch_size: int) -> Iterator[slice]:
    if batch_size < 1:
        raise MetricError(f"batch_size must be >= 1, got {batch_size}")
    for start in range(0, n, batch_size):
        yield slice(start, min(start + batch_size, n))


def to_tensor01(frames: np.ndarray, device, dtype=None):
    """uint8 (B, H, W, 3) -> float (B, 3, H, W) in [0, 1] on ``device``."""
    import torch

    t = torch.from_numpy(np.ascontiguousarray(frames)).to(device)
    return t.permute(0, 3, 1, 2).to(dtype or torch.float32) / 255.0


class TensorMetric(Metric):
    """A metric computed batch by batch on torch tensors in [0, 1] (N, 3, H, W)."""

    def __init__(self, device: str | None = None, batch_size: int = 8, dtype: str = "float32"):
        import torch

        self.device = default_device(device)
        self.batch_size = int(batch_size)
        if dtype not in ("float32", "float64"):
            raise MetricError(f"dtype must be float32 or float64, got {dtype!r}")
        self.dtype = getattr(torch, dtype)

    def _per_picture(self, reference, distorted):
        import torch

        out = []
        with torch.no_grad():
            for s in batches(reference.shape[0], self.batch_size):
                ref = to_tensor01(reference[s], self.device, self.dtype)
                dis = to_tensor01(distorted[s], self.device, self.dtype)
                out.append(self._batch(ref, dis).detach().to("cpu", torch.float64).numpy().reshape(-1))
        return np.concatenate(out)

    @abstractmethod
    def _batch(self, ref, dis):
        """(B, 3, H, W) reference and distorted in [0, 1] -> (B,) values."""
