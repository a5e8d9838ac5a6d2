"""Face parameters <-> GFV SEI (gfvc.coding.face_parameters): every family's tiny fixture model
analyses real frames of a built-in clip; the parameters go through GFV messages in closed loop and
come back within half a quantisation step, identically on the writer and the reader side, and a
decoder that only has the payloads (no picture, no model) reconstructs the same values."""
from __future__ import annotations

import math

import pytest
import torch

from gfvc.bitstream import (GfvPredictionState, SeiContext, parse_sei_rbsp, sei_message_bytes)
from gfvc.coding.face_parameters import (FaceParameterError, PARAMETER_CODERS, coordinate_value,
                                         encode_parameters, get_parameter_coder, parse_gfv_payload,
                                         quantise, write_gfv_payload)
from gfvc.bitstream.quant import coordinate_to_int
from gfvc.io.sequence import read_rgb
from gfvc.models import load_model

FAMILIES = ["fomm", "cfte", "fv2v", "dac", "hdac", "mrdac", "rdac"]
DEFAULT_P = {"fomm": 6, "dac": 6, "hdac": 6, "mrdac": 6, "rdac": 6, "rdac_plus": 6, "cfte": 2, "fv2v": 8}
NUM_PICTURES = 12
CLIP = "BUILTIN_FRANCK_001_256x256_25_8bit_444.rgb"


@pytest.fixture(scope="module")
def frames(builtin_dir):
    """12 real pictures of a built-in clip, 4x4-averaged to the fixtures' 64x64."""
    rgb = read_rgb(builtin_dir / CLIP, 256, 256, NUM_PICTURES)
    x = torch.from_numpy(rgb).permute(0, 3, 1, 2).float() / 255.0
    return torch.nn.functional.avg_pool2d(x, 4)


_ANALYSED = {}


@pytest.fixture
def analysed(frames, fixtures_root):
    """family -> list of per-picture parameter dicts (batch 1), as analyse() gives them."""
    def get(family):
        if family not in _ANALYSED:
            tiny = fixtures_root / family.upper() / "tiny"
            ckpt = tiny / ("checkpoint.pth.tar.xz" if family == "fv2v" else "checkpoint.pth.tar")
            model = load_model(family, tiny / "model_params.yaml", ckpt, device="cpu")
            with torch.no_grad():
                out = model.analyse(frames)
            _ANALYSED[family] = [{k: v[i:i + 1] for k, v in out.items()} for i in range(len(frames))]
        return _ANALYSED[family]
    return get


def _code_sequence(coder, pictures, predicted=True):
    writer, reader = GfvPredictionState(), GfvPredictionState()
    return [encode_parameters(coder, p, writer, reader, gfv_cnt=i, base=(i == 0), predicted=predicted)
            for i, p in enumerate(pictures)]


def _expected_keys(family, base, analysed_keys):
    if family == "fv2v":
        return {"rot_mat", "t", "exp"} | ({"kp_canonical"} if base else set())
    return set(analysed_keys)


@pytest.mark.parametrize("family", FAMILIES)
def test_round_trip_within_half_a_step(family, analysed):
    pictures = analysed(family)
    coder = get_parameter_coder(family)
    assert coder.precision == DEFAULT_P[family]
    bound = 2.0 ** -(coder.precision + 1)
    coded = _code_sequence(coder, pictures)
    assert len(coded) >= 10
    for i, (p, c) in enumerate(zip(pictures, coded)):
        assert set(c.params) == _expected_keys(family, i == 0, p)
        for key, value in c.params.items():
            assert value.dtype == torch.float32 and value.shape == p[key].shape, key
            err = (value.double() - p[key].double()).abs().max().item()
            assert err <= bound, (family, i, key, err)
        # the values lie on the 2^-P grid
        for value in c.params.values():
            scaled = torch.ldexp(value.double(), torch.tensor(coder.precision))
            assert torch.equal(scaled, scaled.round())


@pytest.mark.parametrize("family", FAMILIES)
def test_decoder_needs_only_the_payloads(family, analysed):
    """A decoder with a fresh state and nothing but the payload bytes (no picture, no model)
    reconstructs exactly the encoder's values, also when the messages travel in one SEI NAL rbsp."""
    coder = get_parameter_coder(family)
    coded = _code_sequence(coder, analysed(family))
    decoder_state = GfvPredictionState()
    for c in coded:
        msg = parse_gfv_payload(c.payload, decoder_state)
        params = get_parameter_coder(family).from_message(msg)
        assert params.keys() == c.params.keys()
        for key in params:
            assert torch.equal(params[key], c.params[key]), key
    rbsp = b"".join(sei_message_bytes(223, c.payload) for c in coded) + b"\x80"
    parsed = parse_sei_rbsp(rbsp, SeiContext())
    assert [m.payload_type for m in parsed] == [223] * len(coded)
    for m, c in zip(parsed, coded):
        again = coder.from_message(m.payload)
        for key in again:
            assert torch.equal(again[key], c.params[key]), key


@pytest.mark.parametrize("family", FAMILIES)
def test_prediction_chain(family, analysed):
    """Non-base messages predict from the previous reconstruction; writer and reader agree."""
    coder = get_parameter_coder(family)
    coded = _code_sequence(coder, analysed(family))
    base = coded[0].message
    assert base.gfv_base_picture_flag and base.gfv_cnt == 0
    assert not base.gfv_kps_pred_flag and not base.gfv_matrix_pred_flag
    for i, c in enumerate(coded[1:], start=1):
        m = c.message
        assert not m.gfv_base_picture_flag and m.gfv_cnt == i
        assert m.gfv_kps_pred_flag == m.gfv_coordinate_present_flag
        # FV2V: the base message has one more matrix type (kp_canonical), so the first message
        # after it codes its matrices absolutely
        expect_matrix_pred = m.gfv_matrix_present_flag and not (family == "fv2v" and i == 1)
        assert m.gfv_matrix_pred_flag == expect_matrix_pred, i
    # unpredicted coding reconstructs the same values (prediction is lossless) at a higher rate
    absolute = _code_sequence(coder, analysed(family), predicted=False)
    for a, c in zip(absolute, coded):
        for key in c.params:
            assert torch.equal(a.params[key], c.params[key])
    assert sum(len(c.payload) for c in coded[1:]) < sum(len(a.payload) for a in absolute[1:])


@pytest.mark.parametrize("family", FAMILIES)
def test_base_message_carries_the_reference(family, analysed):
    reference = analysed(family)[0]
    coder = get_parameter_coder(family)
    msg = coder.to_message(reference, gfv_cnt=0, base=True)
    assert msg.gfv_base_picture_flag
    params = coder.from_message(parse_gfv_payload(write_gfv_payload(msg, GfvPredictionState()),
                                                  GfvPredictionState()))
    for key, value in params.items():
        want = torch.tensor([math.ldexp(q, -coder.precision) for q in
                             quantise(reference[key], coder.precision, key)]).reshape(value.shape)
        assert torch.equal(value, want.float()), key
    if family == "fv2v":
        assert "kp_canonical" in params
        types = [ms.gfv_matrix_type_idx for ms in msg.gfv_matrix_sets]
        assert types == [4, 5, 7] and msg.gfv_coordinate_z_present_flag
        assert msg.num_kps == reference["kp_canonical"].shape[1]


def test_fv2v_official_shapes_15_keypoints():
    """15 keypoints (official size): exp (1,45) -> 15 3-D coordinates; rot_mat, t."""
    g = torch.Generator().manual_seed(3)
    base = {"rot_mat": torch.randn(1, 3, 3, generator=g) * 0.5, "t": torch.randn(1, 3, generator=g) * 0.1,
            "exp": torch.randn(1, 45, generator=g) * 0.05, "kp_canonical": torch.rand(1, 15, 3, generator=g) * 2 - 1}
    coder = get_parameter_coder("fv2v")
    pictures = [base] + [{k: v + 0.01 * i for k, v in base.items() if k != "kp_canonical"}
                         for i in range(1, 11)]
    coded = _code_sequence(coder, pictures)
    assert coded[0].message.num_kps == 15 and coded[0].params["kp_canonical"].shape == (1, 15, 3)
    for p, c in zip(pictures, coded):
        for key, value in c.params.items():
            assert value.shape == p[key].shape
            assert (value.double() - p[key].double()).abs().max() <= 2.0 ** -9


def test_drive_picture_fusion_flag(analysed):
    coder = get_parameter_coder("hdac")
    pics = analysed("hdac")
    w, r = GfvPredictionState(), GfvPredictionState()
    encode_parameters(coder, pics[0], w, r, gfv_cnt=0, base=True)
    c = encode_parameters(coder, pics[1], w, r, gfv_cnt=1, base=False, drive_picture_fusion=True)
    assert c.message.gfv_drive_picture_fusion_flag


def test_precision_is_configurable(analysed):
    pictures = analysed("dac")
    coarse, fine = get_parameter_coder("dac", precision=3), get_parameter_coder("dac", precision=10)
    assert coarse.settings()["precision"] == 3 and fine.settings() != coarse.settings()
    for coder in (coarse, fine):
        for p, c in zip(pictures, _code_sequence(coder, pictures)):
            assert (c.params["value"].double() - p["value"].double()).abs().max() <= 2.0 ** -(coder.precision + 1)
            assert c.message.gfv_coordinate_precision_factor_minus1 == coder.precision - 1
    assert sum(len(c.payload) for c in _code_sequence(coarse, pictures)) < \
        sum(len(c.payload) for c in _code_sequence(fine, pictures))


def test_rounding_is_half_to_even_and_negatives_are_exact():
    p = 6
    step = 2.0 ** -p
    values = torch.tensor([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, -0.3, -0.7]) * step
    assert quantise(values, p, "v") == [0, 2, 2, 0, -2, -2, 0, -1]
    for q in range(-300, 300):
        assert coordinate_to_int(coordinate_value(q, p), p) == q     # HM's truncating quantiser
    coder = get_parameter_coder("dac")
    kp = torch.tensor([[[-0.7 * step, -1.5 * step], [-0.9999, 0.9999]]])
    c = _code_sequence(coder, [{"value": kp}])[0]
    assert (c.params["value"].double() - kp.double()).abs().max() <= step / 2


@pytest.mark.parametrize("params, match", [
    ({"value": torch.tensor([[[float("nan"), 0.0]]])}, "not a finite number"),
    ({"value": torch.tensor([[[1e30, 0.0]]])}, "outside the codable range"),
    ({"value": torch.zeros(2, 10, 2)}, "expected 1xNx2"),
    ({"value": torch.zeros(1, 10, 3)}, "expected 1xNx2"),
    ({"kp": torch.zeros(1, 10, 2)}, "lack 'value'"),
    ({"value": [[0.0, 0.0]]}, "not a tensor"),
    ({"value": torch.zeros(1, 0, 2)}, "is empty"),
])
def test_bad_parameters_give_one_line_errors(params, match):
    with pytest.raises(FaceParameterError, match=match) as info:
        get_parameter_coder("dac").to_message(params, gfv_cnt=0, base=True)
    assert "\n" not in str(info.value)


def test_bad_requests():
    with pytest.raises(FaceParameterError, match="no GFV parameter coder for family 'vvc'"):
        get_parameter_coder("vvc")
    with pytest.raises(FaceParameterError, match="precision must be an integer 1..32"):
        get_parameter_coder("dac", precision=0)
    with pytest.raises(FaceParameterError, match="unknown option"):
        get_parameter_coder("dac", qstep=64)
    with pytest.raises(FaceParameterError, match="needs gfv_cnt 0"):
        get_parameter_coder("dac").to_message({"value": torch.zeros(1, 10, 2)}, gfv_cnt=3, base=True)
    with pytest.raises(FaceParameterError, match="'exp' holds 31 values"):
        get_parameter_coder("fv2v").to_message(
            {"rot_mat": torch.eye(3)[None], "t": torch.zeros(1, 3), "exp": torch.zeros(1, 31)},
            gfv_cnt=1, base=False)
    with pytest.raises(FaceParameterError, match="lack 'kp_canonical'"):
        get_parameter_coder("fv2v").to_message(
            {"rot_mat": torch.eye(3)[None], "t": torch.zeros(1, 3), "exp": torch.zeros(1, 30)},
            gfv_cnt=0, base=True)


def test_message_of_another_family_is_refused():
    dac = get_parameter_coder("dac")
    msg = dac.to_message({"value": torch.zeros(1, 10, 2)}, gfv_cnt=0, base=True)
    parsed = parse_gfv_payload(write_gfv_payload(msg, GfvPredictionState()), GfvPredictionState())
    for family in ("fomm", "cfte", "fv2v"):
        with pytest.raises(FaceParameterError, match=f"does not fit the {family} parameters"):
            get_parameter_coder(family).from_message(parsed)


def test_every_family_is_registered():
    assert sorted(PARAMETER_CODERS) == sorted(FAMILIES + ["rdac_plus"])    # RDAC+: RDAC's keypoints
    for family in PARAMETER_CODERS:
        s = get_parameter_coder(family).settings()
        assert s["family"] == family and s["precision"] == DEFAULT_P[family]


@pytest.mark.parametrize("family", FAMILIES)
def test_entropy_coded_run_reconstructs_like_gfv(family, analysed):
    """encode_parameter_run: the generated pictures in one gfvc_entropy_coded_parameters payload
    reconstruct exactly like GFV messages; a decoder parses them from the SEI alone."""
    from gfvc.bitstream import EntropyCodedParameters
    from gfvc.coding.face_parameters import encode_parameter_run
    pictures = analysed(family)
    coder = get_parameter_coder(family)
    gfv = _code_sequence(coder, pictures)
    w, r = GfvPredictionState(), GfvPredictionState()
    base = encode_parameters(coder, pictures[0], w, r, gfv_cnt=0, base=True)
    first = encode_parameter_run(coder, pictures[1:6], w, r, first_gfv_cnt=1)
    second = encode_parameter_run(coder, pictures[6:], w, r, first_gfv_cnt=6)
    params = first.params + second.params
    assert [m.gfv_cnt for m in first.messages + second.messages] == list(range(1, NUM_PICTURES))
    for got, want in zip(params, gfv[1:]):
        assert got.keys() == want.params.keys()
        for key in got:
            assert torch.equal(got[key], want.params[key]), key
    # decoder side: one SEI rbsp with the base GFV message and the two runs
    rbsp = (sei_message_bytes(223, base.payload) + sei_message_bytes(5, first.payload)
            + sei_message_bytes(5, second.payload) + b"\x80")
    parsed = parse_sei_rbsp(rbsp, SeiContext())
    assert isinstance(parsed[1].payload, EntropyCodedParameters)
    decoded = [coder.from_message(m) for p in parsed[1:] for m in p.payload.pictures]
    for got, want in zip(decoded, params):
        for key in got:
            assert torch.equal(got[key], want[key])
    assert len(first.payload) + len(second.payload) < sum(len(c.payload) for c in gfv[1:]) + 40
