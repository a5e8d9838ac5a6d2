"""RDAC+ (family rdac_plus), built from the paper: shapes at the paper's sizes, the conditioning, the
keypoint-flow warp of the previous residual, the refinement applied last, bit-exact coding (also in
another process), the strict checkpoint round trip, training-mode forward and its rate estimate."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from models_helpers import torch_threads

from gfvc.codec.residual_benchmark import SMALL_RDAC_PLUS
from gfvc.coding.errors import EntropyCodingError
from gfvc.io.sequence import read_rgb
from gfvc.models import ModelConfigError, build_model, family_of_codec, get_family, read_model_params
from gfvc.models.checkpoint import CheckpointError
from gfvc.models.rdac_plus import ConditionalResidualCoder, RdacPlusModel, double, half

REPO_ROOT = Path(__file__).resolve().parent.parent
PAPER_CONFIG = REPO_ROOT / "cfg" / "models" / "rdac_plus-256.yaml"

#: a reduced configuration for 64x64 pictures (latent 8 x 8 for both coders, as at 256x256)
SMALL = SMALL_RDAC_PLUS
SIZE = 64


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """The tiny networks gain nothing from threads; on a shared 2-core machine they lose a lot."""
    with torch_threads(1):
        yield


def small_model(seed: int = 0) -> RdacPlusModel:
    torch.manual_seed(seed)
    model = build_model("rdac_plus", SMALL)
    # Distinct gains per level (a trained model's are; ones would make every level the same).
    with torch.no_grad():
        for coder in (model.generator.sdc, model.generator.tdc):
            for level in range(coder.levels):
                coder.gain[level] = 2.0 ** (level + 1)
                coder.inverse_gain[level] = 2.0 ** -(level + 1)
    model.update(force=True)
    return model


@pytest.fixture(scope="module")
def model() -> RdacPlusModel:
    return small_model()


@pytest.fixture(scope="module")
def clip(builtin_dir) -> torch.Tensor:
    """Frames 0..11 of a built-in talking-head clip, (12, 3, 256, 256) in [0, 1]."""
    frames = read_rgb(builtin_dir / "BUILTIN_FRANCK_001_256x256_25_8bit_444.rgb", 256, 256, 12)
    return torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 255


@pytest.fixture(scope="module")
def small_clip(clip) -> torch.Tensor:
    return F.interpolate(clip, size=(SIZE, SIZE), mode="area")


def pictures(seed: int, n: int = 1, size: int = SIZE) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, size, size, generator=g)


def coded_state(model, small_clip):
    """Decoded state after one spatially coded picture: what the temporal path starts from."""
    reference, previous, current = small_clip[0:1], small_clip[4:5], small_clip[8:9]
    with torch.no_grad():
        kp_ref, kp_prev, kp_cur = (model.analyse(f) for f in (reference, previous, current))
        pred_prev = model.animate(reference, kp_ref, kp_prev)
        _, _, res_hat_prev = model.spatial_compress(previous - pred_prev, pred_prev, 2)
        prev_picture = model.reconstruct(pred_prev, res_hat_prev)
        prediction = model.animate(reference, kp_ref, kp_cur)
    return dict(residual=current - prediction, res_hat_prev=res_hat_prev, prev_picture=prev_picture,
                kp_prev=kp_prev, kp_cur=kp_cur, prediction=prediction)


# ------------------------------------------------------------------ registry and configuration
def test_rdac_plus_is_its_own_family():
    assert family_of_codec("rdac_plus") == "rdac_plus"
    assert get_family("rdac_plus") is RdacPlusModel
    assert get_family("rdac") is not RdacPlusModel


def test_config_errors_are_one_line():
    params = {**SMALL, "residual_coder_params": {**SMALL["residual_coder_params"], "colour": 1}}
    with pytest.raises(ModelConfigError, match=r"unknown residual_coder_params \['colour'\]"):
        build_model("rdac_plus", params)
    params = {k: v for k, v in SMALL.items() if k != "residual_coder_params"}
    with pytest.raises(ModelConfigError, match="lacks 'residual_coder_params'"):
        build_model("rdac_plus", params)


# ------------------------------------------------------------------ shapes at the paper's sizes
def test_paper_sizes_latent_48x8x8_and_half_resolution_temporal_path():
    """The paper's residual coders and refinement (cfg/models/rdac_plus-256.yaml) at 256x256; the
    animation network is the reduced one (its size does not change the coders' shapes)."""
    paper = read_model_params(PAPER_CONFIG)
    torch.manual_seed(0)
    model = build_model("rdac_plus", {**SMALL, "residual_coder_params": paper["residual_coder_params"],
                                      "refinement_params": paper["refinement_params"]})
    model.update(force=True)
    g = model.generator
    assert model.levels == 5 and tuple(g.sdc.gain.shape) == (5, 48) and tuple(g.sdc.hyper_gain.shape) == (5, 32)
    seen = {}

    def record(name):
        def hook(module, inputs, output):
            seen[name] = (tuple(inputs[0].shape), tuple(output.shape))
        return hook

    hooks = [g.sdc.g_a.register_forward_hook(record("sdc.g_a")), g.sdc.h_a.register_forward_hook(record("sdc.h_a")),
             g.sdc.g_p.register_forward_hook(record("sdc.g_p")), g.tdc.g_a.register_forward_hook(record("tdc.g_a")),
             g.tdc.g_p.register_forward_hook(record("tdc.g_p")), g.tdc.g_s.register_forward_hook(record("tdc.g_s"))]
    try:
        x = pictures(1, size=256)
        with torch.no_grad():
            kp = model.analyse(x)
            prediction = model.animate(x, kp, kp)
            residual = (pictures(2, size=256) - 0.5) * 0.2
            strings, shape, res_hat = model.spatial_compress(residual, prediction, 0)
            t_strings, t_shape, t_res_hat = model.temporal_compress(residual, res_hat, x, kp, kp, prediction, 0)
    finally:
        for h in hooks:
            h.remove()
    assert seen["sdc.g_a"] == ((1, 6, 256, 256), (1, 48, 8, 8))        # R || X^ -> latent 48 x 8 x 8
    assert seen["sdc.g_p"] == ((1, 3, 256, 256), (1, 48, 8, 8))
    assert seen["sdc.h_a"][1] == (1, 32, 2, 2) and shape == (2, 2)
    assert seen["tdc.g_a"] == ((1, 9, 128, 128), (1, 48, 8, 8))        # D || W(R^) || X^ at half size
    assert seen["tdc.g_p"] == ((1, 6, 128, 128), (1, 48, 8, 8))
    assert seen["tdc.g_s"][1] == (1, 3, 128, 128) and t_shape == (2, 2)
    assert res_hat.shape == t_res_hat.shape == (1, 3, 256, 256)
    assert model.picture_multiple == 128


# ------------------------------------------------------------------ conditioning
def test_condition_changes_the_output_for_the_same_latents(model):
    """g_p ablation: the same decoded latents give another residual when X^ is zeroed."""
    sdc = model.generator.sdc
    residual, prediction = (pictures(3) - 0.5) * 0.3, pictures(4)
    with torch.no_grad():
        strings, shape, res_hat = model.spatial_compress(residual, prediction, 2)
        again = model.spatial_decompress(strings, shape, prediction, 2)
        ablated = model.spatial_decompress(strings, shape, torch.zeros_like(prediction), 2)
        y_hat = sdc.analysis(residual, prediction, 2).round()
        direct = sdc.synthesis(y_hat, prediction, 2)
        direct_ablated = sdc.synthesis(y_hat, torch.zeros_like(prediction), 2)
        # the analysis is conditioned too: another prediction, another latent
        other_y = sdc.analysis(residual, pictures(5), 2)
    assert torch.equal(res_hat, again)
    assert (res_hat - ablated).abs().max() > 1e-3
    assert (direct - direct_ablated).abs().max() > 1e-3
    assert (other_y - sdc.analysis(residual, prediction, 2)).abs().max() > 1e-3


def test_temporal_condition_changes_the_output(model, small_clip):
    state = coded_state(model, small_clip)
    tdc = model.generator.tdc
    with torch.no_grad():
        strings, shape, res_hat = model.temporal_compress(state["residual"], state["res_hat_prev"],
                                                          state["prev_picture"], state["kp_prev"],
                                                          state["kp_cur"], state["prediction"], 1)
        _, cond = model.temporal_inputs(state["res_hat_prev"], state["prev_picture"], state["kp_prev"],
                                        state["kp_cur"], state["prediction"])
        d_hat = tdc.decompress(strings, shape, cond, 1)
        for zeroed in (slice(0, 3), slice(3, 6)):          # W(R^_{t-1}) and X^ each matter
            ablated = cond.clone()
            ablated[:, zeroed] = 0
            assert (tdc.decompress(strings, shape, ablated, 1) - d_hat).abs().max() > 1e-3


# ------------------------------------------------------------------ motion-compensated previous residual
def uniform_keypoint_motion(model) -> RdacPlusModel:
    """The dense motion's mask made to ignore the background and weigh the keypoints equally: the
    flow is then exactly the keypoints' common translation."""
    mask = model.generator.dense_motion_network.mask.conv
    with torch.no_grad():
        mask.weight.zero_()
        mask.bias.zero_()
        mask.bias[0] = -50.0
    return model


def blob(size: int, cx: float, cy: float, sigma: float = 3.0) -> torch.Tensor:
    y, x = torch.meshgrid(torch.arange(size, dtype=torch.float32), torch.arange(size, dtype=torch.float32),
                          indexing="ij")
    b = torch.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * sigma ** 2)) * 0.5
    return torch.stack([b, -b, 0.5 * b]).unsqueeze(0)


@pytest.mark.parametrize("shift", [(6, 0), (0, -5), (4, 3)])
def test_previous_residual_moves_with_the_decoded_keypoints(shift):
    model = uniform_keypoint_motion(small_model(seed=1))
    dx, dy = shift
    kp_prev = {"value": (torch.rand(1, 4, 2, generator=torch.Generator().manual_seed(7)) - 0.5)}
    step = torch.tensor([2.0 * dx / (SIZE - 1), 2.0 * dy / (SIZE - 1)])
    kp_cur = {"value": kp_prev["value"] + step}
    res_prev = blob(SIZE, 30, 32)
    prev_picture = pictures(8)
    with torch.no_grad():
        warped = model.generator.deform_residual(res_prev, prev_picture, kp_prev, kp_cur)
        unmoved = model.generator.deform_residual(res_prev, prev_picture, kp_prev, kp_prev)
    expected = blob(SIZE, 30 + dx, 32 + dy)
    torch.testing.assert_close(warped, expected, atol=2e-4, rtol=0)
    torch.testing.assert_close(unmoved, res_prev, atol=2e-4, rtol=0)

    # The codec path uses that warp: with the temporal coder's output forced to zero, the decoded
    # residual IS the warped previous residual.
    out = model.generator.tdc.g_s.out.deconv
    with torch.no_grad():
        out.weight.zero_()
        out.bias.zero_()
        prediction = pictures(9)
        strings, shape, res_hat = model.temporal_compress(res_prev, res_prev, prev_picture, kp_prev, kp_cur,
                                                          prediction, 0)
        decoded = model.temporal_decompress(strings, shape, res_prev, prev_picture, kp_prev, kp_cur, prediction, 0)
    torch.testing.assert_close(res_hat, expected, atol=2e-4, rtol=0)
    assert torch.equal(decoded, res_hat)


def test_temporal_residual_is_coded_at_half_resolution(model, small_clip):
    state = coded_state(model, small_clip)
    seen = []
    g_a = model.generator.tdc.g_a.register_forward_hook(lambda m, i, o: seen.append(tuple(i[0].shape)))
    try:
        with torch.no_grad():
            model.temporal_compress(state["residual"], state["res_hat_prev"], state["prev_picture"],
                                    state["kp_prev"], state["kp_cur"], state["prediction"], 0)
    finally:
        g_a.remove()
    assert seen == [(1, 9, SIZE // 2, SIZE // 2)]
    x = pictures(10)
    assert half(x).shape[-1] == SIZE // 2 and double(half(x)).shape == x.shape


# ------------------------------------------------------------------ refinement
def test_refinement_is_applied_last(model, small_clip):
    order = []
    hooks = []
    for name, module in list(model.generator.named_children()) + [("kp_detector", model.kp_detector)]:
        if name in ("sdc", "tdc", "refinement"):
            hooks.append(module.register_forward_hook(lambda m, i, o, name=name: order.append((name, i, o))))
    for name, module in model.generator.sdc.named_children():
        hooks.append(module.register_forward_hook(lambda m, i, o, name=name: order.append((f"sdc.{name}", i, o))))
    try:
        with torch.no_grad():
            prediction = model.animate(small_clip[0:1], model.analyse(small_clip[0:1]), model.analyse(small_clip[3:4]))
            residual = small_clip[3:4] - prediction
            _, _, res_hat = model.spatial_compress(residual, prediction, 3)
            order.clear()
            picture = model.reconstruct(prediction, res_hat)
            assert [name for name, _, _ in order] == ["refinement"]
            assert torch.equal(order[0][1][0], (prediction + res_hat).clamp(0, 1))
            assert torch.equal(order[0][2], picture)
            assert (picture - (prediction + res_hat).clamp(0, 1)).abs().max() > 1e-3   # it does something

            order.clear()
            out = model(small_clip[0:1], [small_clip[3:4], small_clip[4:5]], rate_idx=1)
    finally:
        for h in hooks:
            h.remove()
    names = [name for name, _, _ in order]
    # per target: the coder runs, then the refinement, on the decoded picture, and nothing after it
    assert names[-1] == "refinement" and names.count("refinement") == 2
    for i, decoded in enumerate(out["decoded"]):
        refined = [o for name, _, o in order if name == "refinement"][i]
        assert torch.equal(refined, out["reconstruction"][i])
        assert torch.equal(decoded, (out["prediction"][i] + out["residual_hat"][i]).clamp(0, 1))


# ------------------------------------------------------------------ bit-exact coding
@pytest.mark.parametrize("rate_idx", [0, 2, 4])
def test_spatial_and_temporal_coding_are_bit_exact(model, small_clip, rate_idx):
    state = coded_state(model, small_clip)
    with torch.no_grad():
        strings, shape, res_hat = model.spatial_compress(state["residual"], state["prediction"], rate_idx)
        decoded = model.spatial_decompress(strings, shape, state["prediction"], rate_idx)
        t_strings, t_shape, t_res_hat = model.temporal_compress(
            state["residual"], state["res_hat_prev"], state["prev_picture"], state["kp_prev"], state["kp_cur"],
            state["prediction"], rate_idx)
        t_decoded = model.temporal_decompress(t_strings, t_shape, state["res_hat_prev"], state["prev_picture"],
                                              state["kp_prev"], state["kp_cur"], state["prediction"], rate_idx)
    assert torch.equal(res_hat, decoded) and torch.equal(t_res_hat, t_decoded)
    assert all(isinstance(s, bytes) and s for s in strings + t_strings)
    # the rate levels really differ
    with torch.no_grad():
        other = model.spatial_compress(state["residual"], state["prediction"], (rate_idx + 2) % 5)[0]
    assert other != strings


def test_higher_rate_levels_spend_more_bits(model, small_clip):
    state = coded_state(model, small_clip)
    sizes = []
    with torch.no_grad():
        for rate_idx in range(5):
            strings, _, _ = model.spatial_compress(state["residual"], state["prediction"], rate_idx)
            sizes.append(sum(map(len, strings)))
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1]


DECODER_SCRIPT = r"""
import json, sys, torch
from gfvc.models import build_model
data = torch.load(sys.argv[1], weights_only=True)
params = json.loads(open(sys.argv[2]).read())
model = build_model("rdac_plus", params)
model.load_checkpoint(sys.argv[3])
torch.set_num_threads(1)
with torch.no_grad():
    r = model.spatial_decompress([bytes(data["y"].tolist()), bytes(data["z"].tolist())], (2, 2), data["prediction"], 3)
    t = model.temporal_decompress([bytes(data["ty"].tolist()), bytes(data["tz"].tolist())], (2, 2), r,
                                  data["prev_picture"], {"value": data["kp_prev"]}, {"value": data["kp_cur"]},
                                  data["prediction"], 3)
torch.save({"r": r, "t": t}, sys.argv[4])
"""


def as_tensor(data: bytes) -> torch.Tensor:
    return torch.frombuffer(bytearray(data), dtype=torch.uint8).clone()


def test_decoding_in_another_process_after_a_checkpoint_round_trip(model, small_clip, tmp_path):
    state = coded_state(model, small_clip)
    prediction = state["prediction"]
    with torch.no_grad():
        strings, shape, res_hat = model.spatial_compress(state["residual"], prediction, 3)
        picture = model.reconstruct(prediction, res_hat)
        t_strings, t_shape, t_res_hat = model.temporal_compress(state["residual"], res_hat, picture,
                                                                state["kp_cur"], state["kp_cur"], prediction, 3)
    assert shape == t_shape == (2, 2)
    checkpoint = tmp_path / "rdac_plus.pth.tar"
    torch.save({"generator": model.generator.state_dict(), "kp_detector": model.kp_detector.state_dict()}, checkpoint)
    (tmp_path / "params.json").write_text(json.dumps(SMALL))
    torch.save({"y": as_tensor(strings[0]), "z": as_tensor(strings[1]), "ty": as_tensor(t_strings[0]),
                "tz": as_tensor(t_strings[1]), "prediction": prediction, "prev_picture": picture,
                "kp_prev": state["kp_cur"]["value"], "kp_cur": state["kp_cur"]["value"]}, tmp_path / "in.pt")
    (tmp_path / "decode.py").write_text(DECODER_SCRIPT)
    env = {"PYTHONPATH": str(REPO_ROOT / "source"), "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}
    run = subprocess.run([sys.executable, str(tmp_path / "decode.py"), str(tmp_path / "in.pt"),
                          str(tmp_path / "params.json"), str(checkpoint), str(tmp_path / "out.pt")],
                         capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    out = torch.load(tmp_path / "out.pt", weights_only=True)
    assert torch.equal(out["r"], res_hat) and torch.equal(out["t"], t_res_hat)


# ------------------------------------------------------------------ checkpoint
def test_checkpoint_round_trip_with_the_strict_loader(model, small_clip, tmp_path):
    state = {"generator": model.generator.state_dict(), "kp_detector": model.kp_detector.state_dict()}
    # the entropy tables are derived data: saved empty, as in the published RDAC checkpoints
    assert state["generator"]["sdc.entropy_bottleneck._quantized_cdf"].numel() == 0
    path = tmp_path / "ckpt.pth.tar"
    torch.save(state, path)
    other = build_model("rdac_plus", SMALL)                  # other random weights, no tables yet
    sha = other.load_checkpoint(path)
    assert len(sha) == 64 and other.checkpoint_sha256 == sha
    for name in ("generator", "kp_detector"):
        theirs = getattr(other, name).state_dict()
        for key, value in getattr(model, name).state_dict().items():
            assert torch.equal(theirs[key], value), key
    for kind in ("sdc", "tdc"):
        assert getattr(other.generator, kind).tables_sha256() == getattr(model.generator, kind).tables_sha256()
    with torch.no_grad():
        x = small_clip[2:3]
        a = model.spatial_compress((x - 0.5) * 0.2, x, 1)
        b = other.spatial_compress((x - 0.5) * 0.2, x, 1)
    assert a[0] == b[0] and torch.equal(a[2], b[2])

    torch.save({"generator": state["generator"]}, tmp_path / "nokp.pth.tar")
    with pytest.raises(CheckpointError, match="no top-level key 'kp_detector'"):
        build_model("rdac_plus", SMALL).load_checkpoint(tmp_path / "nokp.pth.tar")
    del state["generator"]["refinement.final.conv.bias"]
    torch.save(state, tmp_path / "bad.pth.tar")
    with pytest.raises(CheckpointError, match=r"missing key generator\.refinement\.final\.conv\.bias"):
        build_model("rdac_plus", SMALL).load_checkpoint(tmp_path / "bad.pth.tar")


# ------------------------------------------------------------------ training
def test_training_forward_uses_noise_and_gives_gradients(small_clip):
    model = small_model(seed=3)
    model.train()
    try:
        reference, targets = small_clip[0:1], [small_clip[3:4], small_clip[4:5], small_clip[5:6]]
        torch.manual_seed(0)
        out = model(reference, targets, rate_idx=2)
        torch.manual_seed(1)
        again = model(reference, targets, rate_idx=2)
        assert not torch.equal(out["residual_hat"][0], again["residual_hat"][0])     # noise, not rounding
        assert len(out["likelihoods"]) == 3 and set(out["likelihoods"][1]) == {"y", "z"}
        assert out["likelihoods"][0]["y"].shape == (1, 8, 8, 8)
        assert out["likelihoods"][1]["y"].shape == (1, 8, 8, 8)                 # half size, 8 x 8 latent
        rate = sum(out["bits"])
        distortion = sum(((r - t) ** 2).mean() for r, t in zip(out["reconstruction"], targets))
        (distortion * 1000 + rate * 1e-3).backward()
        g = model.generator
        for module in (g.sdc.g_a, g.sdc.g_p, g.sdc.g_s, g.sdc.h_s, g.tdc.g_a, g.tdc.g_p, g.refinement,
                       g.dense_motion_network, model.kp_detector):
            grads = [p.grad for p in module.parameters() if p.grad is not None]
            assert grads and any(gr.abs().sum() > 0 for gr in grads), module
        assert g.sdc.gain.grad is not None and g.sdc.gain.grad[2].abs().sum() > 0
    finally:
        model.eval()
        model.zero_grad()
    with torch.no_grad():
        a = model(reference, targets[:2], rate_idx=2)
        b = model(reference, targets[:2], rate_idx=2)
    assert torch.equal(a["reconstruction"][1], b["reconstruction"][1])             # eval: rounding
    with pytest.raises(ValueError, match="quantization must be 'noise' or 'round'"):
        model(reference, targets, quantization="ste")


@pytest.mark.parametrize("rate_idx", [2, 3])
def test_bit_estimate_matches_the_rans_stream(model, clip, rate_idx):
    """The likelihoods of a training-mode forward (rounding, i.e. the coded latents) against the
    real rANS bytes of the same residual: a real talking-head residual (frame 10 - frame 0)."""
    frames = F.interpolate(clip, size=(SIZE, SIZE), mode="area")
    prediction, residual = frames[0:1], frames[10:11] - frames[0:1]
    sdc = model.generator.sdc
    with torch.no_grad():
        strings, _, _ = sdc.compress(residual, prediction, rate_idx)
    real_bits = 8 * sum(map(len, strings))
    sdc.train()
    try:
        estimate = float(sdc(residual, prediction, rate_idx, quantization="round").bits.detach())
    finally:
        sdc.eval()
    assert real_bits > 2000
    print(f"rate_idx {rate_idx}: estimate {estimate:.0f} bits, rANS {real_bits} bits")
    assert abs(estimate - real_bits) <= 0.10 * real_bits, (estimate, real_bits)


# ------------------------------------------------------------------ errors
def test_bad_inputs_give_clear_errors(model):
    x = pictures(11)
    with pytest.raises(ValueError, match=r"rate_idx 5 outside \[0, 4\]"):
        model.spatial_compress(x - 0.5, x, 5)
    with pytest.raises(ValueError, match="not a multiple of 32"):
        model.spatial_compress((x - 0.5)[..., :48, :48], x[..., :48, :48], 0)
    with pytest.raises(ValueError, match="condition must be"):
        model.spatial_compress(x - 0.5, x[:, :2], 0)
    with pytest.raises(ValueError, match="one picture at a time"):
        model.spatial_compress(pictures(12, 2) - 0.5, pictures(12, 2), 0)
    with pytest.raises(EntropyCodingError, match="two byte strings"):
        model.spatial_decompress([b"abc"], (2, 2), x, 0)
    with torch.no_grad():
        strings, shape, _ = model.spatial_compress(x - 0.5, x, 4)
    with pytest.raises(EntropyCodingError, match=r"hyper-latent size \(4, 4\) does not fit"):
        model.spatial_decompress(strings, (4, 4), x, 4)
    with pytest.raises(EntropyCodingError):
        model.spatial_decompress([strings[0][:3], strings[1][:5]], shape, x, 4)
    with pytest.raises(TypeError, match="compress\\(x, cond, rate_idx\\)"):
        model.generator.sdc.rans_compress(x, None)
    assert isinstance(model.generator.tdc, ConditionalResidualCoder)
