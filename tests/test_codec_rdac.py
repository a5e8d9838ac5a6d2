"""RDAC and RDAC+ on the GFVC loop: residual coding per picture, decoded in another process.

RDAC with its tiny fixture checkpoint and RDAC+ with a seeded random checkpoint of a small
configuration code 24 pictures of a built-in clip (64x64) at two rate levels; gfvc-decode in a
separate process reproduces the encoder's MD5s; gfvc-seidump lists one gfvc_residual message
(with its mode) after each generated picture's GFV message; the residual payload bytes add up to
the rate breakdown's ``residual`` line. The mode decision is tested with residual coders whose
weights make them block-mean coders (gfvc.codec.residual_benchmark.make_block_mean_coder): a
still clip gets one coded residual and then skips, a clip the animation cannot follow gets
residuals on most pictures.
"""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from gfvc.codec.apps import encode_main
from gfvc.codec.residual_benchmark import make_block_mean_coder
from test_codec_gfvc import _env, md5_lines, seidump

FRAMES = 24
SMALL = 64
CLIPS = ("BUILTIN_FRANCK_001_256x256_25_8bit_444.rgb", "BUILTIN_ASTRONAUT_001_256x256_25_8bit_444.rgb")


def read_small(builtin_dir: Path, name: str, frames: int = FRAMES) -> np.ndarray:
    from gfvc.io import read_rgb
    from gfvc.io.resample import resize_frames

    return resize_frames(read_rgb(builtin_dir / name, 256, 256, frames), SMALL, SMALL)


def write_clip(folder: Path, frames: np.ndarray, tag: str) -> Path:
    from gfvc.io import write_rgb

    path = folder / f"{tag}_{SMALL}x{SMALL}_25_8bit_444.rgb"
    write_rgb(path, frames)
    return path


@pytest.fixture(scope="module")
def clips(tmp_path_factory, builtin_dir):
    """(talking head, still: its first picture repeated, cuts: two clips alternating every picture)."""
    folder = tmp_path_factory.mktemp("clips")
    head, other = read_small(builtin_dir, CLIPS[0]), read_small(builtin_dir, CLIPS[1])
    cuts = np.where((np.arange(FRAMES) % 2 == 1)[:, None, None, None], other, head)
    return {"head": write_clip(folder, head, "BUILTIN_FRANCK_001"),
            "still": write_clip(folder, np.repeat(head[:1], FRAMES, axis=0), "STILL"),
            "cuts": write_clip(folder, cuts, "CUTS")}


def save_checkpoint(model, path: Path) -> Path:
    torch.save({"generator": model.generator.state_dict(), "kp_detector": model.kp_detector.state_dict()}, path)
    return path


@pytest.fixture(scope="module")
def models(tmp_path_factory, fixtures_root):
    """family -> {variant: (config, checkpoint)}; variants 'plain' (the fixture / seeded random
    weights) and 'block_mean' (the same with block-mean residual coders; RDAC+: and the refinement's
    last layer zeroed, so that it outputs the decoded picture instead of random changes)."""
    from gfvc.codec.model_source import load_model
    from gfvc.models.registry import build_model
    from test_models_rdac_plus import SMALL as PLUS_CONFIG, small_model

    folder = tmp_path_factory.mktemp("models")
    rdac_dir = fixtures_root / "RDAC" / "tiny"
    rdac_cfg, rdac_ckpt = rdac_dir / "model_params.yaml", rdac_dir / "checkpoint.pth.tar"
    rdac, _ = load_model("rdac", rdac_cfg, rdac_ckpt)
    rdac = build_model("rdac", rdac_cfg)           # a private copy (load_model caches its models)
    rdac.load_checkpoint(rdac_ckpt)
    for coder in (rdac.generator.sdc, rdac.generator.tdc):
        make_block_mean_coder(coder)
    plus_cfg = folder / "rdac_plus.yaml"
    plus_cfg.write_text(yaml.safe_dump({"model_params": PLUS_CONFIG}))
    plus = small_model(0)                          # seeded random weights, distinct gains per level
    plus_ckpt = save_checkpoint(plus, folder / "rdac_plus.pth.tar")
    for coder in (plus.generator.sdc, plus.generator.tdc):
        make_block_mean_coder(coder)
    with torch.no_grad():                          # and a refinement that keeps the decoded picture
        for p in plus.generator.refinement.final.parameters():
            p.zero_()
    return {"rdac": {"plain": (rdac_cfg, rdac_ckpt),
                     "block_mean": (rdac_cfg, save_checkpoint(rdac, folder / "rdac_bm.pth.tar"))},
            "rdac_plus": {"plain": (plus_cfg, plus_ckpt),
                          "block_mean": (plus_cfg, save_checkpoint(plus, folder / "rdac_plus_bm.pth.tar"))}}


def run_codec(tmp: Path, family: str, files, clip: Path, frames: int = FRAMES, **options):
    """gfvc-encode in this process -> (stream path, encoder stdout)."""
    config, ckpt = files
    cfg = tmp / f"{family}.yaml"
    cfg.write_text(yaml.safe_dump({"codec": family, "options": {
        "model_config": str(config), "checkpoint": str(ckpt), "backend": "x265", "key_qp": 37, **options}}))
    stream = tmp / "out.bin"
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = encode_main(["-c", str(cfg), "-i", str(clip), "-b", str(stream), "-o", str(tmp / "recon.rgb"),
                          "-f", str(frames)])
    assert rc == 0, out.getvalue()
    return stream, out.getvalue()


def residual_modes(stream: Path):
    return [int(m["elements"]["res_coding_mode"]) for m in seidump(stream) if m["name"] == "gfvc_residual"]


def rate_line(text: str, name: str) -> int:
    return int(re.search(rf"^\s*{name}\s+(\d+) bytes", text, re.M).group(1))


CASES = [("rdac", 1, "sei_only", 0), ("rdac", 5, "per_picture", 12),
         ("rdac_plus", 0, "sei_only", 0), ("rdac_plus", 4, "per_picture", 12)]


@pytest.mark.parametrize("family,level,carriage,key_period", CASES)
def test_codes_24_pictures_and_decodes_in_another_process(tmp_path, models, clips, family, level, carriage,
                                                          key_period):
    # modes [temporal] with a window of 4: spatial after each key picture and every 4th coded
    # residual, temporal otherwise (both coders and the warp of the previous residual run)
    stream, enc_out = run_codec(tmp_path, family, models[family]["plain"], clips["head"], carriage=carriage,
                                key_period=key_period, picture_hash="picture",
                                residual={"rate_level": level, "modes": ["temporal"], "prediction_window": 4})
    enc_md5 = md5_lines(enc_out)
    assert len(enc_md5) == FRAMES
    config, ckpt = models[family]["plain"]
    dec = subprocess.run([sys.executable, "-m", "gfvc.codec.apps_decode", "-b", str(stream), "-o",
                          str(tmp_path / "dec.rgb"), "--checkpoint", str(ckpt), "--model-config", str(config)],
                         capture_output=True, text=True, env=_env(), timeout=600)
    assert dec.returncode == 0, dec.stderr
    assert md5_lines(dec.stdout) == enc_md5
    assert (tmp_path / "dec.rgb").read_bytes() == (tmp_path / "recon.rgb").read_bytes()

    messages = seidump(stream)
    # stream order: each generated picture's GFV message, then its residual message
    order = [(m["name"], int(m["elements"].get("gfv_cnt", m["elements"].get("res_gfv_cnt", -1))))
             for m in messages if m["name"] in ("generative_face_video", "gfvc_residual")]
    keys = [i for i, (_, kind, _) in enumerate(enc_md5) if kind == "key"]
    assert keys == ([0] if key_period == 0 else list(range(0, FRAMES, key_period)))
    expected, cnt = [], 0
    for i in range(FRAMES):
        cnt = 0 if i in keys else cnt + 1
        expected += [("generative_face_video", cnt)] + ([] if i in keys else [("gfvc_residual", cnt)])
    assert order == expected
    residuals = [m for m in messages if m["name"] == "gfvc_residual"]
    modes, pattern = [int(m["elements"]["res_coding_mode"]) for m in residuals], []
    for i in range(FRAMES):
        if i in keys:
            since = 0
            continue
        pattern.append(1 if since % 4 == 0 else 2)
        since += 1
    assert modes == pattern                       # a spatial residual first after every key picture
    assert all(int(m["elements"]["res_rate_level"]) == level for m in residuals)
    # the rate breakdown's residual line is the sum of the residual payloads
    assert sum(m["payloadSize"] for m in residuals) == rate_line(enc_out, "residual") > 0
    assert rate_line(dec.stdout, "residual") == rate_line(enc_out, "residual")


@pytest.mark.parametrize("family", ["rdac", "rdac_plus"])
def test_mode_decision_skips_a_still_clip_and_codes_what_the_animation_misses(tmp_path, models, clips, family):
    files = models[family]["block_mean"]
    still = residual_modes(run_codec(tmp_path, family, files, clips["still"], residual={"rd_lambda": 100})[0])
    # the (random-weight) animation misses the picture: the first generated picture gets a residual;
    # the still pictures after it reuse that residual: skip
    assert still == [1] + [0] * (FRAMES - 2)
    cuts = residual_modes(run_codec(tmp_path, family, files, clips["cuts"], residual={"rd_lambda": 100})[0])
    assert sum(m != 0 for m in cuts) >= FRAMES // 2, cuts
    # with a prohibitive rate weight everything is skipped; without one every picture gets a residual
    assert set(residual_modes(run_codec(tmp_path, family, files, clips["cuts"],
                                        residual={"rd_lambda": 1e9})[0])) == {0}
    assert 0 not in residual_modes(run_codec(tmp_path, family, files, clips["cuts"],
                                             residual={"rd_lambda": 0})[0])


def test_rdac_plus_prediction_window_refreshes_spatially(tmp_path, models, clips):
    stream, _ = run_codec(tmp_path, "rdac_plus", models["rdac_plus"]["plain"], clips["head"], frames=20,
                          residual={"modes": ["temporal"]})
    assert residual_modes(stream) == ([1] + [2] * 7) * 2 + [1, 2, 2]     # the paper's window of 8


def test_ctc_codec_rate_points(tmp_path, models, builtin_dir, fixtures_root):
    from gfvc.codec.registry import get_codec

    frames = read_small(builtin_dir, CLIPS[0], 6)
    config, ckpt = models["rdac_plus"]["plain"]
    codec = get_codec("rdac_plus", model_config=str(config), checkpoint=str(ckpt), backend="x265")
    assert codec.default_rate_points[0] == "42/off"
    off = codec.code(frames, 25.0, "42/off", tmp_path)
    on = codec.code(frames, 25.0, [42, 3], tmp_path)
    assert off.metadata["rate_point"] == [42, None] and on.metadata["rate_point"] == [42, 3]
    assert off.metadata["rate_breakdown"]["residual"] == 0          # animation only: no residual messages
    assert on.metadata["rate_breakdown"]["residual"] > 0
    assert off.metadata["rate_breakdown"]["key_picture_vcl"] == on.metadata["rate_breakdown"]["key_picture_vcl"]
    for bad in ("42/x", [42, 1, 2], "99/1"):
        with pytest.raises(ValueError):
            codec.validate_rate_point(bad)
    with pytest.raises(Exception, match="rate level 5 outside 0..4"):
        codec.encode(frames, 25.0, "42/5")
    dac = fixtures_root / "DAC" / "tiny"
    assert "residual" in codec.settings() and "residual" not in get_codec(
        "dac", model_config=str(dac / "model_params.yaml"), checkpoint=str(dac / "checkpoint.pth.tar")).settings()


def test_cfg_codec_files_are_valid():
    from gfvc.codec.face_codecs import codec_settings
    from gfvc.codec.settings import read_codec_file

    repo = Path(__file__).resolve().parent.parent
    for family, window in (("rdac", 0), ("rdac_plus", 8)):
        name, options, rate_points = read_codec_file(repo / "cfg" / "codec" / f"{family}.yaml")
        settings = codec_settings(name, options)
        assert name == family and settings.residual.prediction_window == window
        assert rate_points[0] == "42/off" and Path(settings.model_config).is_file()


def test_bad_residual_settings_are_one_line():
    from gfvc.codec.settings import CodecSettingsError, settings_from_options

    with pytest.raises(CodecSettingsError) as err:
        settings_from_options({"residual": {"rate_level": -1, "modes": ["fast"], "colour": 1}}, family="rdac")
    assert "residual.colour" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(CodecSettingsError, match="residual.modes"):
        settings_from_options({"residual": {"modes": ["fast"]}}, family="rdac")


def test_decoder_refuses_inconsistent_residual_messages(models):
    from gfvc.bitstream import Residual, ResidualLatent
    from gfvc.codec.model_source import load_model
    from gfvc.codec.residual import ResidualCoding, ResidualError

    model, _ = load_model("rdac_plus", *models["rdac_plus"]["plain"])
    coding = ResidualCoding(model, "rdac_plus", "truncate")
    prediction = torch.rand(1, 3, SMALL, SMALL)
    kp = model.analyse(prediction)
    with pytest.raises(ResidualError, match="temporal, but no residual was decoded"):
        coding.decode_picture(prediction, kp, Residual(0, 1, 2, 0, [ResidualLatent((8,), b"\x00")]))
    with pytest.raises(ResidualError, match="latent shapes"):
        coding.decode_picture(prediction, kp, Residual(0, 1, 1, 0, [ResidualLatent((8,), b"\x00")]))
    with pytest.raises(ResidualError, match="rate level 7 outside"):
        coding.decode_picture(prediction, kp, Residual(0, 1, 1, 7, [ResidualLatent((8,), b"\x00")]))
    # skip without a decoded residual: the animation alone
    assert np.array_equal(coding.decode_picture(prediction, kp, None),
                          (prediction[0].permute(1, 2, 0).numpy() * 255).astype(np.uint8))


@pytest.mark.parametrize("options", [
    {"carriage": "per_picture", "refresh": {"threshold": 99, "window": 3}},     # a key picture every 3
    {"parameter_payload": "entropy_coded", "key_period": 6},
], ids=["refresh", "entropy_coded_parameters"])
def test_residuals_with_refresh_and_entropy_coded_parameters(tmp_path, models, clips, options):
    from gfvc.codec.decoder import GfvcDecoder

    config, ckpt = models["rdac"]["block_mean"]
    stream, enc_out = run_codec(tmp_path, "rdac", (config, ckpt), clips["cuts"], frames=16,
                                residual={"rd_lambda": 0}, **options)
    enc_md5 = md5_lines(enc_out)
    keys = [i for i, kind, _ in enc_md5 if kind == "key"]
    assert len(keys) > 2
    dec = GfvcDecoder(config, ckpt).decode(stream.read_bytes())
    assert dec.md5_per_picture == [m for _, _, m in enc_md5]
    modes = residual_modes(stream)
    assert len(modes) == 16 - len(keys)
    # lambda 0 on a clip that changes every picture: a residual on every picture, spatial after each key picture
    assert 0 not in modes
    first_after_key = [i - 1 in keys for i in range(16) if i not in keys]
    assert [m for m, first in zip(modes, first_after_key) if first] == [1] * sum(first_after_key)


def test_skip_messages_off_sends_only_coded_residuals(tmp_path, models, clips):
    from gfvc.bitstream import Residual
    from gfvc.codec.decoder import GfvcDecoder
    from gfvc.codec.residual import payload_bits

    config, ckpt = models["rdac_plus"]["block_mean"]
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with_skips, out1 = run_codec(tmp_path / "a", "rdac_plus", (config, ckpt), clips["still"], frames=8)
    without, out2 = run_codec(tmp_path / "b", "rdac_plus", (config, ckpt), clips["still"], frames=8,
                              residual={"skip_messages": False})
    assert residual_modes(with_skips) == [1] + [0] * 6 and residual_modes(without) == [1]
    assert md5_lines(out1) == md5_lines(out2)
    skips = sum(payload_bits(Residual(0, cnt, 0, 0, [])) // 8 for cnt in range(2, 8))     # 17 or 18 bytes each
    assert rate_line(out1, "residual") - rate_line(out2, "residual") == skips
    dec = GfvcDecoder(config, ckpt).decode(without.read_bytes())
    assert dec.md5_per_picture == [m for _, _, m in md5_lines(out2)]
