"""gfvc-seidump: text and JSON output, unknown payloads as bytes, errors as one line."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from gfvc.bitstream import (GfvMatrixSet, GfvMessage, PictureHash, RawSeiPayload, SeiContext,
                            UserDataUnregistered, annexb, build_sei_nal, find_pictures,
                            make_nal_unit, parse_sei_nal, split_nal_units)
from gfvc.bitstream.seidump import main

REPO = Path(__file__).resolve().parent.parent


def small_stream(codec="hevc") -> bytes:
    vcl, sps = (19, 33) if codec == "hevc" else (7, 15)
    gfv = GfvMessage(gfv_base_picture_flag=True, gfv_coordinate_present_flag=True,
                     gfv_coordinate_x=[0.5], gfv_coordinate_y=[-0.75])
    unknown_uuid = UserDataUnregistered(bytes(range(16)), b"hello")
    return annexb([make_nal_unit(codec, sps, b"\x01\x02"),
                   make_nal_unit(codec, vcl, b"\x80\x12"),
                   build_sei_nal([gfv, PictureHash(3, 0, 0, bytes(16)), RawSeiPayload(77, b"\xab\xcd"),
                                  unknown_uuid], codec, "suffix")])


def test_text_output_lists_nal_units_and_named_elements(tmp_path, capsys):
    path = tmp_path / "s.265"
    path.write_bytes(small_stream())
    assert main([str(path)]) == 0
    out = capsys.readouterr().out
    assert "SPS_NUT (33)" in out and "IDR_W_RADL (19)" in out and "SUFFIX_SEI_NUT (40)" in out
    assert "generative_face_video SEI message (payloadType 223, 3 bytes)" in out
    lines = {l.split(":")[0].strip(): l.split(":", 1)[1].strip() for l in out.splitlines()
             if l.startswith("    ")}
    assert lines["gfv_coordinate_y_sign_flag[0]"] == "1"
    assert lines["gph_first_output_idx"] == "3"
    assert lines["payload_byte"] == "abcd"                       # unknown type: bytes, no error
    assert lines["user_data_payload_byte"] == b"hello".hex()     # unknown UUID: bytes


def test_json_output_one_object_per_nal_unit(tmp_path, capsys):
    path = tmp_path / "s.266"
    data = small_stream("vvc")
    path.write_bytes(data)
    assert main([str(path), "--json"]) == 0
    objects = json.loads(capsys.readouterr().out)
    nals = split_nal_units(data, "vvc")
    assert [o["nal_unit_type"] for o in objects] == [n.nal_unit_type for n in nals]
    assert [o["size"] for o in objects] == [n.size for n in nals]
    sei = objects[2]["sei_messages"]
    assert [m["payloadType"] for m in sei] == [223, 5, 77, 5]
    assert sei[0]["elements"]["gfv_coordinate_x_abs[0]"] == 1
    assert sei[1]["name"] == "gfvc_picture_hash" and sei[1]["elements"]["gph_md5"] == "00" * 16
    assert sei[2]["elements"] == {"payload_byte": "abcd"}


def test_errors_are_one_line_with_offset(tmp_path, capsys):
    good = small_stream()
    sei = split_nal_units(good, "hevc")[2]
    broken = good[:sei.offset + 6]                    # cut inside the first SEI payload
    path = tmp_path / "broken.265"
    path.write_bytes(broken)
    assert main([str(path)]) == 1
    captured = capsys.readouterr()
    assert "error:" in captured.out and "byte offset" in captured.out
    assert "Traceback" not in captured.out + captured.err
    path.write_bytes(b"\x12\x34")
    assert main([str(path)]) == 1
    err = capsys.readouterr().err
    assert err == "gfvc-seidump: error: no Annex-B start code (00 00 01) in the stream (at byte offset 0)\n"
    assert main([str(tmp_path / "missing.265")]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_codec_detection_and_wrapper_script(tmp_path):
    path = tmp_path / "stream.bin"                    # no telling extension: sniffed
    path.write_bytes(small_stream("vvc"))
    result = subprocess.run([sys.executable, str(REPO / "bin" / "gfvc-seidump"), str(path), "--json"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)[0]["codec"] == "vvc"


def test_parsing_250_pictures_with_one_gfv_sei_each_is_fast():
    """FOMM-sized messages (10 keypoints + 10 Jacobians), predicted after the base.
    The measured figure is recorded in doc/benchmarks.md ("Bitstream"); the bound here only
    catches gross regressions on a loaded CI machine."""
    ctx = SeiContext()
    nals = []
    write_start = time.process_time()
    for i in range(250):
        base = i == 0
        jac = [[[1.0 + 0.01 * ((i + k) % 7), 0.02 * k], [-0.03 * k, 0.9]] for k in range(10)]
        msg = GfvMessage(gfv_cnt=i, gfv_base_picture_flag=base, gfv_coordinate_present_flag=True,
                         gfv_kps_pred_flag=not base, gfv_coordinate_precision_factor_minus1=5,
                         gfv_coordinate_x=[((i * k) % 13) / 13 - 0.5 for k in range(10)],
                         gfv_coordinate_y=[((i + k) % 11) / 11 - 0.5 for k in range(10)],
                         gfv_matrix_present_flag=True, gfv_matrix_pred_flag=not base,
                         gfv_matrix_element_precision_factor_minus1=5,
                         gfv_matrix_sets=[GfvMatrixSet(0, jac, gfv_num_matrices_equal_to_num_kps_flag=True)])
        nals.append(make_nal_unit("hevc", 19 if base else 1, b"\x80\x11"))
        nals.append(build_sei_nal([msg], "hevc", "suffix", context=ctx))
    data = annexb(nals)
    write_cpu = time.process_time() - write_start
    start_wall, start_cpu = time.perf_counter(), time.process_time()
    units = split_nal_units(data, "hevc")
    reader = SeiContext()
    messages = [m for u in units if u.is_sei for m in parse_sei_nal(u, reader)]
    wall, cpu = time.perf_counter() - start_wall, time.process_time() - start_cpu
    assert len(find_pictures(units)) == len(messages) == 250
    print(f"\nparse 250 GFV SEI ({len(data)} bytes): wall {wall:.3f} s, cpu {cpu:.3f} s "
          f"(writing them: cpu {write_cpu:.3f} s)")
    assert cpu < 3.0
