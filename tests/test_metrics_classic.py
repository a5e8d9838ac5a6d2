"""PSNR (by hand), SSIM and MS-SSIM (pytorch-msssim), VMAF (libvmaf), the registry contract."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from gfvc.io import rgb_to_yuv420
from gfvc.metrics import MetricError, available_metrics, get_metric

NAMES = ["psnr_y", "psnr_yuv", "psnr_rgb", "ssim", "ms_ssim", "fsim", "lpips_vgg", "lpips_alex", "dists",
         "msvgg", "vmaf"]
# SSIM/MS-SSIM: the reference runs in float64 with a float64 window (pytorch-msssim's own window
# is built in float32, whose rounding moves SSIM by ~1e-5 because var = E[x^2] - mu^2 amplifies
# it). gfvc in float64 must agree to rounding; in float32 (its default, 10x faster on CPU) the
# centred variance computation keeps it within 1e-6.
SSIM_ATOL = {"float64": 1e-10, "float32": 1e-6}


def _window(size, sigma=1.5):
    x = torch.arange(size, dtype=torch.float64) - size // 2
    g = torch.exp(-x ** 2 / (2 * sigma ** 2))
    return (g / g.sum()).view(1, 1, 1, size).repeat(3, 1, 1, 1)


@pytest.fixture(scope="module")
def sequence():
    from skimage import data

    img = data.astronaut()
    ref = np.stack([img[100:292:2, 160:352:2], img[20:212:2, 200:392:2], img[150:342:2, 100:292:2]])  # 3 x 96x96
    rng = np.random.default_rng(11)
    noise = rng.normal(0, 1, ref.shape) * np.array([4.0, 9.0, 16.0])[:, None, None, None]
    return ref, np.clip(ref + noise, 0, 255).astype(np.uint8)


def test_registry_names_and_contract():
    assert available_metrics() == NAMES
    for name in NAMES:
        m = get_metric(name)
        assert m.name == name
        assert m.colour_space in ("rgb", "yuv420", "y")
        assert isinstance(m.higher_is_better, bool)
        ok, reason = m.availability()
        assert isinstance(ok, bool) and (ok or reason)
    lower = {n for n in NAMES if not get_metric(n).higher_is_better}
    assert lower == {"lpips_vgg", "lpips_alex", "dists", "msvgg"}
    assert get_metric("psnr_y").weights_info() == {}
    with pytest.raises(MetricError, match="unknown metric"):
        get_metric("psnr_x")
    with pytest.raises(MetricError, match="unexpected"):
        get_metric("dists", vgg19_weights="x")
    with pytest.raises(MetricError, match="colour matrix"):
        get_metric("psnr_y", matrix="bt2020")


def _psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * np.log10(255.0 ** 2 / mse)


def test_psnr_by_hand(sequence):
    ref, dis = sequence
    y_r, u_r, v_r = rgb_to_yuv420(ref)
    y_d, u_d, v_d = rgb_to_yuv420(dis)
    for i in range(len(ref)):
        py = get_metric("psnr_y").compute(ref, dis).per_picture[i]
        assert py == pytest.approx(_psnr(y_r[i], y_d[i]), abs=1e-10)
        expected_yuv = (6 * _psnr(y_r[i], y_d[i]) + _psnr(u_r[i], u_d[i]) + _psnr(v_r[i], v_d[i])) / 8
        assert get_metric("psnr_yuv").compute(ref, dis).per_picture[i] == pytest.approx(expected_yuv, abs=1e-10)
        assert get_metric("psnr_rgb").compute(ref, dis).per_picture[i] == pytest.approx(_psnr(ref[i], dis[i]),
                                                                                       abs=1e-10)
    r = get_metric("psnr_rgb").compute(ref, dis)
    assert r.per_picture.dtype == np.float64 and r.mean == pytest.approx(r.per_picture.mean())
    assert r.per_picture[0] > r.per_picture[1] > r.per_picture[2]  # more noise, lower PSNR


def test_psnr_other_matrix_and_identical_cap(sequence):
    ref, dis = sequence
    y709 = rgb_to_yuv420(ref, "bt709_full")[0], rgb_to_yuv420(dis, "bt709_full")[0]
    got = get_metric("psnr_y", matrix="bt709_full").compute(ref, dis).per_picture
    assert got[0] == pytest.approx(_psnr(y709[0][0], y709[1][0]), abs=1e-10)
    same = get_metric("psnr_yuv").compute(ref, ref)
    assert np.all(same.per_picture == 100.0)  # MSE 0 -> the 100 dB cap, not inf


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_ssim_and_ms_ssim_match_pytorch_msssim(sequence, dtype):
    from pytorch_msssim import ms_ssim, ssim

    ref, dis = sequence
    x = torch.from_numpy(ref).permute(0, 3, 1, 2).double()
    y = torch.from_numpy(dis).permute(0, 3, 1, 2).double()
    expected = ssim(x, y, data_range=255, size_average=False, win=_window(11)).numpy()
    np.testing.assert_allclose(get_metric("ssim", dtype=dtype).compute(ref, dis).per_picture, expected,
                               atol=SSIM_ATOL[dtype])
    # 96x96 is too small for 5 scales with an 11-tap window; a 5-tap window fits (> 4 * 16).
    expected = ms_ssim(x, y, data_range=255, size_average=False, win=_window(5)).numpy()
    np.testing.assert_allclose(get_metric("ms_ssim", win_size=5, dtype=dtype).compute(ref, dis).per_picture,
                               expected, atol=SSIM_ATOL[dtype])
    assert expected[0] > expected[2]
    with pytest.raises(MetricError, match="too small"):
        get_metric("ms_ssim").compute(ref, dis)


def test_bad_input_is_rejected(sequence):
    ref, dis = sequence
    m = get_metric("psnr_rgb")
    with pytest.raises(MetricError, match="differ in shape"):
        m.compute(ref, dis[:2])
    with pytest.raises(MetricError, match="uint8 RGB"):
        m.compute(ref.astype(np.float32), dis)


def test_vmaf_through_static_ffmpeg(sequence):
    # A still picture: VMAF's motion feature masks distortion in the scene-cut-like crops.
    ref = np.repeat(sequence[0][:1], 3, axis=0)
    m = get_metric("vmaf")
    ok, reason = m.availability()
    assert ok, reason
    # Blur by 2x2 and by 4x4 block averaging: VMAF must fall, more for the stronger blur.
    def blur(frames, k):
        n, h, w, c = frames.shape
        means = frames.reshape(n, h // k, k, w // k, k, c).mean(axis=(2, 4))
        return np.repeat(np.repeat(means, k, axis=1), k, axis=2).round().astype(np.uint8)

    same = m.compute(ref, ref)
    mild, strong = m.compute(ref, blur(ref, 2)), m.compute(ref, blur(ref, 4))
    assert same.per_picture.shape == (3,)
    assert np.all(same.per_picture > 95.0)
    assert np.all(mild.per_picture < same.per_picture - 5)
    assert np.all(strong.per_picture < mild.per_picture - 5)
    assert strong.mean == pytest.approx(strong.per_picture.mean())
    assert len(m.weights_info()["vmaf_model"]["sha256"]) == 64


def test_benchmark_runs_on_a_tiny_sequence(capsys):
    from gfvc.metrics.benchmark import main

    assert main(["--frames", "2", "--size", "32", "--metrics", "psnr_y,psnr_rgb", "--threads", "1"]) == 0
    out = capsys.readouterr().out
    assert "| psnr_y |" in out and "| psnr_rgb |" in out


def test_weight_hash_follows_the_content_not_size_and_mtime(tmp_path):
    """A weight file replaced or rewritten with the same size and mtime is hashed again."""
    import hashlib
    import os

    from gfvc.metrics.weights import sha256_file

    path = tmp_path / "w.pth"
    path.write_bytes(b"A" * 64)
    mtime = path.stat().st_mtime_ns
    assert sha256_file(path) == hashlib.sha256(b"A" * 64).hexdigest()
    # replaced by another file of the same size, mtime set back
    other = tmp_path / "new.pth"
    other.write_bytes(b"B" * 64)
    os.utime(other, ns=(mtime, mtime))
    os.replace(other, path)
    assert sha256_file(path) == hashlib.sha256(b"B" * 64).hexdigest()
    # rewritten in place, mtime set back: the change time moves (rewrite until the clock shows it)
    before = path.stat().st_ctime_ns
    for _ in range(100000):
        with open(path, "r+b") as f:
            f.write(b"C" * 64)
        os.utime(path, ns=(mtime, mtime))
        if path.stat().st_ctime_ns != before:
            break
    assert path.stat().st_mtime_ns == mtime and path.stat().st_size == 64
    assert sha256_file(path) == hashlib.sha256(b"C" * 64).hexdigest()
