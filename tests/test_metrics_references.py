"""Deep metrics and FSIM against independent reference implementations on the same inputs.

References: the lpips package (LPIPS), dists-pytorch (DISTS, the authors' release), piq (FSIM,
and the per-layer L1 content distance used to check msVGG). They import torchvision, which
cannot be imported here, so this module installs an import stand-in for torchvision in
sys.modules for its own tests only. The stand-in's networks are written out here from
torchvision's published architecture (not taken from gfvc) and load the same random-weight
state_dict files that gfvc gets, so the comparison also checks gfvc's layer names and order.
"""
from __future__ import annotations

import sys
import types

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from gfvc.metrics import MetricError, MetricUnavailable, get_metric

# Tolerances: float32 networks on identical inputs and weights; differences come only from the
# order of floating point operations.
DEEP_ATOL = 1e-5
DEEP_RTOL = 1e-4
# FSIM: gfvc follows the authors' MATLAB constants (YIQ matrix to 3 decimals, true median,
# real part of the chroma power); piq rounds the YIQ matrix differently, takes the lower median
# and the absolute value. On natural pictures that moves FSIM by about 2e-5.
FSIM_ATOL = 1e-4


def _tv_vgg(cfg):
    layers, c = [], 3
    for v in cfg:
        if v == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            layers += [nn.Conv2d(c, v, kernel_size=3, padding=1), nn.ReLU(inplace=True)]
            c = v
    return nn.Sequential(*layers)


TV_CFGS = {
    "vgg16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "vgg19": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"],
}


def _tv_alexnet():
    return nn.Sequential(
        nn.Conv2d(3, 64, kernel_size=11, stride=4, padding=2), nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(64, 192, kernel_size=5, padding=2), nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(192, 384, kernel_size=3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(384, 256, kernel_size=3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(256, 256, kernel_size=3, padding=1), nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2),
    )


def _tv_features(name):
    return _tv_alexnet() if name == "alexnet" else _tv_vgg(TV_CFGS[name])


@pytest.fixture(scope="module")
def weight_files(tmp_path_factory):
    """Random backbones of the real size, saved as torchvision files (features.* + a classifier key)."""
    d = tmp_path_factory.mktemp("weights")
    gen = torch.Generator().manual_seed(1234)
    paths = {}
    for name in ("vgg16", "vgg19", "alexnet"):
        with torch.device("meta"):  # shapes only
            features = _tv_features(name)
        state = {}
        for k, v in features.state_dict().items():
            if k.endswith("weight"):  # He-normal keeps activations alive through all layers
                fan_in = v[0].numel()
                state[f"features.{k}"] = torch.randn(v.shape, generator=gen) * (2.0 / fan_in) ** 0.5
            else:
                state[f"features.{k}"] = torch.randn(v.shape, generator=gen) * 0.01
        state["classifier.0.weight"] = torch.zeros(2, 2)  # a full torchvision file has these; ignored
        paths[name] = d / f"{name}.pth"
        torch.save(state, paths[name])
    return paths


@pytest.fixture(scope="module")
def torchvision_stand_in(weight_files):
    """sys.modules['torchvision'] whose models return the in-test networks with the saved weights."""
    saved = {k: v for k, v in sys.modules.items()
             if k.split(".")[0] in ("torchvision", "lpips", "piq", "DISTS_pytorch")}

    def factory(name):
        def build(*args, **kwargs):
            state = torch.load(weight_files[name], map_location="cpu", weights_only=True)
            with torch.device("meta"):
                model = types.SimpleNamespace(features=_tv_features(name))
            model.features.load_state_dict({k[9:]: v for k, v in state.items() if k.startswith("features.")},
                                           assign=True)
            return model
        return build

    tv = types.ModuleType("torchvision")
    models = types.ModuleType("torchvision.models")
    inception = types.ModuleType("torchvision.models.inception")
    for cls in ("InceptionA", "InceptionC", "InceptionE"):  # piq subclasses these at import time
        setattr(inception, cls, type(cls, (nn.Module,), {}))
    models.inception = inception
    models.vgg16, models.vgg19, models.alexnet = factory("vgg16"), factory("vgg19"), factory("alexnet")
    models.inception_v3 = models.squeezenet1_1 = lambda *a, **k: pytest.fail("unexpected torchvision model")
    transforms = types.ModuleType("torchvision.transforms")
    tv.models, tv.transforms = models, transforms
    for k in list(saved):
        del sys.modules[k]
    sys.modules.update({"torchvision": tv, "torchvision.models": models,
                        "torchvision.models.inception": inception, "torchvision.transforms": transforms})
    yield
    for k in [k for k in sys.modules if k.split(".")[0] in ("torchvision", "lpips", "piq", "DISTS_pytorch")]:
        del sys.modules[k]
    sys.modules.update(saved)


@pytest.fixture(scope="module")
def pictures():
    """Two 64x64 pictures cut from a real photograph plus a distorted version of each."""
    from skimage import data

    img = data.astronaut()
    ref = np.stack([img[60:188:2, 180:308:2], img[200:328:2, 150:278:2]]).astype(np.uint8)
    rng = np.random.default_rng(7)
    dis = np.clip(ref.astype(np.int16) + rng.normal(0, 14, ref.shape).round().astype(np.int16), 0, 255)
    dis[:, 20:30, 10:40] = 128  # a flat patch, as a codec artefact would leave
    return ref, dis.astype(np.uint8)


def _t(frames):
    return torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 255.0


@pytest.mark.parametrize("metric,trunk,net", [("lpips_vgg", "vgg16", "vgg"), ("lpips_alex", "alexnet", "alex")])
def test_lpips_matches_lpips_package(torchvision_stand_in, weight_files, pictures, metric, trunk, net):
    import lpips

    ref, dis = pictures
    ours = get_metric(metric, **{f"{trunk}_weights": str(weight_files[trunk])}).compute(ref, dis)
    model = lpips.LPIPS(net=net, verbose=False)  # pretrained linear layers from the wheel, trunk from the stand-in
    with torch.no_grad():
        expected = model(_t(ref), _t(dis), normalize=True).reshape(-1).double().numpy()
    assert expected.min() > 1e-4  # the comparison means something
    np.testing.assert_allclose(ours.per_picture, expected, rtol=DEEP_RTOL, atol=DEEP_ATOL)
    assert ours.mean == pytest.approx(expected.mean(), rel=DEEP_RTOL, abs=DEEP_ATOL)


def test_dists_matches_authors_release(torchvision_stand_in, weight_files, pictures):
    from DISTS_pytorch import DISTS
    from gfvc.metrics.weights import DISTS_ALPHA_BETA

    ab_path, reason = DISTS_ALPHA_BETA.resolve(None)
    assert ab_path is not None, reason
    ref, dis = pictures
    metric = get_metric("dists", vgg16_weights=str(weight_files["vgg16"]))
    ours = metric.compute(ref, dis)
    model = DISTS(load_weights=False)
    ab = torch.load(ab_path, map_location="cpu", weights_only=True)
    model.alpha.data, model.beta.data = ab["alpha"], ab["beta"]
    with torch.no_grad():
        expected = model(_t(dis), _t(ref)).reshape(-1).double().numpy()
    assert expected.min() > 1e-3
    np.testing.assert_allclose(ours.per_picture, expected, rtol=DEEP_RTOL, atol=DEEP_ATOL)
    info = metric.weights_info()
    assert set(info) == {"vgg16", "dists_alpha_beta"} and all(len(v["sha256"]) == 64 for v in info.values())


def _fomm_pyramid_level(x, scale):
    """Written from the FOMM paper's anti-aliased downsampling (Gaussian sigma=(1/s-1)/2, subsample)."""
    if scale == 1:
        return x
    sigma = (1 / scale - 1) / 2
    size = 2 * round(sigma * 4) + 1
    ax = np.arange(size) - (size - 1) / 2
    g = np.exp(-ax ** 2 / (2 * sigma ** 2))
    k = np.outer(g, g)
    k = torch.tensor(k / k.sum(), dtype=x.dtype)[None, None].repeat(3, 1, 1, 1)
    pad = size // 2
    y = F.conv2d(F.pad(x, (pad, pad, pad, pad)), k, groups=3)
    return y[:, :, ::int(1 / scale), ::int(1 / scale)]


@pytest.fixture(scope="module")
def pictures128():
    """128x128 (msVGG's 1/8 pyramid level must survive four poolings)."""
    from skimage import data

    ref = data.astronaut()[None, ::4, ::4].copy()
    dis = np.clip(ref + np.random.default_rng(5).normal(0, 12, ref.shape), 0, 255).astype(np.uint8)
    return ref, dis


def test_msvgg_matches_piq_content_distance(torchvision_stand_in, weight_files, pictures128):
    import piq

    ref, dis = pictures128
    ours = get_metric("msvgg", vgg19_weights=str(weight_files["vgg19"])).compute(ref, dis)
    # piq's ContentLoss sums the per-channel spatial means, so weight each layer by 1/channels
    # to get the mean absolute difference over the whole feature map. Its extractor runs every
    # layer it is given, so it gets VGG-19 up to relu5_1 (pool5 would not fit 8x8 inputs).
    features = sys.modules["torchvision.models"].vgg19().features[:30]
    loss = piq.ContentLoss(features, layers=("1", "6", "11", "20", "29"),
                           weights=[1 / 64, 1 / 128, 1 / 256, 1 / 512, 1 / 512], distance="mae", reduction="none")
    expected = 0.0
    with torch.no_grad():
        for s in (1, 0.5, 0.25, 0.125):
            expected = expected + loss(_fomm_pyramid_level(_t(dis), s), _fomm_pyramid_level(_t(ref), s))
    expected = expected.double().numpy()
    assert expected.min() > 1e-3
    np.testing.assert_allclose(ours.per_picture, expected, rtol=DEEP_RTOL, atol=DEEP_ATOL)


def test_fsim_matches_piq(torchvision_stand_in):
    import piq
    from skimage import data

    img = data.astronaut()[::4, ::4]  # 128x128 of a real photograph
    ref = np.stack([img, np.ascontiguousarray(img[:, ::-1])])
    rng = np.random.default_rng(3)
    dis = np.clip(ref + rng.normal(0, 10, ref.shape), 0, 255).astype(np.uint8)
    ours = get_metric("fsim").compute(ref, dis)
    x = torch.from_numpy(dis).permute(0, 3, 1, 2).double() / 255
    y = torch.from_numpy(ref).permute(0, 3, 1, 2).double() / 255
    expected = piq.fsim(x, y, data_range=1.0, reduction="none").numpy()
    assert 0.5 < expected.min() < 0.999
    np.testing.assert_allclose(ours.per_picture, expected, atol=FSIM_ATOL)
    same = get_metric("fsim").compute(ref, ref)
    np.testing.assert_allclose(same.per_picture, 1.0, atol=1e-12)


def test_deep_metric_without_weights_is_unavailable(monkeypatch, pictures):
    monkeypatch.delenv("GFVC_VGG16_WEIGHTS", raising=False)
    m = get_metric("lpips_vgg")
    ok, reason = m.availability()
    assert not ok and "GFVC_VGG16_WEIGHTS" in reason
    with pytest.raises(MetricUnavailable, match="VGG-16"):
        m.compute(*pictures)


def test_weights_from_environment_and_wrong_file(monkeypatch, weight_files, pictures128):
    monkeypatch.setenv("GFVC_VGG19_WEIGHTS", str(weight_files["vgg19"]))
    m = get_metric("msvgg")
    assert m.availability() == (True, None)
    assert m.weights_info()["vgg19"]["path"] == str(weight_files["vgg19"].resolve())
    # A VGG-16 file where a VGG-19 one is expected: unavailable, with the reason, never 0.
    monkeypatch.setenv("GFVC_VGG19_WEIGHTS", str(weight_files["vgg16"]))
    with pytest.raises(MetricUnavailable, match="not a torchvision vgg19 state_dict"):
        get_metric("msvgg").compute(*pictures128)
    monkeypatch.setenv("GFVC_VGG19_WEIGHTS", "/nonexistent/vgg19.pth")
    ok, reason = get_metric("msvgg").availability()
    assert not ok and "/nonexistent/vgg19.pth" in reason


def test_msvgg_rejects_too_small_pictures(weight_files, pictures):
    with pytest.raises(MetricError, match="too small"):
        get_metric("msvgg", vgg19_weights=str(weight_files["vgg19"])).compute(*pictures)


def test_weight_path_that_is_a_folder_or_fifo_is_named_as_such(monkeypatch, tmp_path):
    """A folder or FIFO named as weights is reported as what it is, and never opened (a FIFO would block)."""
    import os

    monkeypatch.setenv("GFVC_VGG19_WEIGHTS", str(tmp_path))
    ok, reason = get_metric("msvgg").availability()
    assert not ok and f"{tmp_path} is a directory, not a regular file (from $GFVC_VGG19_WEIGHTS)" in reason
    fifo = tmp_path / "vgg19.pth"
    os.mkfifo(fifo)
    ok, reason = get_metric("msvgg", vgg19_weights=str(fifo)).availability()
    assert not ok and "is a FIFO (named pipe), not a regular file (from option vgg19_weights)" in reason
