"""FSIMc, the feature similarity index with chroma (Zhang, Zhang, Mou, Zhang, TIP 2011).

Follows the authors' MATLAB definition: YIQ colour space on the 0..255 scale; pictures whose
shorter side exceeds 256 are first averaged over F x F blocks, F = round(min(H, W) / 256);
phase congruency after Kovesi (4 scales, 4 orientations, shortest wavelength 6, scale factor 2,
sigma_f 0.55, angular ratio 1.2, noise threshold k = 2 with the empirical 1/1.7 rescaling);
gradient magnitude with the 3x3 Scharr operator / 16, zero-padded; constants T1 = 0.85,
T2 = 160, T3 = T4 = 200, lambda = 0.03; the chroma term is the real part of (S_I * S_Q)^lambda
as in MATLAB.

Computed in float32 by default (``dtype="float64"`` stays available): on built-in clip pictures
with codec distortions (x265 at QP 22..42, noise, blur) float32 stays within 1e-6 of the float64
values (measured: at most 1.9e-7 per picture, doc/benchmarks.md) and takes about 0.4x the CPU time.
float64 is not needed to agree with piq (an earlier note here said so): on the reference test's
pictures both precisions differ from piq.fsim by 8.8e-6 at most (the MATLAB-vs-piq definition
differences, not rounding). The filter bank is always built in float64 and rounded once.

The reference picture's features (YIQ, phase congruency, gradient magnitude) depend on the
reference alone, and a CTC measures the same reference at every rate point of every codec: they
are kept in a small per-process cache (``REFERENCE_CACHE``, LRU, bounded in bytes) keyed by the
SHA-256 of the batch's reference pictures and the computation's settings. A cached feature is
exactly the tensor the computation gives, so values are bit-identical with and without the cache.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .base import TensorMetric, register_metric
from .cache import FeatureCache, per_picture_with_cached_reference  # noqa: F401 - FeatureCache was here

YIQ_FROM_RGB = (
    (0.299, 0.587, 0.114),
    (0.596, -0.274, -0.322),
    (0.211, -0.523, 0.312),
)
T1, T2, T3, T4, LAMBDA = 0.85, 160.0, 200.0, 200.0, 0.03
SCHARR_X = ((3.0, 0.0, -3.0), (10.0, 0.0, -10.0), (3.0, 0.0, -3.0))


def _frequency_axis(n: int, device, dtype):
    """Normalised frequencies in [-0.5, 0.5), as Kovesi's phasecong builds its meshgrid."""
    import torch

    if n % 2:
        return (torch.arange(n, device=device, dtype=dtype) - (n - 1) / 2) / (n - 1)
    return (torch.arange(n, device=device, dtype=dtype) - n / 2) / n


def log_gabor_filters(h: int, w: int, scales: int, orientations: int, min_wavelength: float, mult: float,
                      sigma_on_f: float, d_theta_on_sigma: float, device, dtype):
    """(orientations, scales, H, W) frequency-domain filters with DC at [0, 0]."""
    import torch

    fx = _frequency_axis(w, device, dtype).view(1, w).expand(h, w)
    fy = _frequency_axis(h, device, dtype).view(h, 1).expand(h, w)
    radius = torch.fft.ifftshift(torch.sqrt(fx * fx + fy * fy))
    theta = torch.fft.ifftshift(torch.atan2(-fy, fx))
    # Butterworth low-pass (cutoff 0.45, order 15) keeps the filters away from the FFT corners.
    lowpass = 1.0 / (1.0 + (radius / 0.45) ** 30)
    radius = radius.clone()
    radius[0, 0] = 1.0  # log(0) guard; the DC value is zeroed below
    radial = []
    for s in range(scales):
        f0 = 1.0 / (min_wavelength * mult ** s)
        g = torch.exp(-(torch.log(radius / f0) ** 2) / (2.0 * math.log(sigma_on_f) ** 2)) * lowpass
        g[0, 0] = 0.0
        radial.append(g)
    theta_sigma = math.pi / orientations / d_theta_on_sigma
    sin_t, cos_t = torch.sin(theta), torch.cos(theta)
    filters = []
    for o in range(orientations):
        angle = o * math.pi / orientations
        # Angular distance via atan2 of sine/cosine differences avoids the wrap-around problem.
        ds = sin_t * math.cos(angle) - cos_t * math.sin(angle)
        dc = cos_t * math.cos(angle) + sin_t * math.sin(angle)
        spread = torch.exp(-torch.atan2(ds, dc).abs() ** 2 / (2.0 * theta_sigma ** 2))
        filters.append(torch.stack([g * spread for g in radial]))
    return torch.stack(filters)


@dataclass(frozen=True)
class FilterBank:
    """Log-Gabor filters and the filter-only constants of Kovesi's noise estimate."""

    filters: object  # (O, S, H, W) frequency domain
    em_n: object  # (O,) sum of squared smallest-scale filter values
    sum_an2: object  # (O,) sum over scales and pixels of squared spatial filters
    sum_ai_aj: object  # (O,) sum over scale pairs si < sj and pixels of products of spatial filters

    @classmethod
    def build(cls, h: int, w: int, scales: int, orientations: int, device, dtype) -> "FilterBank":
        filters = log_gabor_filters(h, w, scales, orientations, 6.0, 2.0, 0.55, 1.2, device, dtype)
        spatial = torch_fft().ifft2(filters).real * math.sqrt(h * w)  # (O, S, H, W)
        sum_ai_aj = 0.0
        for si in range(scales - 1):
            for sj in range(si + 1, scales):
                sum_ai_aj = sum_ai_aj + (spatial[:, si] * spatial[:, sj]).sum(dim=(-2, -1))
        return cls(filters=filters, em_n=(filters[:, 0] ** 2).sum(dim=(-2, -1)),
                   sum_an2=(spatial ** 2).sum(dim=(1, 2, 3)), sum_ai_aj=sum_ai_aj)


def torch_fft():
    import torch

    return torch.fft


def median_last_dim(x):
    """Median over the last axis; the mean of the two middle values for an even count (MATLAB's median)."""
    import torch

    n = x.shape[-1]
    lo, hi = (n - 1) // 2, n // 2
    if x.device.type == "cpu":  # numpy's partial sort is several times faster than torch's on CPU
        part = np.partition(x.numpy(), (lo, hi), axis=-1)
        return torch.from_numpy((part[..., lo] + part[..., hi]) / 2.0)
    return (torch.kthvalue(x, lo + 1, dim=-1).values + torch.kthvalue(x, hi + 1, dim=-1).values) / 2.0


def phase_congruency(lum, bank: FilterBank, k: float = 2.0, epsilon: float = 1e-4):
    """lum (B, H, W) float32 or float64 -> phase congruency (B, H, W), Kovesi's phasecong2 measure PC_2."""
    import torch

    b, h, w = lum.shape
    spectrum = torch.fft.fft2(lum)[:, None]  # (B, 1, H, W)
    energy_all = torch.zeros_like(lum)
    amplitude_all = torch.zeros_like(lum)
    # One orientation at a time keeps the working set small (B x S complex pictures).
    for o in range(bank.filters.shape[0]):
        eo = torch.fft.ifft2(spectrum * bank.filters[o])  # (B, S, H, W)
        even, odd = eo.real.contiguous(), eo.imag.contiguous()
        amplitude = torch.sqrt(even * even + odd * odd)
        sum_e = even.sum(dim=1, keepdim=True)
        sum_o = odd.sum(dim=1, keepdim=True)
        x_energy = torch.sqrt(sum_e * sum_e + sum_o * sum_o) + epsilon
        mean_e, mean_o = sum_e / x_energy, sum_o / x_energy
        energy = (even * mean_e + odd * mean_o - (even * mean_o - odd * mean_e).abs()).sum(dim=1)  # (B, H, W)
        # Noise: the smallest scale's squared amplitude is Rayleigh-distributed; median -> mean.
        median_e2n = median_last_dim((amplitude[:, 0] ** 2).reshape(b, h * w)).to(lum.device)  # (B,)
        noise_power = (-median_e2n / math.log(0.5)) / bank.em_n[o]
        noise_energy2 = 2.0 * noise_power * bank.sum_an2[o] + 4.0 * noise_power * bank.sum_ai_aj[o]
        tau = torch.sqrt(noise_energy2 / 2.0)
        threshold = tau * math.sqrt(math.pi / 2.0) + k * torch.sqrt((2.0 - math.pi / 2.0) * tau ** 2)
        threshold = threshold / 1.7  # empirical rescaling for the PC_2 measure (Kovesi)
        energy_all += torch.clamp(energy - threshold[:, None, None], min=0.0)
        amplitude_all += amplitude.sum(dim=1)
    return energy_all / (amplitude_all + torch.finfo(lum.dtype).eps)


def _similarity(a, b, c):
    return (2.0 * a * b + c) / (a * a + b * b + c)


REFERENCE_CACHE = FeatureCache()
_FILTER_BANKS: dict = {}


def filter_bank(h: int, w: int, scales: int, orientations: int, device, dtype) -> FilterBank:
    """The filter bank for one picture size, built in float64 and rounded once to ``dtype``; kept per process."""
    import torch

    key = (h, w, scales, orientations, str(device), str(dtype))
    bank = _FILTER_BANKS.get(key)
    if bank is None:
        b64 = FilterBank.build(h, w, scales, orientations, device, torch.float64)
        bank = FilterBank(*(t.to(dtype) for t in (b64.filters, b64.em_n, b64.sum_an2, b64.sum_ai_aj)))
        _FILTER_BANKS[key] = bank
    return bank


@register_metric("fsim")
class Fsim(TensorMetric):
    """FSIMc on RGB pictures."""

    name = "fsim"
    higher_is_better = True
    colour_space = "rgb"
    # 2: float32 by default (values move by < 1e-6 from version 1's float64); a stored result of
    # version 1 has another identity and is measured again.
    version = "2"

    def __init__(self, device=None, batch_size: int = 8, scales: int = 4, orientations: int = 4,
                 dtype: str = "float32", reference_cache: bool = True):
        super().__init__(device=device, batch_size=batch_size, dtype=dtype)
        self.scales = int(scales)
        self.orientations = int(orientations)
        self.reference_cache = bool(reference_cache)

    def _per_picture(self, reference, distorted):
        identity = ((self.scales, self.orientations, str(self.device), str(self.dtype))
                    if self.reference_cache else None)
        return per_picture_with_cached_reference(self, reference, distorted, REFERENCE_CACHE, identity,
                                                 self._features, self._compare)

    def _features(self, pictures):
        """(B, 3, H, W) in [0, 1] -> (YIQ, phase congruency, gradient magnitude) of one side."""
        import torch
        import torch.nn.functional as F

        factor = max(1, int(math.floor(min(pictures.shape[-2:]) / 256 + 0.5)))
        pictures = pictures * 255.0
        if factor > 1:
            pictures = F.avg_pool2d(pictures, factor)
        m = torch.tensor(YIQ_FROM_RGB, dtype=pictures.dtype, device=pictures.device)
        yiq = torch.einsum("ij,bjhw->bihw", m, pictures)
        h, w = pictures.shape[-2:]
        bank = filter_bank(h, w, self.scales, self.orientations, pictures.device, pictures.dtype)
        pc = phase_congruency(yiq[:, 0], bank)
        scharr = torch.tensor(SCHARR_X, dtype=pictures.dtype, device=pictures.device) / 16.0
        kernels = torch.stack([scharr, scharr.t()])[:, None]
        grad = F.conv2d(yiq[:, :1], kernels, padding=1).pow(2).sum(1).sqrt()
        return yiq, pc, grad

    @staticmethod
    def _compare(ref_features, dis_features):
        import torch

        (yiq_r, pc_r, g_r), (yiq_d, pc_d, g_d) = ref_features, dis_features
        pc_max = torch.maximum(pc_r, pc_d)
        s_iq = _similarity(yiq_r[:, 1], yiq_d[:, 1], T3) * _similarity(yiq_r[:, 2], yiq_d[:, 2], T4)
        # MATLAB's real((S_I .* S_Q) .^ lambda): a negative base gives |x|^lambda * cos(lambda * pi).
        chroma = s_iq.abs() ** LAMBDA * torch.where(s_iq < 0, math.cos(LAMBDA * math.pi), 1.0)
        sim = _similarity(g_r, g_d, T2) * _similarity(pc_r, pc_d, T1) * chroma * pc_max
        return sim.sum(dim=(-2, -1)) / pc_max.sum(dim=(-2, -1))

    def _batch(self, ref, dis):
        return self._compare(self._features(ref), self._features(dis))
