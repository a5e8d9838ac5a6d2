"""Hand-computed byte vectors (derivations in the comments), and writer-side refusals."""
from __future__ import annotations

import pytest

from gfvc.bitstream import (BitstreamError, GfvMatrixSet, GfvMessage, PictureHash, RawSeiPayload,
                            SeiContext, build_sei_nal, nal_header, parse_sei_rbsp)
from gfvc.bitstream.nal import NalUnit
from gfvc.bitstream.sei import parse_sei_nal

BASE = GfvMessage(gfv_id=0, gfv_cnt=0, gfv_base_picture_flag=True, gfv_coordinate_present_flag=True,
                  gfv_coordinate_precision_factor_minus1=0,
                  gfv_coordinate_x=[0.5], gfv_coordinate_y=[-0.75])
NEXT = GfvMessage(gfv_id=0, gfv_cnt=1, gfv_coordinate_present_flag=True, gfv_kps_pred_flag=True,
                  gfv_coordinate_precision_factor_minus1=0,
                  gfv_coordinate_x=[0.5], gfv_coordinate_y=[0.75])


def test_nal_headers_match_the_spec_examples():
    # gfv_sei.md: HEVC layer 0 / tid 0 prefix/suffix 4E 01 / 50 01; VVC 00 B9 / 00 C1
    assert nal_header("hevc", 39) == bytes.fromhex("4e01")
    assert nal_header("hevc", 40) == bytes.fromhex("5001")
    assert nal_header("vvc", 23) == bytes.fromhex("00b9")
    assert nal_header("vvc", 24) == bytes.fromhex("00c1")
    # HEVC: type 40, layer 1, tid 2 -> 0 101000 000001 011 -> 0101 0000 0000 1011
    assert nal_header("hevc", 40, layer_id=1, temporal_id=2) == bytes.fromhex("500b")


def test_golden_gfv_base_and_predicted_message_in_one_suffix_nal():
    # Message 1 (base). P = 1. x = 0.5: int(0.5*2 + 0.5) = 1 -> x_abs 1, sign 0.
    # y = -0.75: int(-1.5 + 0.5) = int(-1.0) = -1 -> y_abs 1, sign 1.
    #   gfv_id ue(0) '1' | gfv_cnt ue(0) '1' | base_picture_flag '1' | nn_present '0' |
    #   chroma_key_info_present '0' | low_confidence '0' | coordinate_present '1' | kps_pred '0'
    #   -> 1110 0010 = E2
    #   precision_minus1 ue(0) '1' | num_kps_minus1 ue(0) '1' | z_present '0' |
    #   x_abs ue(1) '010' | x_sign '0' | y_abs ue(1) '010' | y_sign '1' | matrix_present '0'
    #   -> 1100 1000 | 1010 + payload_bit_equal_to_one '1' + '000' -> C8 A8
    #   sei_message: payloadType 223 = DF, payloadSize 3 -> DF 03 E2 C8 A8
    # Message 2 (gfv_cnt 1, kps_pred_flag 1, predicted from message 1's reconstruction q=(1,-1)).
    # x = 0.5 -> q 1, delta 0; y = 0.75 -> int(1.5 + 0.5) = 2, delta 2 - (-1) = 3.
    #   gfv_id '1' | gfv_cnt ue(1) '010' | drive_picture_fusion '0' | low_confidence '0' |
    #   coordinate_present '1' | kps_pred '1' -> 1010 0011 = A3
    #   dx_abs ue(0) '1' | dy_abs ue(3) '00100' | dy_sign '0' | matrix_present '0' -> 1001 0000 = 90
    #   16 bits: byte-aligned, no payload_bit_equal_to_one. -> DF 02 A3 90
    # rbsp_trailing_bits 80; HEVC suffix SEI header 50 01; no 00 00 pattern, no emulation bytes.
    expected = bytes.fromhex("5001 df03e2c8a8 df02a390 80")
    nal = build_sei_nal([BASE, NEXT], "hevc", "suffix", context=SeiContext())
    assert nal == expected
    parsed = parse_sei_rbsp(expected[2:], SeiContext())
    assert parsed[0].payload.gfv_coordinate_y == [-0.5]      # -1 / 2^1
    assert parsed[1].payload.gfv_coordinate_y == [1.0]       # (-1 + 3) / 2


def test_golden_picture_hash_with_emulation_prevention_in_vvc_prefix_nal():
    # user_data_unregistered: payloadType 5, payloadSize 16 (UUID) + 1 + 16 = 33 = 0x21.
    # gph_first_output_idx ue(0) '1' | gph_num_pictures_minus1 ue(2) '011' |
    # gph_sample_format u(2) '00' | gph_alignment_zero_bit '00' -> 1011 0000 = B0
    # gph_md5 = 00 00 01 00*12 03. Emulation prevention (after 00 00, a byte <= 03 gets 03
    # before it; the zero count restarts after the inserted byte):
    #   00 00 [03] 01 | 00 00 [03] 00 | 00 [03] 00 | ... (every second zero of the run) ... |
    #   00 [03] 03 -> 7 inserted bytes.
    md5 = b"\x00\x00\x01" + bytes(12) + b"\x03"
    nal = build_sei_nal([PictureHash(0, 2, 0, md5)], "vvc", "prefix", context=SeiContext())
    expected = (bytes.fromhex("00b9 05 21 f35051c7edf3456c9c355940c0fa9170 b0")
                + bytes.fromhex("000003 01 000003 00 0003 00 0003 00 0003 00 0003 00 0003 03")
                + b"\x80")
    assert nal == expected
    unit = NalUnit("vvc", 23, 0, 0, expected, offset=100, start=96)
    (msg,) = parse_sei_nal(unit, SeiContext())
    assert msg.payload == PictureHash(0, 2, 0, md5)
    # the md5 starts at rbsp byte 19; with no emulation byte before it: stream 100 + 2 + 19
    assert unit.stream_offset(19) == 121
    assert unit.stream_offset(22) == 125       # after 00 00 [03] 01 00: one inserted byte


def test_golden_payload_type_and_size_of_255_and_more():
    # payloadType 300 = 255 + 45 -> FF 2D; payloadSize 256 = 255 + 1 -> FF 01
    nal = build_sei_nal([RawSeiPayload(300, b"\x11" * 256)], "hevc", "prefix")
    assert nal == bytes.fromhex("4e01 ff2d ff01") + b"\x11" * 256 + b"\x80"
    (msg,) = parse_sei_rbsp(nal[2:])
    assert (msg.payload_type, msg.payload_size, msg.payload.payload) == (300, 256, b"\x11" * 256)


def test_golden_matrix_element_quantisation():
    # CFTE-like base message: one type 2 matrix 1x2 (width 2, height 1), P = 2.
    # m = 1.7: floor 1, frac .7*4 + .5 = 3.3 -> 3 -> int 1 dec 3 -> 1.75
    # m = -0.99: floor 0, frac .99*4 + .5 = 4.46 -> 4 clipped to 3 -> -0.75 (HM clip)
    msg = GfvMessage(gfv_base_picture_flag=True, gfv_matrix_present_flag=True,
                     gfv_matrix_element_precision_factor_minus1=1,
                     gfv_matrix_sets=[GfvMatrixSet(2, [[[1.7, -0.99]]], gfv_matrix_width_minus1=1)])
    nal = build_sei_nal([msg], "hevc", "suffix")
    # gfv_id '1' cnt '1' base '1' nn '0' chroma '0' low_conf '0' coord '0' matrix '1'
    # precision_minus1 ue(1) '010' | num_matrix_types_minus1 ue(0) '1' | type_idx u(6) '000010'
    # width_minus1 ue(1) '010' | height_minus1 ue(0) '1'
    # element 1.75: int ue(1) '010', dec u(2) '11', sign '0'
    # element -0.75: int ue(0) '1', dec u(2) '11', sign '1'
    # 32 bits: byte-aligned, so no payload_bit_equal_to_one.
    # 1110 0001 | 0101 0000 | 1001 0101 | 0110 1111 -> E1 50 95 6F
    assert nal == bytes.fromhex("5001 df04 e150956f 80")
    (parsed,) = parse_sei_rbsp(nal[2:])
    assert parsed.payload.gfv_matrix_sets[0].matrices == [[[1.75, -0.75]]]


def test_writer_refuses_inconsistent_messages():
    ctx = SeiContext()
    with pytest.raises(BitstreamError, match="no reference keypoints"):
        build_sei_nal([NEXT], "hevc", context=ctx)
    with pytest.raises(BitstreamError, match="gfv_coordinate_present_flag or gfv_matrix_present_flag"):
        build_sei_nal([GfvMessage(gfv_base_picture_flag=True)], "hevc")
    build_sei_nal([BASE], "hevc", context=ctx)
    wrong = GfvMessage(**{**NEXT.__dict__, "gfv_coordinate_precision_factor_minus1": 3})
    with pytest.raises(BitstreamError, match="inherits"):
        build_sei_nal([wrong], "hevc", context=ctx)
    with pytest.raises(BitstreamError, match="must each hold 1 values"):
        build_sei_nal([GfvMessage(**{**NEXT.__dict__, "gfv_coordinate_x": [0.1, 0.2]})], "hevc",
                      context=ctx)
    with pytest.raises(BitstreamError, match="not a finite number"):
        build_sei_nal([GfvMessage(**{**BASE.__dict__, "gfv_coordinate_x": [float("nan")]})], "hevc")


def test_precision_32_prediction_limit_is_a_clear_error():
    """HM codes gfv_matrix_delta_element_dec as ue(v): at P = 32 a fraction of 2^32 - 1 does
    not fit the 32-bit ue(v) range; the writer says so instead of writing a bad stream."""
    sets = lambda v: [GfvMatrixSet(2, [[[v]]])]
    base = GfvMessage(gfv_base_picture_flag=True, gfv_matrix_present_flag=True,
                      gfv_matrix_element_precision_factor_minus1=31, gfv_matrix_sets=sets(0.0))
    nxt = GfvMessage(gfv_cnt=1, gfv_matrix_present_flag=True, gfv_matrix_pred_flag=True,
                     gfv_matrix_element_precision_factor_minus1=31,
                     gfv_matrix_sets=sets(1 - 2.0 ** -32))
    with pytest.raises(BitstreamError, match="gfv_matrix_delta_element_dec.*ue\\(v\\) range"):
        build_sei_nal([base, nxt], "hevc")


def test_model_identity_refuses_a_mismatched_checkpoint(tmp_path):
    from gfvc.bitstream import ModelIdentity, ModelIdentityMismatch, config_digest, sha256_prefix_of_file
    import hashlib

    ckpt = tmp_path / "model.pth.tar"
    ckpt.write_bytes(b"weights")
    assert sha256_prefix_of_file(ckpt) == hashlib.sha256(b"weights").digest()[:8]
    # canonical JSON: sorted keys, no spaces
    assert config_digest({"b": 1, "a": [1, 2]}) == hashlib.sha256(b'{"a":[1,2],"b":1}').digest()[:8]
    ident = ModelIdentity("fomm", config_digest({"num_kp": 10}), sha256_prefix_of_file(ckpt))
    ident.verify("fomm", config_digest({"num_kp": 10}), hashlib.sha256(b"weights").digest())
    with pytest.raises(ModelIdentityMismatch, match=r"refusing to decode.*checkpoint sha256 "
                                                    r"[0-9a-f]{16}\.\.\. \(the stream needs"):
        ident.verify("fomm", config_digest({"num_kp": 10}), hashlib.sha256(b"other").digest())
    with pytest.raises(ModelIdentityMismatch, match="codec family 'cfte'"):
        ident.verify("cfte", config_digest({"num_kp": 10}), hashlib.sha256(b"weights").digest())


def test_picture_md5_hashes_planar_rgb():
    import hashlib

    import numpy as np

    from gfvc.bitstream import picture_md5

    pic = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    planes = bytes(pic[..., 0].ravel()) + bytes(pic[..., 1].ravel()) + bytes(pic[..., 2].ravel())
    assert picture_md5([pic, pic]) == hashlib.md5(planes + planes).digest()


def test_reserved_payload_extension_data_is_skipped_and_zero_tail_is_an_error():
    # The base message of the first golden vector ends at bit 20 of E2 C8 A8. Here the
    # remainder is '1010' (extension data) then 0x80 (payload_bit_equal_to_one + zeros).
    (msg,) = parse_sei_rbsp(bytes.fromhex("df04 e2c8aa80 80"))
    assert msg.extension_bits == 4
    assert msg.payload.gfv_coordinate_x == [0.5]
    with pytest.raises(BitstreamError, match="without payload_bit_equal_to_one") as info:
        parse_sei_rbsp(bytes.fromhex("df04 e2c8a800 80"), locate=lambda i: 50 + i)
    assert info.value.offset == 50 + 2 + 2          # the byte where the syntax ended
