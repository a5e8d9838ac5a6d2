"""RDAC against the reference fixtures (tests/fixtures/RDAC, or GFVC_FIXTURES): strict loading, the
reference call sequence reproduced (floats to 1e-5, rANS bits and bytes exactly), the official
layout, and errors."""
from __future__ import annotations

import pytest
import torch
import yaml
from models_helpers import (torch_threads, ATOL, RTOL, assert_outputs_match, build_official_on_meta, expected_layout,
                            load_tiny_model, num_parameters, official_structure)

from gfvc.models.checkpoint import CheckpointError, state_dict_layout
from gfvc.models.rdac import GeneratorRDAC, RdacModel
from gfvc.models.registry import build_model, get_family


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """The tiny networks gain nothing from threads; on a shared 2-core machine they lose a lot."""
    with torch_threads(1):
        yield


@pytest.fixture(scope="module")
def tiny_dir(fixtures_root):
    return fixtures_root / "RDAC" / "tiny"


@pytest.fixture(scope="module")
def tiny(fixtures_root):
    return load_tiny_model(fixtures_root, "RDAC", "rdac")


@pytest.fixture(scope="module")
def tiny_model(tiny):
    return tiny[0]


@pytest.fixture(scope="module")
def golden(tiny):
    return tiny[1]["inputs"], tiny[1]["outputs"]


def as_uint8(data: bytes) -> torch.Tensor:
    return torch.frombuffer(bytearray(data), dtype=torch.uint8)


@pytest.fixture(scope="module")
def replay(tiny_model, golden):
    """The call sequence of RDAC/tiny/README.md; returns name -> tensor like outputs.pt."""
    inputs, _ = golden
    g, kpd = tiny_model.generator, tiny_model.kp_detector
    rate = inputs["residual_coding_params"]
    out = {}
    with torch.no_grad():
        kp = {}
        for name, key in (("reference", "kp_reference"), ("target_0", "kp_target_0"), ("target_1", "kp_target_1")):
            kp[name] = kpd(inputs[name])
            out[f"{key}.value"], out[f"{key}.heatmap"] = kp[name]["value"], kp[name]["heatmap"]
        dm = g.dense_motion_network(inputs["reference"], kp_target=kp["target_0"], kp_reference=kp["reference"])
        # The reference reports per-keypoint maps summed over the keypoint axis.
        out["dense_motion_0.heatmap"] = dm["heatmap"].sum(1)
        out["dense_motion_0.sparse_motion"] = dm["sparse_motion"].sum(1).permute(0, 3, 1, 2)
        out["dense_motion_0.sparse_deformed"] = dm["sparse_deformed"]
        out["dense_motion_0.mask"] = dm["mask"].sum(1)
        out["dense_motion_0.deformation"] = dm["deformation"]
        out["dense_motion_0.occlusion_map"] = dm["occlusion_map"]

        p0 = g.animate(inputs["reference"], kp["reference"], kp["target_0"])
        out["prediction_0"], out["residual_0"] = p0, inputs["target_0"] - p0
        x_hat, bpp, y_lik = g.sdc(inputs["residual"], rate_idx=rate["rate_idx"])
        out["sdc_forward.x_hat"], out["sdc_forward.total_bpp"], out["sdc_forward.y_likelihoods"] = x_hat, bpp, y_lik
        latent = g.sdc.ae_compress(inputs["residual"], **rate)
        out["sdc_ae.latent"], out["sdc_ae.x_hat"] = latent, g.sdc.ae_decompress(latent, **rate)

        c0, skipped = g.sdc.rans_compress(out["residual_0"], None, **rate)
        assert not skipped
        out.update({"sdc_rans_0.res_hat": c0.res_hat, "sdc_rans_0.res_latent_hat": c0.res_latent_hat,
                    "sdc_rans_0.bits": torch.tensor(c0.bits), "sdc_rans_0.y_string": as_uint8(c0.y_string),
                    "sdc_rans_0.z_string": as_uint8(c0.z_string),
                    "sdc_rans_0.latent_shape": torch.tensor(c0.latent_shape)})
        out["enhanced_prediction_0"] = (p0 + c0.res_hat).clamp(0, 1)

        p1 = g.animate(inputs["reference"], kp["reference"], kp["target_1"])
        deformed = g.deform_residual({"prev_rec": p0, "kp_prev": kp["target_0"], "kp_cur": kp["target_1"],
                                      "res_hat_prev": c0.res_hat})
        out["prediction_1"], out["deformed_prev_res_hat_1"] = p1, deformed
        temporal = tiny_model.temporal_residual(inputs["target_1"] - p1, deformed)
        out["temporal_residual_1"] = temporal
        c1, skipped = g.tdc.rans_compress(temporal, c0.res_latent_hat, **rate)
        assert not skipped
        out.update({"tdc_rans_1.res_hat": c1.res_hat, "tdc_rans_1.res_latent_hat": c1.res_latent_hat,
                    "tdc_rans_1.bits": torch.tensor(c1.bits), "tdc_rans_1.y_string": as_uint8(c1.y_string),
                    "tdc_rans_1.z_string": as_uint8(c1.z_string)})
        out["enhanced_prediction_1"] = (p1 + tiny_model.residual_from_temporal(deformed, c1.res_hat)).clamp(0, 1)
    return out, kp


def test_every_reference_output_is_reproduced(replay, golden):
    actual, _ = replay
    _, expected = golden
    assert sorted(actual) == sorted(expected)
    compared = assert_outputs_match(actual, expected)
    integers = [name for name, value in expected.items() if not value.is_floating_point()]
    assert len(compared) + len(integers) == len(expected)
    # Bit counts, latent shape and the rANS byte strings: equal to CompressAI's.
    coded = [f"{c}_rans_{i}.{k}" for c, i in (("sdc", 0), ("tdc", 1)) for k in ("bits", "y_string", "z_string")]
    assert sorted(integers) == sorted(coded + ["sdc_rans_0.latent_shape"])
    for name in integers:
        assert torch.equal(actual[name].to(expected[name].dtype), expected[name]), name


def test_decoder_side_reconstructs_from_the_reference_strings(tiny_model, golden, replay):
    inputs, expected = golden
    _, kp = replay
    rate = inputs["residual_coding_params"]
    y = bytes(expected["sdc_rans_0.y_string"].numpy().tobytes())
    z = bytes(expected["sdc_rans_0.z_string"].numpy().tobytes())
    with torch.no_grad():
        res_hat, latent = tiny_model.generator.sdc.rans_decompress(
            [[y], [z]], expected["sdc_rans_0.latent_shape"].tolist(), **rate)
        picture = tiny_model.synthesise(inputs["reference"], kp["reference"], kp["target_0"], residual=res_hat)
    torch.testing.assert_close(res_hat, expected["sdc_rans_0.res_hat"], atol=ATOL, rtol=RTOL)
    torch.testing.assert_close(latent, expected["sdc_rans_0.res_latent_hat"], atol=ATOL, rtol=RTOL)
    torch.testing.assert_close(picture, expected["enhanced_prediction_0"], atol=ATOL, rtol=RTOL)


def test_analysis_gives_the_keypoints(tiny_model, golden):
    inputs, expected = golden
    with torch.no_grad():
        params = tiny_model.analyse(inputs["target_1"])
    assert set(params) == {"value"}
    torch.testing.assert_close(params["value"], expected["kp_target_1.value"], atol=ATOL, rtol=RTOL)


def test_skip_mode_skips_a_latent_similar_to_the_previous_one(tiny_model, golden):
    inputs, _ = golden
    sdc = tiny_model.generator.sdc
    with torch.no_grad():
        previous = sdc.g_a(inputs["residual"])
        result, skipped = sdc.rans_compress(inputs["residual"], previous, rate_idx=3, q_value=0.25,
                                            use_skip=True, skip_thresh=0.75)
    assert skipped and result is None


def test_rate_parameters_are_checked(tiny_model, golden):
    inputs, _ = golden
    sdc = tiny_model.generator.sdc
    with torch.no_grad():
        with pytest.raises(ValueError, match="rate_idx 7 outside"):
            sdc.ae_compress(inputs["residual"], rate_idx=7)
        with pytest.raises(ValueError, match="q_value 1.5 outside"):
            sdc.ae_compress(inputs["residual"], rate_idx=1, q_value=1.5)
        with pytest.raises(ValueError, match="nothing to interpolate"):
            sdc.ae_compress(inputs["residual"], rate_idx=6, q_value=0.5)
        last = sdc.ae_compress(inputs["residual"], rate_idx=6)          # the top level needs no neighbour
        assert torch.equal(last, torch.round(sdc.g_a(inputs["residual"])
                                             * sdc.gain[6].abs().view(1, -1, 1, 1)))
        with pytest.raises(ValueError, match="not a multiple of 32"):
            sdc.rans_compress(inputs["residual"][..., :60, :60], None)


def test_rdac_plus_is_not_the_rdac_family():
    assert get_family("rdac") is RdacModel and get_family("rdac_plus") is not RdacModel


def test_official_layout_and_parameter_counts(fixtures_root):
    official = official_structure(fixtures_root, "RDAC")
    model = build_official_on_meta(fixtures_root, "RDAC", "rdac")
    assert list(model.network_names) == official["checkpoint_top_level_keys_read_by_loader"]
    assert isinstance(model.generator, GeneratorRDAC)
    total = 0
    for name in model.network_names:
        module = getattr(model, name)
        counts = official["submodules"][name]["param_counts"]
        assert state_dict_layout(module) == expected_layout(official, name), name
        assert num_parameters(module) == counts["num_parameters"], name
        assert sum(b.numel() for b in module.buffers()) == counts["num_buffer_elements"], name
        total += num_parameters(module)
    assert total == official["total_num_parameters"]


@pytest.fixture
def checkpoint_dict(tiny_dir):
    return torch.load(tiny_dir / "checkpoint.pth.tar", map_location="cpu")


def fresh_tiny(tiny_dir):
    """A new tiny model with random weights (each error test loads into its own)."""
    return build_model("rdac", yaml.safe_load((tiny_dir / "model_params.yaml").read_text()))


def test_missing_key_is_named(tiny_dir, checkpoint_dict, tmp_path):
    del checkpoint_dict["generator"]["tdc.inverse_hyper_gain"]
    path = tmp_path / "missing.pth.tar"
    torch.save(checkpoint_dict, path)
    with pytest.raises(CheckpointError,
                       match=r"missing key generator\.tdc\.inverse_hyper_gain \(model shape \[7, 16\]"):
        fresh_tiny(tiny_dir).load_checkpoint(path)


def test_shape_mismatch_names_key_and_both_shapes(tiny_dir, checkpoint_dict, tmp_path):
    checkpoint_dict["generator"]["sdc.h_s.4.deconv.weight"] = torch.zeros(36, 40, 3, 3)
    path = tmp_path / "shape.pth.tar"
    torch.save(checkpoint_dict, path)
    with pytest.raises(CheckpointError, match=r"shape mismatch for generator\.sdc\.h_s\.4\.deconv\.weight: "
                                              r"checkpoint \[36, 40, 3, 3\], model \[36, 48, 3, 3\]"):
        fresh_tiny(tiny_dir).load_checkpoint(path)


def test_truncated_and_foreign_files_fail_cleanly(tiny_dir, tmp_path):
    data = (tiny_dir / "checkpoint.pth.tar").read_bytes()
    truncated = tmp_path / "truncated.pth.tar"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        fresh_tiny(tiny_dir).load_checkpoint(truncated)
    other = tmp_path / "other.pth.tar"
    torch.save({"generator": torch.load(tiny_dir / "checkpoint.pth.tar")["generator"]}, other)
    with pytest.raises(CheckpointError, match="no top-level key 'kp_detector'"):
        fresh_tiny(tiny_dir).load_checkpoint(other)


def test_reload_failed_load_and_saved_state(tiny_dir, tiny_model, golden, tmp_path):
    """A failed load changes nothing; a second load and a checkpoint saved by gfvc (after the tables
    were built) load strictly and code exactly as the reference."""
    inputs, expected = golden
    model = fresh_tiny(tiny_dir)
    model.load_checkpoint(tiny_dir / "checkpoint.pth.tar")
    bad = tmp_path / "bad.pth.tar"
    torch.save({"generator": {}, "kp_detector": {}}, bad)
    with pytest.raises(CheckpointError):
        model.load_checkpoint(bad)
    model.load_checkpoint(tiny_dir / "checkpoint.pth.tar")
    saved = tmp_path / "saved.pth.tar"
    state = {name: getattr(model, name).state_dict() for name in model.network_names}
    assert state["generator"]["sdc.entropy_bottleneck._quantized_cdf"].shape == (0,)   # published layout
    torch.save(state, saved)
    reloaded = fresh_tiny(tiny_dir)
    reloaded.load_checkpoint(saved)
    for coder in ("sdc", "tdc"):
        assert reloaded.coder(coder).tables_sha256() == tiny_model.coder(coder).tables_sha256()
    for candidate in (model, reloaded):
        with torch.no_grad():
            coding, _ = candidate.generator.tdc.rans_compress(expected["temporal_residual_1"],
                                                              None, **inputs["residual_coding_params"])
        assert torch.equal(as_uint8(coding.y_string), expected["tdc_rans_1.y_string"])


@pytest.mark.slow
def test_benchmark_official_size_residual_coding(fixtures_root, capsys):
    """Timing of one 256x256 residual with the official-size coder (random weights; gains drawn
    as in the fixture recipe so that the latents are not all zero): entropy coding alone and the
    whole rans_compress / rans_decompress."""
    import time

    from gfvc.models.rdac import ResidualCoder

    params = yaml.safe_load((fixtures_root / "RDAC" / "model_params.yaml").read_text())
    coder_params = dict(params["generator_params"]["residual_coder_params"])
    n = coder_params.pop("residual_features")
    torch.manual_seed(0)
    coder = ResidualCoder(3, 3, n, int(n * 1.5), **coder_params).eval()
    with torch.no_grad():
        coder.gain.uniform_(20, 60)
        coder.hyper_gain.uniform_(5, 15)
        coder.inverse_gain.uniform_(0.02, 0.05)
        coder.inverse_hyper_gain.uniform_(0.05, 0.2)
    coder.update(force=True)
    residual = (torch.rand(1, 3, 256, 256) - 0.5) * 0.4
    runs = 10
    with torch.no_grad():
        y = coder.compute_interpolated_gain(coder.g_a(residual), 3, 0.25)
        z = coder.h_a(y)
        z_hat = coder.entropy_bottleneck.decompress(coder.entropy_bottleneck.compress(z), z.shape[-2:])
        scales, means = coder._gaussian_params(z_hat, 3, 0.25)
        indexes = coder.gaussian_conditional.build_indexes(scales)
        start = time.perf_counter()
        for _ in range(runs):
            z_strings = coder.entropy_bottleneck.compress(z)
            y_strings = coder.gaussian_conditional.compress(y, indexes, means=means)
        encode_ms = (time.perf_counter() - start) / runs * 1e3
        start = time.perf_counter()
        for _ in range(runs):
            coder.entropy_bottleneck.decompress(z_strings, z.shape[-2:])
            y_hat = coder.gaussian_conditional.decompress(y_strings, indexes, means=means)
        decode_ms = (time.perf_counter() - start) / runs * 1e3
        assert torch.equal(y_hat, coder.gaussian_conditional.quantize(y, "dequantize", means))
        start = time.perf_counter()
        for _ in range(runs):
            coding, _ = coder.rans_compress(residual, None, rate_idx=3, q_value=0.25)
        full_encode_ms = (time.perf_counter() - start) / runs * 1e3
        start = time.perf_counter()
        for _ in range(runs):
            coder.rans_decompress([[coding.y_string], [coding.z_string]], coding.latent_shape, 3, 0.25)
        full_decode_ms = (time.perf_counter() - start) / runs * 1e3
    with capsys.disabled():
        print(f"\nofficial-size residual 256x256: y {tuple(y.shape)}, z {tuple(z.shape)}, "
              f"{len(y_strings[0])} + {len(z_strings[0])} bytes; entropy coding encode {encode_ms:.1f} ms, "
              f"decode {decode_ms:.1f} ms; rans_compress (incl. networks + check decode) {full_encode_ms:.1f} ms, "
              f"rans_decompress {full_decode_ms:.1f} ms; threads {torch.get_num_threads()}")
