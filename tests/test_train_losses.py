"""gfvc.train.losses: the contrastive term against a hand computation, the fallback perceptual loss,
the equivariance transform, the GAN terms and the rate."""
from __future__ import annotations

import math

import pytest
import torch

from gfvc.train.losses import (PERCEPTUAL_FALLBACK, MultiScaleDiscriminator, PerceptualLoss, Transform,
                               bits_per_pixel, discriminator_loss, generator_gan_terms, info_nce)


def test_info_nce_matches_a_hand_computation_on_two_samples():
    e1 = torch.tensor([[1.0, 0.0], [0.0, 1.0]]).view(2, 2, 1, 1)
    e2 = torch.tensor([[2.0, 0.0], [1.0, 1.0]]).view(2, 2, 1, 1)  # norms differ: cosine ignores them
    tau = 0.5
    r = 1 / math.sqrt(2)  # cos(e1_0, e2_1) = cos(e1_1, e2_1); cos(e1_0, e2_0) = 1; cos(e1_1, e2_0) = 0
    l0 = -math.log(math.exp(1 / tau) / (math.exp(1 / tau) + math.exp(r / tau)))
    l1 = -math.log(math.exp(r / tau) / (math.exp(0 / tau) + math.exp(r / tau)))
    assert info_nce(e1, e2, tau).item() == pytest.approx((l0 + l1) / 2, rel=1e-6)


def test_info_nce_is_small_for_aligned_pairs_and_zero_without_negatives():
    x = torch.randn(4, 8, 3, 3, generator=torch.Generator().manual_seed(1))
    assert info_nce(x, 3 * x, 0.05).item() < 1e-3
    assert info_nce(x[:1], -x[:1], 0.1).item() == 0.0   # batch 1: no negative, no signal
    with pytest.raises(ValueError, match="temperature"):
        info_nce(x, x, 0.0)


def test_fallback_perceptual_loss_is_zero_on_equal_pictures_and_grows_with_the_difference():
    loss = PerceptualLoss([1, 0.5, 0.25, 0.125], [10] * 5)
    assert loss.kind == PERCEPTUAL_FALLBACK
    x = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    assert loss(x, x).item() == pytest.approx(0.0, abs=1e-5)
    near, far = loss((x + 0.02).clamp(0, 1), x).item(), loss((x + 0.2).clamp(0, 1), x).item()
    assert 0 < near < far


def test_transform_without_noise_is_the_identity():
    x = torch.rand(2, 3, 16, 16)
    t = Transform(2, 0.0, 0.0, 0)
    assert torch.allclose(t.transform_frame(x), x, atol=1e-5)
    points = torch.rand(2, 5, 2) * 2 - 1
    assert torch.allclose(t.warp_coordinates(points), points)


def test_transform_with_noise_moves_keypoints_consistently_with_the_picture():
    torch.manual_seed(0)
    t = Transform(1, 0.05, 0.005, 5)
    assert not torch.allclose(t.warp_coordinates(torch.zeros(1, 1, 2)), torch.zeros(1, 1, 2))


def test_lsgan_terms():
    torch.manual_seed(0)
    disc = MultiScaleDiscriminator([1], block_expansion=4, max_features=8, num_blocks=4, use_kp=True, num_kp=3)
    real, fake, kp = torch.rand(2, 3, 64, 64), torch.rand(2, 3, 64, 64), torch.rand(2, 3, 2) - 0.5
    d_real, d_fake = disc({1.0: real}, kp), disc({1.0: fake}, kp)
    gan, matching = generator_gan_terms(d_fake, d_real, [1, 1, 1, 1])
    pred_real, pred_fake = d_real[1.0][1], d_fake[1.0][1]
    assert gan.item() == pytest.approx(((1 - pred_fake) ** 2).mean().item())
    assert discriminator_loss(d_fake, d_real).item() == pytest.approx(
        ((1 - pred_real) ** 2 + pred_fake ** 2).mean().item())
    assert matching.item() > 0
    _, same = generator_gan_terms(d_real, d_real, [1, 1, 1, 1])
    assert same.item() == 0


def test_bits_per_pixel_from_likelihoods():
    lik = {"y": torch.full((2, 4, 2, 2), 0.5), "z": torch.full((2, 1, 1, 1), 0.25)}
    # per sample: 16 latents x 1 bit + 1 x 2 bits = 18 bits over 8x8 pixels
    assert bits_per_pixel(lik, 64).item() == pytest.approx(18 / 64)


def test_vgg19_perceptual_loss_from_a_weight_file(tmp_path):
    from torch import nn

    from gfvc.metrics.backbones import build_backbone
    from gfvc.train.losses import PERCEPTUAL_VGG19, VGG19_SLICE_TAPS

    torch.manual_seed(0)
    features = build_backbone("vgg19")
    assert all(isinstance(features[i], nn.ReLU) for i in VGG19_SLICE_TAPS)   # relu1_1 ... relu5_1
    path = tmp_path / "vgg19.pth"
    torch.save({f"features.{k}": v.half() for k, v in features.state_dict().items()}, path)
    loss = PerceptualLoss([1, 0.5], [1, 1, 1, 1, 1], vgg19_weights=path)
    assert loss.kind == PERCEPTUAL_VGG19 and not any(p.requires_grad for p in loss.vgg.parameters())
    x = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    assert loss(x, x).item() == 0
    fake = (x + 0.1).clamp(0, 1).requires_grad_(True)
    value = loss(fake, x)
    value.backward()
    assert value.item() > 0 and fake.grad.abs().sum() > 0
