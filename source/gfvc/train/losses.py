"""Training losses, defined once for every family (doc/training.md).

* :class:`ImagePyramid`: the pictures at the scales of the perceptual loss (anti-aliased Gaussian
  downsampling, as the public trainers do).
* :class:`PerceptualLoss`: VGG-19 pyramid perceptual loss (five slices relu1_1 ... relu5_1, ImageNet
  normalisation, L1 per layer, one weight per layer), the backbone from a user's torchvision file; when
  no file is given, the documented fallback: L1 + (1 - SSIM) at each pyramid scale. ``kind`` says
  which one ran (it goes into the checkpoint metadata).
* :class:`Transform`: random affine + thin-plate-spline warp of the equivariance constraint.
* :class:`MultiScaleDiscriminator` and the LSGAN / feature-matching terms.
* :func:`info_nce`: MRDAC's contrastive term (cosine similarity, temperature, in-batch negatives).
* :func:`bits_per_pixel`: the rate of a residual coder from its likelihoods.
"""
from __future__ import annotations

import math
from typing import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..metrics.backbones import imagenet_normalise, load_backbone, run_features
from ..metrics.ssim import gaussian_window, ssim_and_cs
from ..models.blocks import AntiAliasInterpolation2d, kp2gaussian, make_coordinate_grid

#: torchvision vgg19 ``features`` indices of relu1_1, relu2_1, relu3_1, relu4_1, relu5_1 (the five slices)
VGG19_SLICE_TAPS = (1, 6, 11, 20, 29)
PERCEPTUAL_VGG19 = "vgg19-pyramid"
PERCEPTUAL_FALLBACK = "fallback-l1-ssim-pyramid"
#: SSIM window of the fallback (small enough for the 1/8 scale of 64x64 crops)
FALLBACK_SSIM_WINDOW = 7


def scale_key(scale: float) -> str:
    return "prediction_" + str(scale).replace(".", "-")


class ImagePyramid(nn.Module):
    """{scale: picture downsampled by ``scale``} with the reference's anti-aliasing filter."""

    def __init__(self, scales: Sequence[float], num_channels: int = 3):
        super().__init__()
        self.scales = tuple(float(s) for s in scales)
        self.downs = nn.ModuleDict({str(s).replace(".", "-"): AntiAliasInterpolation2d(num_channels, s)
                                    for s in self.scales})

    def forward(self, x: torch.Tensor) -> dict[float, torch.Tensor]:
        return {s: self.downs[str(s).replace(".", "-")](x) for s in self.scales}


class PerceptualLoss(nn.Module):
    """sum over scales and VGG-19 slices of weight_i * mean|vgg_i(x_s) - vgg_i(y_s)| (y detached).

    ``vgg19_weights``: a torchvision vgg19 state_dict file, or None for the fallback
    sum over scales of mean(weights) * (L1 + 1 - SSIM) (7-tap Gaussian SSIM; L1 only at a scale
    smaller than the window)."""

    def __init__(self, scales: Sequence[float], layer_weights: Sequence[float], vgg19_weights=None):
        super().__init__()
        if len(layer_weights) != len(VGG19_SLICE_TAPS):
            raise ValueError(f"the perceptual loss has {len(VGG19_SLICE_TAPS)} layer weights, "
                             f"got {len(layer_weights)}")
        self.pyramid = ImagePyramid(scales)
        self.layer_weights = tuple(float(w) for w in layer_weights)
        if vgg19_weights is not None:
            self.vgg = load_backbone("vgg19", vgg19_weights)
            self.kind = PERCEPTUAL_VGG19
        else:
            self.vgg = None
            self.kind = PERCEPTUAL_FALLBACK

    def train(self, mode: bool = True):  # the backbone always stays in eval mode
        super().train(mode)
        if self.vgg is not None:
            self.vgg.eval()
        return self

    def forward(self, generated: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        if sum(self.layer_weights) == 0:
            return generated.new_zeros(())
        fake_pyr, real_pyr = self.pyramid(generated), self.pyramid(real)
        total = generated.new_zeros(())
        for scale in self.pyramid.scales:
            x, y = fake_pyr[scale], real_pyr[scale].detach()
            if self.vgg is None:
                total = total + sum(self.layer_weights) / len(self.layer_weights) * fallback_distance(x, y)
                continue
            taps = run_features(self.vgg, imagenet_normalise(torch.cat([x, y])), VGG19_SLICE_TAPS)
            for weight, feature in zip(self.layer_weights, taps):
                if weight:
                    fx, fy = feature.chunk(2)
                    total = total + weight * torch.abs(fx - fy.detach()).mean()
        return total


def fallback_distance(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """L1 + (1 - SSIM) of pictures in [0, 1] (SSIM skipped when a side is below the window)."""
    distance = torch.abs(x - y).mean()
    if min(x.shape[-2:]) >= FALLBACK_SSIM_WINDOW:
        window = gaussian_window(FALLBACK_SSIM_WINDOW, 1.5, x.device, x.dtype)
        ssim, _ = ssim_and_cs(x * 255.0, y * 255.0, window)
        distance = distance + (1 - ssim.mean())
    return distance


# --------------------------------------------------------------------------------------------- equivariance
class Transform:
    """Random affine (sigma_affine) + thin-plate spline (sigma_tps on a points_tps^2 grid) warp of
    ``bs`` pictures, FOMM's equivariance transform. The noise comes from the global torch RNG."""

    def __init__(self, bs: int, sigma_affine: float, sigma_tps: float, points_tps: int,
                 device=None, dtype=torch.float32):
        noise = torch.normal(mean=0.0, std=sigma_affine * torch.ones(bs, 2, 3)).to(device, dtype)
        self.theta = noise + torch.eye(2, 3, device=device, dtype=dtype).view(1, 2, 3)
        self.bs = bs
        self.tps = bool(sigma_tps and points_tps)
        if self.tps:
            self.control_points = make_coordinate_grid((points_tps, points_tps), dtype, device).view(1, -1, 2)
            self.control_params = torch.normal(mean=0.0, std=sigma_tps * torch.ones(bs, 1, points_tps ** 2)).to(
                device, dtype)

    def transform_frame(self, frame: torch.Tensor) -> torch.Tensor:
        h, w = frame.shape[2:]
        grid = make_coordinate_grid((h, w), frame.dtype, frame.device).view(1, h * w, 2)
        grid = self.warp_coordinates(grid).view(self.bs, h, w, 2)
        return F.grid_sample(frame, grid, padding_mode="reflection", align_corners=True)

    def warp_coordinates(self, coordinates: torch.Tensor) -> torch.Tensor:
        """coordinates (1 or bs, N, 2) -> (bs, N, 2)."""
        theta = self.theta.unsqueeze(1)
        transformed = torch.matmul(theta[:, :, :, :2], coordinates.unsqueeze(-1)) + theta[:, :, :, 2:]
        transformed = transformed.squeeze(-1)
        if self.tps:
            distances = coordinates.view(coordinates.shape[0], -1, 1, 2) - self.control_points.view(1, 1, -1, 2)
            distances = torch.abs(distances).sum(-1)
            result = distances ** 2 * torch.log(distances + 1e-6) * self.control_params
            transformed = transformed + result.sum(dim=2).view(self.bs, coordinates.shape[1], 1)
        return transformed


def equivariance_value(kp_detector: nn.Module, frames: torch.Tensor, kp_frames: torch.Tensor,
                       params: Mapping) -> torch.Tensor:
    """mean |kp(frames) - T(kp(T(frames)))| for a random transform T (FOMM's equivariance_value)."""
    transform = Transform(frames.shape[0], float(params.get("sigma_affine", 0.05)),
                          float(params.get("sigma_tps", 0.005)), int(params.get("points_tps", 5)),
                          frames.device, frames.dtype)
    transformed_kp = kp_detector(transform.transform_frame(frames))["value"]
    return torch.abs(kp_frames - transform.warp_coordinates(transformed_kp)).mean()


# --------------------------------------------------------------------------------------------- GAN
class DiscriminatorBlock(nn.Module):
    def __init__(self, in_features: int, out_features: int, norm: bool, pool: bool, sn: bool):
        super().__init__()
        self.conv = nn.Conv2d(in_features, out_features, kernel_size=4)
        if sn:
            self.conv = nn.utils.spectral_norm(self.conv)
        self.norm = nn.InstanceNorm2d(out_features, affine=True) if norm else None
        self.pool = pool

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv(x)
        if self.norm is not None:
            out = self.norm(out)
        out = F.leaky_relu(out, 0.2)
        return F.avg_pool2d(out, (2, 2)) if self.pool else out


class Discriminator(nn.Module):
    """FOMM's patch discriminator, optionally conditioned on the keypoint heatmaps (``use_kp``)."""

    def __init__(self, num_channels: int = 3, block_expansion: int = 64, num_blocks: int = 4,
                 max_features: int = 512, sn: bool = True, use_kp: bool = False, num_kp: int = 10,
                 kp_variance: float = 0.01):
        super().__init__()
        self.down_blocks = nn.ModuleList(
            DiscriminatorBlock(num_channels + num_kp * use_kp if i == 0
                               else min(max_features, block_expansion * 2 ** i),
                               min(max_features, block_expansion * 2 ** (i + 1)), norm=i != 0,
                               pool=i != num_blocks - 1, sn=sn)
            for i in range(num_blocks))
        self.conv = nn.Conv2d(min(max_features, block_expansion * 2 ** num_blocks), 1, kernel_size=1)
        if sn:
            self.conv = nn.utils.spectral_norm(self.conv)
        self.use_kp = use_kp
        self.kp_variance = kp_variance

    def forward(self, x: torch.Tensor, kp: torch.Tensor | None = None):
        out = x
        if self.use_kp:
            out = torch.cat([out, kp2gaussian(kp, x.shape[2:], self.kp_variance)], dim=1)
        feature_maps = []
        for block in self.down_blocks:
            out = block(out)
            feature_maps.append(out)
        return feature_maps, self.conv(out)


class MultiScaleDiscriminator(nn.Module):
    """One :class:`Discriminator` per scale (state keys ``discs.<scale>``, FOMM's layout)."""

    def __init__(self, scales: Sequence[float] = (1,), **kwargs):
        super().__init__()
        self.scales = tuple(float(s) for s in scales)
        self.discs = nn.ModuleDict({str(s).replace(".", "-"): Discriminator(**kwargs) for s in self.scales})

    def forward(self, pyramid: Mapping[float, torch.Tensor], kp: torch.Tensor | None = None):
        """{scale: (feature maps, prediction map)}."""
        return {s: self.discs[str(s).replace(".", "-")](pyramid[s], kp) for s in self.scales}


def generator_gan_terms(disc_fake: Mapping, disc_real: Mapping, feature_weights: Sequence[float]):
    """(LSGAN generator loss sum_s mean (1 - D(fake))^2, feature matching sum_s,i w_i mean|F_real - F_fake|)."""
    gan, matching = 0.0, 0.0
    for scale, (fake_maps, fake_pred) in disc_fake.items():
        gan = gan + ((1 - fake_pred) ** 2).mean()
        real_maps = disc_real[scale][0]
        for weight, a, b in zip(feature_weights, real_maps, fake_maps):
            if weight:
                matching = matching + weight * torch.abs(a.detach() - b).mean()
    return gan, matching


def discriminator_loss(disc_fake: Mapping, disc_real: Mapping) -> torch.Tensor:
    """LSGAN: sum_s mean (1 - D(real))^2 + D(fake)^2."""
    total = 0.0
    for scale, (_, fake_pred) in disc_fake.items():
        total = total + ((1 - disc_real[scale][1]) ** 2 + fake_pred ** 2).mean()
    return total


# --------------------------------------------------------------------------------------------- MRDAC contrastive
def info_nce(e1: torch.Tensor, e2: torch.Tensor, temperature: float) -> torch.Tensor:
    """The MRDAC paper's contrastive loss over a batch of B positive pairs (e1_i, e2_i):

    L = mean_i -log( exp(sim(e1_i, e2_i)/tau) / sum_j exp(sim(e1_i, e2_j)/tau) ),
    sim = cosine similarity of the flattened feature maps; the other samples of the batch are the
    negatives (B = 1 gives 0: there is no negative)."""
    if e1.shape != e2.shape or e1.dim() < 2:
        raise ValueError(f"info_nce needs two batches of the same shape, got {list(e1.shape)} and {list(e2.shape)}")
    if not temperature > 0:
        raise ValueError(f"the contrastive temperature must be positive, got {temperature}")
    a = F.normalize(e1.flatten(1), dim=1)
    b = F.normalize(e2.flatten(1), dim=1)
    logits = a @ b.t() / temperature
    labels = torch.arange(a.shape[0], device=a.device)
    return F.cross_entropy(logits, labels)


# --------------------------------------------------------------------------------------------- rate
def bits_per_pixel(likelihoods: Mapping[str, torch.Tensor], num_pixels: int) -> torch.Tensor:
    """sum over the latents of -log2(likelihood) / (B * H * W) (pixels of the coded picture, per sample)."""
    total = 0.0
    batch = None
    for lik in likelihoods.values():
        batch = lik.shape[0]
        total = total + torch.log(lik.clamp_min(1e-9)).sum() / -math.log(2.0)
    return total / (batch * num_pixels)
