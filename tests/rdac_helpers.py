"""Residual coders with known behaviour for the codec tests of RDAC / RDAC+.

Random weights make a residual coder useless (its decoded residual is noise), so the mode
decision would rightly never code one. :func:`make_block_mean_coder` gives a real coder (the
same layers, only their weights set) whose decoded residual is the residual's mean over blocks of
2^(n+2) x 2^(n+2) pixels, quantised with a step of 1 / (scale * gain): a crude but genuine
residual coder, so that coding a residual improves a poor animation, at a real rANS cost.
"""
from __future__ import annotations

import torch

SIGNS = ((0, 0.25), (1, -0.25))


def make_block_mean_coder(coder, scale: float = 32.0) -> None:
    """Set ``coder``'s g_a / g_s (and g_p, zeroed) weights: g_a = block mean of the first three input
    channels (x scale), g_s = nearest upsampling back (/ scale). Signed values pass the ReLUs as a
    positive and a negative channel. Gains: 2^(level+1), inverse 2^-(level+1)."""
    with torch.no_grad():
        for name in ("g_a", "g_s", "g_p"):
            if hasattr(coder, name):
                for p in getattr(coder, name).parameters():
                    p.zero_()
        blocks = list(coder.g_a)
        first, middle, last = blocks[0].conv.weight, blocks[1:-1], blocks[-1].conv.weight
        for c in range(3):
            first[2 * c, c, 2:4, 2:4] = 0.25
            first[2 * c + 1, c, 2:4, 2:4] = -0.25
            for block in middle:
                w = block.conv.weight
                w[2 * c, 2 * c, 2:4, 2:4] = w[2 * c + 1, 2 * c + 1, 2:4, 2:4] = 0.25
                w[2 * c, 2 * c + 1, 2:4, 2:4] = w[2 * c + 1, 2 * c, 2:4, 2:4] = -0.25
            last[c, 2 * c, 2:4, 2:4] = 0.25 * scale
            last[c, 2 * c + 1, 2:4, 2:4] = -0.25 * scale
        blocks = list(coder.g_s)
        first, middle, last = blocks[0].deconv.weight, blocks[1:-1], blocks[-1].deconv.weight
        for c in range(3):
            first[c, 2 * c, 2:4, 2:4] = 1.0 / scale
            first[c, 2 * c + 1, 2:4, 2:4] = -1.0 / scale
            for block in middle:
                w = block.deconv.weight
                w[2 * c, 2 * c, 2:4, 2:4] = w[2 * c + 1, 2 * c + 1, 2:4, 2:4] = 1.0
                w[2 * c, 2 * c + 1, 2:4, 2:4] = w[2 * c + 1, 2 * c, 2:4, 2:4] = -1.0
            last[2 * c, c, 2:4, 2:4] = 1.0
            last[2 * c + 1, c, 2:4, 2:4] = -1.0
        for level in range(coder.levels):
            coder.gain[level] = 2.0 ** (level + 1)
            coder.inverse_gain[level] = 2.0 ** -(level + 1)
