"""SSIM and MS-SSIM on RGB (Wang et al. 2004 / 2003), computed per colour plane and averaged.

Parameters are the customary ones (and pytorch-msssim's defaults): Gaussian window 11 taps,
sigma 1.5, applied separably without padding ("valid"); K1 = 0.01, K2 = 0.03 on the 8-bit
range 255. MS-SSIM uses 5 scales with weights 0.0448, 0.2856, 0.3001, 0.2363, 0.1333, halves
the picture between scales by 2x2 averaging, and clips each scale's contrast-structure term and
the last scale's SSIM at 0 before the weighted product.
"""
from __future__ import annotations

from .base import MetricError, TensorMetric, register_metric

K1, K2 = 0.01, 0.03
PEAK = 255.0
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def gaussian_window(size: int, sigma: float, device, dtype):
    import torch

    if size % 2 != 1:
        raise MetricError(f"SSIM window size must be odd, got {size}")
    x = torch.arange(size, dtype=torch.float64) - size // 2
    g = torch.exp(-(x * x) / (2.0 * sigma * sigma))
    return (g / g.sum()).to(device=device, dtype=dtype)


def _blur_valid(x, window):
    """Separable Gaussian filter, each plane on its own, no padding."""
    import torch.nn.functional as F

    c = x.shape[1]
    k = window.numel()
    x = F.conv2d(x, window.view(1, 1, 1, k).expand(c, 1, 1, k), groups=c)
    return F.conv2d(x, window.view(1, 1, k, 1).expand(c, 1, k, 1), groups=c)


def ssim_and_cs(x, y, window):
    """x, y in 0..255 (B, C, H, W) -> (ssim, cs), each (B, C): the luminance*cs map mean and the cs map mean.

    Variances and covariance are shift-invariant, so they are computed from planes centred on
    their own mean: E[x^2] - mu^2 on the 0..255 scale would cancel away float32's precision.
    """
    c1 = (K1 * PEAK) ** 2
    c2 = (K2 * PEAK) ** 2
    shift_x = x.mean(dim=(2, 3), keepdim=True)
    shift_y = y.mean(dim=(2, 3), keepdim=True)
    xc, yc = x - shift_x, y - shift_y
    mu_xc = _blur_valid(xc, window)
    mu_yc = _blur_valid(yc, window)
    var_x = _blur_valid(xc * xc, window) - mu_xc * mu_xc
    var_y = _blur_valid(yc * yc, window) - mu_yc * mu_yc
    cov = _blur_valid(xc * yc, window) - mu_xc * mu_yc
    mu_x, mu_y = mu_xc + shift_x, mu_yc + shift_y
    cs_map = (2.0 * cov + c2) / (var_x + var_y + c2)
    luminance = (2.0 * mu_x * mu_y + c1) / (mu_x * mu_x + mu_y * mu_y + c1)
    return (luminance * cs_map).flatten(2).mean(-1), cs_map.flatten(2).mean(-1)


class _SsimBase(TensorMetric):
    higher_is_better = True
    colour_space = "rgb"

    def __init__(self, win_size: int = 11, win_sigma: float = 1.5, device=None, batch_size: int = 16,
                 dtype: str = "float32"):
        super().__init__(device=device, batch_size=batch_size, dtype=dtype)
        self.win_size = int(win_size)
        self.win_sigma = float(win_sigma)
        gaussian_window(self.win_size, self.win_sigma, "cpu", self.dtype)  # validates the size

    def _window(self, ref):
        return gaussian_window(self.win_size, self.win_sigma, ref.device, ref.dtype)


@register_metric("ssim")
class Ssim(_SsimBase):
    name = "ssim"

    def _batch(self, ref, dis):
        h, w = ref.shape[-2:]
        if min(h, w) < self.win_size:
            raise MetricError(f"ssim: pictures {w}x{h} are smaller than the {self.win_size}-tap window")
        s, _ = ssim_and_cs(ref * PEAK, dis * PEAK, self._window(ref))
        return s.mean(1)


@register_metric("ms_ssim")
class MsSsim(_SsimBase):
    name = "ms_ssim"

    def _batch(self, ref, dis):
        import torch
        import torch.nn.functional as F

        levels = len(MS_SSIM_WEIGHTS)
        h, w = ref.shape[-2:]
        smallest = (self.win_size - 1) * 2 ** (levels - 1)
        if min(h, w) <= smallest:
            raise MetricError(f"ms_ssim: pictures {w}x{h} are too small for {levels} scales with a "
                              f"{self.win_size}-tap window (need both sides > {smallest})")
        window = self._window(ref)
        weights = torch.tensor(MS_SSIM_WEIGHTS, device=ref.device, dtype=ref.dtype)
        x, y = ref * PEAK, dis * PEAK
        terms = []
        for level in range(levels):
            s, cs = ssim_and_cs(x, y, window)
            if level < levels - 1:
                terms.append(torch.relu(cs))
                # Odd sizes are padded by one so that no row/column is dropped.
                pad = [x.shape[-2] % 2, x.shape[-1] % 2]
                x = F.avg_pool2d(x, kernel_size=2, padding=pad)
                y = F.avg_pool2d(y, kernel_size=2, padding=pad)
        terms.append(torch.relu(s))
        stacked = torch.stack(terms, dim=0)  # (levels, B, C)
        per_channel = torch.prod(stacked ** weights.view(-1, 1, 1), dim=0)
        return per_channel.mean(1)
