"""gfvc.metrics: the CTC quality metrics behind one registry.

    from gfvc.metrics import get_metric
    m = get_metric("lpips_vgg", vgg16_weights="/data/vgg16-397923af.pth")
    ok, reason = m.availability()       # cheap: are the weights there?
    result = m.compute(reference, distorted)   # (N, H, W, 3) uint8 RGB each
    result.per_picture, result.mean, m.weights_info()

Names: psnr_y, psnr_yuv, psnr_rgb, ssim, ms_ssim, fsim, lpips_vgg, lpips_alex, dists, msvgg,
vmaf. See doc/evaluation.md for definitions, options and weight files.
"""
from .base import (
    COLOUR_SPACES, Metric, MetricError, MetricResult, MetricUnavailable, available_metrics, get_metric,
    register_metric,
)
from . import psnr, ssim, fsim, lpips, dists, msvgg, vmaf  # noqa: E402,F401  (registration)
from .weights import ALEXNET, DISTS_ALPHA_BETA, LPIPS_ALEX_LIN, LPIPS_VGG_LIN, VGG16, VGG19

WEIGHT_ENV_VARS = {s.role: s.env_var for s in (VGG16, VGG19, ALEXNET, LPIPS_VGG_LIN, LPIPS_ALEX_LIN, DISTS_ALPHA_BETA)}

__all__ = [
    "COLOUR_SPACES", "Metric", "MetricError", "MetricResult", "MetricUnavailable", "available_metrics",
    "get_metric", "register_metric", "WEIGHT_ENV_VARS",
]
