"""msVGG: the multi-scale VGG-19 L1 feature distance the animation-based codecs report.

It is the perceptual distance of the FOMM family's training loss used as a metric: both
pictures (RGB in [0, 1], ImageNet-normalised) go through an image pyramid at scales 1, 1/2,
1/4, 1/8 (each level blurred by a Gaussian with sigma = (1/scale - 1)/2, kernel
2*round(4*sigma)+1 taps, zero padding, then subsampled), and through VGG-19 up to relu1_1,
relu2_1, relu3_1, relu4_1, relu5_1. msVGG = sum over scales and layers of
layer_weight * mean |feature_ref - feature_dis|. Layer weights default to 1 each (the
training loss uses 10 each; pass ``layer_weights`` to match another convention).
Lower is better.
"""
from __future__ import annotations

import math

from .backbones import DeepMetric, imagenet_normalise, load_backbone, run_features
from .base import MetricError, register_metric
from .weights import VGG19

SCALES = (1.0, 0.5, 0.25, 0.125)
TAPS = (1, 6, 11, 20, 29)  # relu1_1, relu2_1, relu3_1, relu4_1, relu5_1 in torchvision's vgg19.features


def anti_alias_downsample(x, scale: float):
    """Gaussian blur (sigma = (1/scale - 1)/2) then keep every (1/scale)-th sample."""
    import torch
    import torch.nn.functional as F

    if scale == 1.0:
        return x
    sigma = (1.0 / scale - 1.0) / 2.0
    size = 2 * round(sigma * 4) + 1
    before = size // 2
    after = before - 1 if size % 2 == 0 else before
    taps = torch.arange(size, dtype=x.dtype, device=x.device) - (size - 1) / 2
    g = torch.exp(-taps ** 2 / (2.0 * sigma ** 2))
    g = g / g.sum()
    kernel = (g[:, None] * g[None, :]).expand(x.shape[1], 1, size, size)
    blurred = F.conv2d(F.pad(x, (before, after, before, after)), kernel, groups=x.shape[1])
    step = int(round(1.0 / scale))
    return blurred[:, :, ::step, ::step]


def _msvgg_network(trunk, layer_weights):
    import torch.nn as nn

    class MsVggNetwork(nn.Module):
        def __init__(self):
            super().__init__()
            self.trunk = trunk

        def features(self, x01):
            """The features of every scale, scale after scale (len(SCALES) x len(TAPS) tensors)."""
            return [f for scale in SCALES
                    for f in run_features(self.trunk, imagenet_normalise(anti_alias_downsample(x01, scale)), set(TAPS))]

        def compare(self, ref_features, dis_features):
            total = 0.0
            for k, (a, b) in enumerate(zip(ref_features, dis_features)):
                total = total + layer_weights[k % len(TAPS)] * (a - b).abs().mean(dim=(1, 2, 3))
            return total

        def forward(self, ref, dis):
            return self.compare(self.features(ref), self.features(dis))

    return MsVggNetwork()


@register_metric("msvgg")
class MsVgg(DeepMetric):
    name = "msvgg"
    higher_is_better = False
    colour_space = "rgb"
    weight_sources = (VGG19,)

    def __init__(self, layer_weights=(1.0, 1.0, 1.0, 1.0, 1.0), **options):
        super().__init__(**options)
        self.layer_weights = tuple(float(w) for w in layer_weights)
        if len(self.layer_weights) != len(TAPS) or not all(math.isfinite(w) for w in self.layer_weights):
            raise MetricError(f"msvgg: layer_weights needs {len(TAPS)} finite numbers, got {layer_weights!r}")

    def _per_picture(self, reference, distorted):
        smallest = int(16 / SCALES[-1])  # relu5_1 of the 1/8 level sits behind four 2x2 poolings
        h, w = reference.shape[1:3]
        if min(h, w) < smallest:
            raise MetricError(f"msvgg: pictures {w}x{h} are too small; both sides must be >= {smallest}")
        return super()._per_picture(reference, distorted)

    def _network_options(self) -> tuple:
        return self.layer_weights

    def _build(self, paths):
        return _msvgg_network(load_backbone("vgg19", paths[VGG19.role]), self.layer_weights)
