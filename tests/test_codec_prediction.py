"""Prediction modes and the encoder's parameter search (gfvc.codec.prediction, doc/codec.md).

The gfvc_prediction_modes payload round-trips and its reserved values are refused; the settings
refuse what cannot work; the search lowers the distortion it minimises without touching the
model; a stream with warped-reference pictures decodes in another process to the encoder's MD5s
(DAC in both carriages, RDAC with residuals on top, HDAC, MRDAC with two references); the decoder
really follows the message (ignoring it changes exactly the pictures it marks); a message naming
a picture that does not exist is a one-line error.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from test_codec_gfvc import (FIXTURE, FRAMES, SMALL, assert_decodes_like_the_encoder, clip,  # noqa: F401
                             decode_cli, encode, md5_lines, seidump)

ON = {"modes": ["generated", "warped_reference"], "search_iterations": 3}


def model_files(fixtures_root: Path, family: str):
    case = fixtures_root / {**FIXTURE, "rdac": "RDAC", "mrdac": "MRDAC"}[family] / "tiny"
    return case / "model_params.yaml", case / "checkpoint.pth.tar"


# ---------------------------------------------------------------------------------------- payload
def test_payload_round_trip_and_trace():
    from gfvc.bitstream import PredictionModes, SeiContext, parse_sei_payload, write_sei_payload

    message = PredictionModes(pm_gfv_id=2, pm_first_gfv_cnt=3, pm_mode_idc=[0, 1, 1, 0, 1])
    payload_type, data, _, trace = write_sei_payload(message, SeiContext(), trace=True)
    assert payload_type == 5
    syntax, parsed, _, _ = parse_sei_payload(payload_type, data, SeiContext())
    assert syntax.name == "gfvc_prediction_modes"
    assert parsed == message
    names = [t.name for t in trace]
    assert names[-6:-1] == [f"pm_mode_idc[{i}]" for i in range(5)]
    # uuid + ue(2)=011 ue(3)=00100 ue(4)=00101 + 5 x u(2) + alignment: 16 + 3 bytes
    assert len(data) == 16 + 3


@pytest.mark.parametrize("bits,pattern", [
    ("1" "010" "1" "10" "0", "pm_mode_idc\\[0\\] 2 is reserved"),          # mode 2
    ("1" "1" "1" "00" "000", "pm_first_gfv_cnt 0"),                        # names the key picture
    ("1" "010" "00000100000" "00", "pm_num_pictures_minus1: 32 pictures need"),  # more than the bytes hold
])
def test_payload_refuses_bad_values(bits, pattern):
    from gfvc.bitstream import PREDICTION_MODES_UUID, BitstreamError, SeiContext, parse_sei_payload

    bits = bits + "0" * (-len(bits) % 8)
    data = PREDICTION_MODES_UUID + int(bits, 2).to_bytes(len(bits) // 8, "big")
    with pytest.raises(BitstreamError, match=pattern):
        parse_sei_payload(5, data, SeiContext())


# ---------------------------------------------------------------------------------------- settings
@pytest.mark.parametrize("family,prediction,pattern", [
    ("dac", {"modes": ["generated", "blend"]}, "prediction.modes must be a list"),
    ("dac", {"modes": []}, "prediction.modes must be a list"),
    ("dac", {"search_iterations": -1}, "search_iterations must be an integer"),
    ("dac", {"search_step": 0}, "search_step must be a number"),
    ("cfte", {"modes": ["generated", "warped_reference"]}, "cfte has no dense motion field"),
    ("fv2v", {"search_iterations": 4}, "fv2v has no dense motion field"),
])
def test_settings_refuse_what_cannot_work(family, prediction, pattern):
    from gfvc.codec.settings import CodecSettingsError, settings_from_options

    with pytest.raises(CodecSettingsError, match=pattern):
        settings_from_options({"prediction": prediction}, family=family)


def test_default_prediction_leaves_the_settings_record_unchanged():
    # the CTC digests of earlier runs must stay valid: inactive prediction settings are not recorded
    from gfvc.codec.settings import settings_from_options

    assert "prediction" not in settings_from_options({}, family="dac").as_dict()
    assert settings_from_options({"prediction": ON}, family="dac").as_dict()["prediction"]["search_iterations"] == 3


# ---------------------------------------------------------------------------------------- search
def model_and_keypoints(fixtures_root: Path, clip: Path, family: str):
    """(tiny fixture model, 6 pictures of the clip in [0, 1], their analysed parameters)."""
    from gfvc.codec.model_source import load_model
    from gfvc.io import read_rgb

    config, ckpt = model_files(fixtures_root, family)
    model, _ = load_model(family, config, ckpt, "cpu")
    frames = torch.from_numpy(read_rgb(clip, SMALL, SMALL, 6)).permute(0, 3, 1, 2).float() / 255
    with torch.no_grad():
        found = model.analyse(frames)
    return model, frames, found


def test_search_lowers_its_distortion_and_leaves_the_model_alone(fixtures_root, clip):
    from gfvc.codec.prediction import picture_distance, search_parameters, search_scale

    model, frames, found = model_and_keypoints(fixtures_root, clip, "dac")
    prepared = model.prepare_reference(frames[:1], {k: v[:1] for k, v in found.items()})
    targets = {k: v[1:] for k, v in found.items()}
    before = {k: v.clone() for k, v in model.state_dict().items()}

    def distortion(params):
        with torch.no_grad():
            warped = model.warp_references([prepared], params)
        return picture_distance(search_scale(warped), search_scale(frames[1:]))

    searched = search_parameters(model, [prepared], targets, frames[1:], 20, 0.01)
    assert search_parameters(model, [prepared], targets, frames[1:], 0, 0.01) == targets
    assert float(distortion(searched).sum()) < float(distortion(targets).sum())
    assert not torch.equal(searched["value"], targets["value"])
    assert searched["value"].abs().max() <= 1.0
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(p.grad is None for p in model.parameters())


def test_search_starts_are_the_reference_moved_by_the_detected_motion_and_the_reference_itself():
    from gfvc.codec.prediction import search_starts

    detected = {"value": torch.tensor([[[0.5, 0.5]], [[0.2, -0.1]], [[0.9, 0.9]]])}
    references = [{"value": torch.tensor([[[0.1, 0.0]]])}, {"value": torch.tensor([[[-0.3, 0.4]]])}]
    originals = [{"value": torch.tensor([[[0.0, 0.1]]])}, {"value": torch.tensor([[[-0.5, 0.5]]])}]
    weights = torch.tensor([[0.75, 0.25], [0.25, 0.75], [0.5, 0.5]])     # nearest: 0, 1, 0 (first of equals)
    moved, still = search_starts(detected, references, originals, weights)
    want_moved = [[0.1 + 0.5 - 0.0, 0.0 + 0.5 - 0.1], [-0.3 + 0.2 + 0.5, 0.4 - 0.1 - 0.5], [1.0, 0.0 + 0.9 - 0.1]]
    assert torch.allclose(moved["value"][:, 0], torch.tensor(want_moved))      # the last x clamped to 1
    assert torch.equal(still["value"][:, 0], torch.tensor([[0.1, 0.0], [-0.3, 0.4], [0.1, 0.0]]))
    one = search_starts(detected, references[:1], originals[:1])               # no weights: the first reference
    assert torch.equal(one[1]["value"][:, 0], references[0]["value"][0].expand(3, -1))


def test_search_never_ends_further_than_its_closest_start(fixtures_root, clip):
    # The reference is a degraded key picture (as a decoded one at a low QP). The targets' detected
    # keypoints carry a bias that the reference's do not (as a detector's on originals against a
    # decoded picture), and the first target is the key picture's original: nothing moved. Started
    # from the detected keypoints, 3 steps cannot undo the bias; the starts give the reference
    # moved by the detected motion, and the search ends no further than the closest start.
    from gfvc.codec.prediction import picture_distance, search_parameters, search_scale, search_starts

    model, frames, found = model_and_keypoints(fixtures_root, clip, "dac")
    degraded = torch.nn.functional.avg_pool2d(frames[:1], 4).repeat_interleave(4, 2).repeat_interleave(4, 3)
    with torch.no_grad():
        ref_params = model.analyse(degraded)
    prepared = model.prepare_reference(degraded, ref_params)
    originals = torch.cat([frames[:1], frames[1:3]])
    bias = torch.tensor([0.3, -0.3])
    targets = {"value": (torch.cat([found["value"][:1], found["value"][1:3]]) + bias).clamp(-1, 1)}
    key_original = {"value": (found["value"][:1] + bias).clamp(-1, 1)}

    def distance(params):
        with torch.no_grad():
            return picture_distance(search_scale(model.warp_references([prepared], params)), search_scale(originals))

    starts = search_starts(targets, [ref_params], [key_original])
    closest = torch.stack([distance(p) for p in [targets, *starts]]).min(dim=0).values
    searched = search_parameters(model, [prepared], targets, originals, 3, 0.01, starts=starts)
    assert bool((distance(searched) <= closest + 1e-6).all())
    copy = float(picture_distance(search_scale(degraded), search_scale(frames[:1])))
    assert float(distance(searched)[0]) <= copy + 1e-4                   # no worse than not moving ...
    assert float(distance(targets)[0]) > copy + 1e-3                     # ... which the detected start is
    with torch.no_grad():                                                # the unmoved start is the reference
        still = model.warp_references([prepared], starts[1])
    assert torch.allclose(still, degraded.expand(3, -1, -1, -1), atol=1e-4)


# ---------------------------------------------------------------------------------------- streams
def _prediction_dump(stream: Path):
    """(pm_first_gfv_cnt, [pm_mode_idc]) of each gfvc_prediction_modes message, as gfvc-seidump lists it."""
    return [(m["elements"]["pm_first_gfv_cnt"],
             [m["elements"][f"pm_mode_idc[{i}]"] for i in range(m["elements"]["pm_num_pictures_minus1"] + 1)])
            for m in seidump(stream) if m.get("name") == "gfvc_prediction_modes"]


def _yaml(tmp: Path, family: str, fixtures_root: Path, **options) -> Path:
    config, ckpt = model_files(fixtures_root, family)
    path = tmp / f"{family}.yaml"
    path.write_text(yaml.safe_dump({"codec": family, "options": {
        "model_config": str(config), "checkpoint": str(ckpt), "backend": "x265", "key_qp": 37, **options}}))
    return path


def _encode_with_modes(tmp: Path, cfg: Path, clip: Path):
    stream, recon, out = encode(tmp, cfg, clip)
    line = next(l for l in out.splitlines() if l.startswith("Prediction modes"))
    counts = dict(part.rsplit(" ", 1) for part in line.split(": ", 1)[1].split(", "))
    return stream, recon, out, {k: int(v) for k, v in counts.items()}


@pytest.mark.parametrize("family,options", [
    ("dac", {"carriage": "sei_only"}),
    ("dac", {"carriage": "per_picture", "synthesis_batch": 3, "picture_hash": "picture"}),
    ("rdac", {"residual": {"rate_level": 0}}),            # residuals coded on top of the chosen picture
    ("hdac", {"bl_qp": 47}),                              # drive pictures for the generated ones
])
def test_single_reference_stream_with_warped_pictures_decodes_in_another_process(tmp_path, fixtures_root, clip,
                                                                                 family, options):
    cfg = _yaml(tmp_path, family, fixtures_root, prediction=ON, **options)
    stream, recon, out, counts = _encode_with_modes(tmp_path, cfg, clip)
    assert counts["generated"] + counts["warped_reference"] == FRAMES - 1
    assert counts["warped_reference"] > 0, out        # the tiny model's generator is far worse than a warp
    config, ckpt = model_files(fixtures_root, family)
    assert_decodes_like_the_encoder(tmp_path, stream, recon, md5_lines(out), config, ckpt, FRAMES)
    messages = _prediction_dump(stream)
    assert len(messages) == 1 and messages[0][0] == 1 and len(messages[0][1]) == FRAMES - 1
    assert messages[0][1].count(1) == counts["warped_reference"]


def test_multi_reference_stream_with_warped_pictures_decodes_in_another_process(tmp_path, fixtures_root, clip):
    cfg = _yaml(tmp_path, "mrdac", fixtures_root, prediction=ON,
                reference={"strategy": "bidir", "interval": 8, "max_delay": 8})
    stream, recon, out, counts = _encode_with_modes(tmp_path, cfg, clip)
    assert counts["warped_reference"] > 0
    config, ckpt = model_files(fixtures_root, "mrdac")
    assert_decodes_like_the_encoder(tmp_path, stream, recon, md5_lines(out), config, ckpt, FRAMES)
    messages = _prediction_dump(stream)
    assert sum(m.count(1) for _, m in messages) == counts["warped_reference"]


def test_the_decoder_follows_the_message(tmp_path, fixtures_root, clip, monkeypatch):
    # decoding while ignoring the message changes exactly the pictures it marks as warped
    from gfvc.codec import decoder as decoder_module
    from gfvc.codec.decoder import GfvcDecoder

    cfg = _yaml(tmp_path, "dac", fixtures_root, prediction=ON, picture_hash="none")
    stream, recon, out, counts = _encode_with_modes(tmp_path, cfg, clip)
    config, ckpt = model_files(fixtures_root, "dac")
    data = stream.read_bytes()
    following = GfvcDecoder(str(config), str(ckpt)).decode(data).pictures
    monkeypatch.setattr(decoder_module, "record_prediction_modes", lambda *args: None)
    ignoring = GfvcDecoder(str(config), str(ckpt)).decode(data).pictures
    modes = _prediction_dump(stream)[0][1]
    differs = [not np.array_equal(a, b) for a, b in zip(following[1:], ignoring[1:])]
    assert differs == [m == 1 for m in modes]
    from gfvc.io.sequence import rgb_to_planar_bytes

    assert rgb_to_planar_bytes(following) == recon.read_bytes()


def test_a_message_naming_a_missing_picture_is_a_one_line_error(tmp_path, fixtures_root, clip, monkeypatch):
    from gfvc.bitstream import PredictionModes
    from gfvc.codec import encoder as encoder_module

    def one_too_many(gfv_id, modes):
        return PredictionModes(gfv_id, 1, list(modes) + [1])

    monkeypatch.setattr(encoder_module, "modes_message", one_too_many)
    cfg = _yaml(tmp_path, "dac", fixtures_root, prediction=ON)
    stream, _, _, _ = _encode_with_modes(tmp_path, cfg, clip)
    config, ckpt = model_files(fixtures_root, "dac")
    dec = decode_cli("-b", str(stream), "-o", str(tmp_path / "dec.rgb"), "--checkpoint", str(ckpt),
                     "--model-config", str(config))
    assert dec.returncode != 0
    assert f"names gfv_cnt {FRAMES}, for which its key picture has no generated picture" in dec.stderr
    assert len(dec.stderr.strip().splitlines()) == 1 and "Traceback" not in dec.stderr
    assert not (tmp_path / "dec.rgb").exists()


def test_several_references_warp_the_nearest_one(fixtures_root, clip):
    # mode 1 with several references is the warp of the reference with the largest weight (the
    # first of equal ones), not an average of warps (which blurs where they disagree)
    model, frames, found = model_and_keypoints(fixtures_root, clip, "mrdac")
    refs = [model.prepare_reference(frames[i:i + 1], {k: v[i:i + 1] for k, v in found.items()}) for i in (0, 5)]
    targets = {k: v[1:4] for k, v in found.items()}
    weights = torch.tensor([[1.0, 0.5], [0.5, 1.0], [1.0, 1.0]])
    both = model.warp_references_prepared(refs, targets, weights)
    alone = [model.warp_references_prepared([r], targets) for r in refs]
    assert not torch.equal(alone[0], alone[1])
    for i, nearest in enumerate((0, 1, 0)):
        assert torch.allclose(both[i], alone[nearest][i], atol=1e-6)
