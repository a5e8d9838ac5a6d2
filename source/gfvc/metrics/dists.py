"""DISTS (Ding, Ma, Wang, Simoncelli, TPAMI 2020), as its authors' PyTorch release defines it.

VGG-16 features at relu1_2, relu2_2, relu3_3, relu4_3, relu5_3 of the ImageNet-normalised
picture, with every max pooling replaced by L2 pooling (Hann window of 5 taps without its zero
ends, stride 2, padding 1); the raw picture in [0, 1] counts as a sixth feature set. Per
channel: structure term (2 mu_x mu_y + c1)/(mu_x^2 + mu_y^2 + c1) and texture term
(2 cov + c2)/(var_x + var_y + c2), c1 = c2 = 1e-6, weighted by the learned alpha and beta
(normalised by their joint sum); DISTS = 1 - weighted sum. Lower is better.
alpha/beta come from the dists-pytorch wheel's ``weights.pt`` or a file; the VGG-16 trunk
from a torchvision ImageNet state_dict the user names.
"""
from __future__ import annotations

from .backbones import DeepMetric, imagenet_normalise, load_backbone, run_features
from .base import MetricUnavailable, register_metric
from .weights import DISTS_ALPHA_BETA, VGG16, load_state_dict

CHANNELS = (3, 64, 128, 256, 512, 512)
TAPS = (3, 8, 15, 22, 29)
C1 = C2 = 1e-6


def l2_pool_kernel():
    import numpy as np
    import torch

    a = np.hanning(5)[1:-1]
    g = np.outer(a, a)
    return torch.tensor(g / g.sum(), dtype=torch.float32)


def _dists_network(trunk, alpha, beta):
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    class DistsNetwork(nn.Module):
        def __init__(self):
            super().__init__()
            self.trunk = trunk
            total = alpha.sum() + beta.sum()
            self.register_buffer("alpha", (alpha / total).reshape(-1))
            self.register_buffer("beta", (beta / total).reshape(-1))
            self.register_buffer("pool_kernel", l2_pool_kernel().view(1, 1, 3, 3))

        def _l2_pool(self, x):
            c = x.shape[1]
            out = F.conv2d(x * x, self.pool_kernel.expand(c, 1, 3, 3), stride=2, padding=1, groups=c)
            return torch.sqrt(out + 1e-12)

        def features(self, x01):
            return [x01] + run_features(self.trunk, imagenet_normalise(x01), set(TAPS), pool=self._l2_pool)

        def forward(self, ref, dis):
            return self.compare(self.features(ref), self.features(dis))

        def compare(self, ref_features, dis_features):
            alphas = torch.split(self.alpha, CHANNELS)
            betas = torch.split(self.beta, CHANNELS)
            score = 0.0
            for fr, fd, a, b in zip(ref_features, dis_features, alphas, betas):
                mr, md = fr.mean(dim=(2, 3)), fd.mean(dim=(2, 3))
                vr = ((fr - mr[..., None, None]) ** 2).mean(dim=(2, 3))
                vd = ((fd - md[..., None, None]) ** 2).mean(dim=(2, 3))
                cov = (fr * fd).mean(dim=(2, 3)) - mr * md
                structure = (2 * mr * md + C1) / (mr * mr + md * md + C1)
                texture = (2 * cov + C2) / (vr + vd + C2)
                score = score + (structure * a).sum(1) + (texture * b).sum(1)
            return 1.0 - score

    return DistsNetwork()


@register_metric("dists")
class Dists(DeepMetric):
    name = "dists"
    higher_is_better = False
    colour_space = "rgb"
    weight_sources = (VGG16, DISTS_ALPHA_BETA)

    def _build(self, paths):
        trunk = load_backbone("vgg16", paths[VGG16.role])
        path = paths[DISTS_ALPHA_BETA.role]
        state = load_state_dict(path, "DISTS alpha/beta")
        size = sum(CHANNELS)
        for key in ("alpha", "beta"):
            if key not in state or state[key].numel() != size:
                raise MetricUnavailable(f"{path} has no DISTS {key} with {size} values")
        return _dists_network(trunk, state["alpha"].float(), state["beta"].float())
