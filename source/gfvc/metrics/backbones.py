"""ImageNet backbones (feature layers only) with torchvision's state_dict key names.

torchvision cannot be imported here, so the three networks the deep metrics need are defined
in the project. Module indices follow torchvision's ``features`` Sequential exactly, so a
torchvision checkpoint (``features.0.weight`` ... and ``classifier.*``, which is ignored)
loads unchanged; a features-only dict (``0.weight`` ...) is accepted too.

Also here: the base class of deep metrics, which resolves weight files, reports their
SHA-256 and builds its network once per process (every metric object with the same weights,
options, device and precision shares it: a CTC worker builds a metric per cell). The features
of the reference pictures are kept across rate points and codecs in a per-process cache
(``REFERENCE_CACHE``, gfvc.metrics.cache; scan-resistant, bounded in bytes: 1 GiB, or
``$GFVC_DEEP_FEATURE_CACHE_MB``). At 256x256 one picture's reference features take about
30.5 MiB (LPIPS-VGG), 31.3 MiB (DISTS), 40.5 MiB (msVGG) and 2.4 MiB (LPIPS-Alex) in float32
"""
from __future__ import annotations

import os
from abc import abstractmethod
from pathlib import Path

from .base import MetricError, MetricUnavailable, TensorMetric
from .cache import FeatureCache, per_picture_with_cached_reference
from .weights import WeightSource, load_state_dict, sha256_file

#: environment variable: the byte budget of the deep metrics' reference-feature cache, in MiB (0: off)
CACHE_ENV = "GFVC_DEEP_FEATURE_CACHE_MB"
DEFAULT_CACHE_MB = 1024


def _cache_budget() -> int:
    text = os.environ.get(CACHE_ENV, "")
    try:
        mb = int(text) if text else DEFAULT_CACHE_MB
    except ValueError:
        raise MetricError(f"{CACHE_ENV}={text!r} is not a whole number of MiB") from None
    return max(0, mb) << 20


REFERENCE_CACHE = FeatureCache(max_bytes=_cache_budget(), scan_resistant=True)
#: the networks built in this process, by metric identity (name, options, weights, device, dtype)
_NETWORKS: dict = {}

# torchvision's configurations: channel counts, "M" = 2x2 max pooling.
VGG16_CFG = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")
VGG19_CFG = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
             512, 512, 512, 512, "M")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def vgg_features(cfg):
    import torch.nn as nn

    layers, channels = [], 3
    for item in cfg:
        if item == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            layers += [nn.Conv2d(channels, item, kernel_size=3, padding=1), nn.ReLU()]
            channels = item
    return nn.Sequential(*layers)


def alexnet_features():
    import torch.nn as nn

    return nn.Sequential(
        nn.Conv2d(3, 64, kernel_size=11, stride=4, padding=2), nn.ReLU(), nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(64, 192, kernel_size=5, padding=2), nn.ReLU(), nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(192, 384, kernel_size=3, padding=1), nn.ReLU(),
        nn.Conv2d(384, 256, kernel_size=3, padding=1), nn.ReLU(),
        nn.Conv2d(256, 256, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(kernel_size=3, stride=2),
    )


BACKBONES = {
    "vgg16": lambda: vgg_features(VGG16_CFG),
    "vgg19": lambda: vgg_features(VGG19_CFG),
    "alexnet": alexnet_features,
}


def build_backbone(name: str):
    """An untrained ``features`` Sequential (random weights; benchmarks and tests use these)."""
    return BACKBONES[name]()


def load_backbone(name: str, path: Path):
    """The ``features`` Sequential of ``name`` with the weights of a torchvision file, in eval mode."""
    import torch

    with torch.device("meta"):  # no random initialisation: every tensor comes from the file
        features = build_backbone(name)
    state = load_state_dict(path, f"{name} backbone")
    if any(k.startswith("features.") for k in state):
        state = {k[len("features."):]: v for k, v in state.items() if k.startswith("features.")}
    try:
        features.load_state_dict({k: v.float() for k, v in state.items()}, strict=True, assign=True)
    except RuntimeError as e:
        first = str(e).strip().splitlines()
        raise MetricUnavailable(f"{path} is not a torchvision {name} state_dict: "
                                f"{' '.join(line.strip() for line in first[:3])}") from None
    for p in features.parameters():
        p.requires_grad_(False)
    return features.eval()


def run_features(features, x, taps, pool=None):
    """Run ``features`` layer by layer; return the outputs of the layers whose indices are in ``taps``.

    ``pool`` (optional) replaces every max-pooling layer (DISTS uses L2 pooling instead).
    Layers after the last tap are not run.
    """
    import torch.nn as nn

    outputs, last = [], max(taps)
    for index, layer in enumerate(features):
        x = pool(x) if pool is not None and isinstance(layer, nn.MaxPool2d) else layer(x)
        if index in taps:
            outputs.append(x)
        if index == last:
            break
    return outputs


def imagenet_normalise(x):
    import torch

    mean = torch.tensor(IMAGENET_MEAN, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x - mean) / std


class DeepMetric(TensorMetric):
    """A metric with weight files. Subclasses list ``weight_sources`` and implement ``_build``."""

    higher_is_better = False
    colour_space = "rgb"
    weight_sources: tuple[WeightSource, ...] = ()

    def __init__(self, device=None, batch_size: int = 8, dtype: str = "float32", reference_cache: bool = True,
                 **weight_paths):
        super().__init__(device=device, batch_size=batch_size, dtype=dtype)
        self.reference_cache = bool(reference_cache)
        self._identity = None
        known = {s.option for s in self.weight_sources}
        unknown = sorted(set(weight_paths) - known)
        if unknown:
            raise TypeError(f"unexpected option(s) {', '.join(unknown)}; weight options: {', '.join(sorted(known))}")
        self._given = weight_paths
        self._model = None

    def _resolve_all(self) -> tuple[dict[str, Path], list[str]]:
        paths, problems = {}, []
        for source in self.weight_sources:
            path, reason = source.resolve(self._given.get(source.option))
            if path is None:
                problems.append(reason)
            else:
                paths[source.role] = path
        return paths, problems

    def availability(self):
        _, problems = self._resolve_all()
        return (False, "; ".join(problems)) if problems else (True, None)

    def weights_info(self) -> dict:
        paths, _ = self._resolve_all()
        return {role: {"path": str(p), "sha256": sha256_file(p)} for role, p in sorted(paths.items())}

    def _network_options(self) -> tuple:
        """Options besides the weights that change the network (msVGG's layer weights)."""
        return ()

    def _network(self):
        if self._model is None:
            paths, problems = self._resolve_all()
            if problems:
                raise MetricUnavailable(f"{self.name}: {'; '.join(problems)}")
            self._identity = (self.name, type(self).__qualname__, self._network_options(),
                              tuple(sorted((role, sha256_file(p)) for role, p in paths.items())),
                              str(self.device), str(self.dtype))
            model = _NETWORKS.get(self._identity)
            if model is None:
                model = self._build(paths).to(self.device, self.dtype).eval()
                _NETWORKS[self._identity] = model
            self._model = model
        return self._model

    def _batch(self, ref, dis):
        return self._network()(ref, dis)

    def _per_picture(self, reference, distorted):
        """As TensorMetric's, with the reference features of each batch taken from (or put in)
        REFERENCE_CACHE: computed the same way, so the values are bit-identical."""
        net = self._network()
        identity = self._identity if self.reference_cache else None
        return per_picture_with_cached_reference(self, reference, distorted, REFERENCE_CACHE, identity,
                                                 net.features, net.compare)

    @abstractmethod
    def _build(self, paths: dict[str, Path]):
        """A torch module mapping (ref, dis) in [0, 1] (B, 3, H, W) to (B,) values."""
