"""LPIPS v0.1 (Zhang et al., CVPR 2018) with the VGG-16 or AlexNet trunk.

Pictures are mapped to [-1, 1] and then through LPIPS's fixed scaling layer; the features of
five ReLU layers are unit-normalised along channels (eps 1e-10); the squared differences are
weighted by the learned 1x1 linear layers (no bias), averaged over space and summed over the
layers. The linear layers come from the lpips wheel's ``weights/v0.1/{vgg,alex}.pth`` (read as
data) or from a file; the trunk from a torchvision ImageNet state_dict the user names.
"""
from __future__ import annotations

from pathlib import Path

from .backbones import DeepMetric, load_backbone, run_features
from .base import MetricUnavailable, register_metric
from .weights import ALEXNET, LPIPS_ALEX_LIN, LPIPS_VGG_LIN, VGG16, load_state_dict

# LPIPS's ScalingLayer constants (applied to inputs in [-1, 1]).
LPIPS_SHIFT = (-0.030, -0.088, -0.188)
LPIPS_SCALE = (0.458, 0.448, 0.450)
# Index of the ReLU that ends each of LPIPS's five slices of torchvision's ``features``.
TAPS = {"vgg16": (3, 8, 15, 22, 29), "alexnet": (1, 4, 7, 9, 11)}
CHANNELS = {"vgg16": (64, 128, 256, 512, 512), "alexnet": (64, 192, 384, 256, 256)}
NORM_EPS = 1e-10


def load_linear_layers(path: Path, channels) -> list:
    """LPIPS's ``lin{k}.model.1.weight`` tensors (``model.0`` when saved without dropout)."""
    state = load_state_dict(path, "LPIPS linear layers")
    weights = []
    for k, c in enumerate(channels):
        w = state.get(f"lin{k}.model.1.weight", state.get(f"lin{k}.model.0.weight"))
        if w is None or tuple(w.shape) != (1, c, 1, 1):
            raise MetricUnavailable(f"{path} has no LPIPS linear layer lin{k} of shape (1, {c}, 1, 1)")
        weights.append(w.float())
    return weights


def _lpips_network(trunk_name: str, trunk, linear):
    import torch
    import torch.nn as nn

    class LpipsNetwork(nn.Module):
        def __init__(self):
            super().__init__()
            self.trunk = trunk
            self.linear = nn.ParameterList([nn.Parameter(w, requires_grad=False) for w in linear])
            self.register_buffer("shift", torch.tensor(LPIPS_SHIFT).view(1, 3, 1, 1))
            self.register_buffer("scale", torch.tensor(LPIPS_SCALE).view(1, 3, 1, 1))

        def _features(self, x01):
            x = (2.0 * x01 - 1.0 - self.shift) / self.scale
            return run_features(self.trunk, x, set(TAPS[trunk_name]))

        def features(self, x01):
            return self._features(x01)

        def compare(self, ref_features, dis_features):
            total = 0.0
            for fr, fd, w in zip(ref_features, dis_features, self.linear):
                fr = fr / (torch.sqrt((fr * fr).sum(dim=1, keepdim=True)) + NORM_EPS)
                fd = fd / (torch.sqrt((fd * fd).sum(dim=1, keepdim=True)) + NORM_EPS)
                total = total + torch.nn.functional.conv2d((fr - fd) ** 2, w).mean(dim=(1, 2, 3))
            return total

        def forward(self, ref, dis):
            return self.compare(self.features(ref), self.features(dis))

    return LpipsNetwork()


class _Lpips(DeepMetric):
    higher_is_better = False
    colour_space = "rgb"
    trunk_name = ""

    def _build(self, paths):
        trunk_source, lin_source = self.weight_sources
        trunk = load_backbone(self.trunk_name, paths[trunk_source.role])
        linear = load_linear_layers(paths[lin_source.role], CHANNELS[self.trunk_name])
        return _lpips_network(self.trunk_name, trunk, linear)


@register_metric("lpips_vgg")
class LpipsVgg(_Lpips):
    name = "lpips_vgg"
    trunk_name = "vgg16"
    weight_sources = (VGG16, LPIPS_VGG_LIN)


@register_metric("lpips_alex")
class LpipsAlex(_Lpips):
    name = "lpips_alex"
    trunk_name = "alexnet"
    weight_sources = (ALEXNET, LPIPS_ALEX_LIN)
