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


def test_parsing_250_pictures_with_one_gfv_sei_each():
    """FOMM-sized messages (10 keypoints + 10 Jacobians), predicted after the base: every message
    is found and parsed. The time is printed and recorded in doc/benchmarks.md ("Bitstream"), not
    asserted (a test must not depend on machine load)."""
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


# -- issue 10: codec mismatch, suffix-only warnings, hostile inputs and outputs -------------
def test_stream_of_the_other_codec_is_reported_not_shown_as_trail(tmp_path, capsys):
    for codec, other in (("hevc", "vvc"), ("vvc", "hevc")):
        path = tmp_path / f"s.{codec}.bin"
        path.write_bytes(small_stream(codec))
        assert main([str(path), "--codec", other]) == 1
        captured = capsys.readouterr()
        assert captured.out == ""                       # nothing dumped as TRAIL NAL units
        lines = captured.err.splitlines()
        assert len(lines) == 1 and "Traceback" not in captured.err
        assert f"looks like {codec.upper()}, not {other.upper()}" in lines[0]
        assert "byte offset" in lines[0]
        assert main([str(path), "--codec", codec]) == 0      # the right codec still works
        assert main([str(path)]) == 0                        # and so does detection
        assert f"{codec} stream" in capsys.readouterr().out


def test_detection_trusts_the_headers_over_a_wrong_extension(tmp_path, capsys):
    path = tmp_path / "really_hevc.266"
    path.write_bytes(small_stream("hevc"))
    assert main([str(path)]) == 0
    assert capsys.readouterr().out.startswith("hevc stream")


def test_codec_fit_of_real_headers():
    from gfvc.bitstream import check_stream_codec, codec_fit
    hevc, vvc = small_stream("hevc"), small_stream("vvc")
    assert codec_fit(hevc, "hevc").plausible and codec_fit(vvc, "vvc").plausible
    assert "nuh_reserved_zero_bit is 1" in codec_fit(hevc, "vvc").reason
    assert not codec_fit(vvc, "hevc").plausible
    # only type-0 NAL units of layer 0: identical headers in both codecs, no verdict
    trail = annexb([make_nal_unit("hevc", 0, b"\x80\x11"), make_nal_unit("hevc", 0, b"\x00\x11")])
    for codec in ("hevc", "vvc"):
        check_stream_codec(trail, codec)


def test_gfv_in_prefix_sei_is_shown_with_a_warning(tmp_path, capsys):
    from gfvc.bitstream import write_sei_rbsp
    gfv = GfvMessage(gfv_base_picture_flag=True, gfv_coordinate_present_flag=True,
                     gfv_coordinate_x=[0.5], gfv_coordinate_y=[-0.75])
    path = tmp_path / "prefix.265"
    path.write_bytes(annexb([make_nal_unit("hevc", 33, b"\x01\x02"),
                             make_nal_unit("hevc", 39, write_sei_rbsp([gfv])),
                             make_nal_unit("hevc", 19, b"\x80\x12")]))
    assert main([str(path)]) == 0
    out = capsys.readouterr().out
    warnings = [l for l in out.splitlines() if l.startswith("  warning:")]
    assert len(warnings) == 1 and "payloadType 223" in warnings[0] and "suffix-only" in warnings[0]
    assert main([str(path), "--json"]) == 0
    objects = json.loads(capsys.readouterr().out)
    assert "suffix-only" in objects[1]["sei_messages"][0]["warnings"][0]


def _run_seidump(args, **kwargs):
    return subprocess.run([sys.executable, str(REPO / "bin" / "gfvc-seidump"), *args],
                          capture_output=True, text=True, timeout=120, **kwargs)


def test_output_to_dev_full_is_one_line_error(tmp_path):
    path = tmp_path / "s.265"
    path.write_bytes(small_stream())
    with open("/dev/full", "w") as full:
        result = subprocess.run([sys.executable, str(REPO / "bin" / "gfvc-seidump"), str(path)],
                                stdout=full, stderr=subprocess.PIPE, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.splitlines() == ["gfvc-seidump: error: cannot write the output: "
                                          "No space left on device"]


def test_closed_stdout_is_one_line_error(tmp_path):
    path = tmp_path / "s.265"
    path.write_bytes(small_stream())
    result = subprocess.run(["bash", "-c", 'exec "$@" >&-', "_", sys.executable,
                             str(REPO / "bin" / "gfvc-seidump"), str(path)],
                            stderr=subprocess.PIPE, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.splitlines() == ["gfvc-seidump: error: standard output is closed"]


def test_non_regular_inputs_are_named_and_never_read(tmp_path, capsys):
    import os
    fifo = tmp_path / "pipe.265"
    os.mkfifo(fifo)                 # opening it would block: the check must come first
    cases = {str(fifo): "is a FIFO (named pipe), not a regular file",
             "/dev/zero": "is a character device, not a regular file",
             str(tmp_path): "is a directory, not a regular file",
             str(tmp_path / "missing.265"): "no such file"}
    for arg, expected in cases.items():
        assert main([arg]) == 2, arg
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and expected in err and err.startswith("gfvc-seidump: error:"), err


def test_stream_larger_than_the_limit_is_refused(tmp_path, capsys):
    path = tmp_path / "s.265"
    data = small_stream()
    path.write_bytes(data)
    assert main([str(path), "--max-bytes", str(len(data) - 1)]) == 2
    assert f"more than the limit of {len(data) - 1} bytes" in capsys.readouterr().err
    assert main([str(path), "--max-bytes", str(len(data))]) == 0
    assert main([str(path), "--max-bytes", "0"]) == 2
