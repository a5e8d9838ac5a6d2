"""gfvc-baselayer: encode a sequence file, decode with HM-style MD5 lines, clear one-line errors."""
from __future__ import annotations

import re

from gfvc.baselayer.cli import main
from gfvc.io import write_rgb
from standins.pictures import moving_face


def test_encode_then_decode_prints_md5_per_picture(tmp_path, capsys):
    seq = tmp_path / "FACE_64x64_25_8bit_444.rgb"
    write_rgb(seq, moving_face(3, 64))
    out = tmp_path / "face.265"
    assert main(["encode", str(seq), "-o", str(out), "--backend", "x265", "--qp", "32",
                 "--structure", "lowdelay_P", "--preset", "ultrafast"]) == 0
    assert out.stat().st_size > 0
    capsys.readouterr()
    lines = {}
    for decoder in ("pyav", "ffmpeg", "dec265"):
        args = ["decode", str(out), "--decoder", decoder, "--frames", "3", "--width", "64", "--height", "64"]
        if decoder == "pyav":
            args += ["-o", str(tmp_path / "dec.yuv")]
        assert main(args) == 0
        lines[decoder] = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("POC")]
    assert len(lines["pyav"]) == 3 and lines["pyav"] == lines["ffmpeg"] == lines["dec265"]
    assert re.fullmatch(r"POC    0 \( *\d+ bytes\) \[MD5:[0-9a-f]{32},[0-9a-f]{32},[0-9a-f]{32}\]", lines["pyav"][0])
    assert (tmp_path / "dec.yuv").stat().st_size == 3 * 64 * 64 * 3 // 2


def test_errors_are_one_line_and_leave_no_output(tmp_path, capsys):
    seq = tmp_path / "FACE_64x64_25_8bit_444.rgb"
    write_rgb(seq, moving_face(2, 64))
    out = tmp_path / "out.266"
    assert main(["encode", str(seq), "-o", str(out), "--backend", "vvenc", "--qp", "30",
                 "--structure", "lowdelay_P"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("gfvc-baselayer: error: vvenc cannot code structure 'lowdelay_P'") and "\n" not in err
    assert main(["encode", str(seq), "-o", str(out), "--backend", "vtm", "--qp", "30"]) == 1
    assert "GFVC_VTM_ENCODER" in capsys.readouterr().err
    assert main(["encode", str(seq), "-o", str(out), "--qp", "30", "--frames", "5"]) == 1
    assert "holds 2 frames" in capsys.readouterr().err
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == [seq.name]
    bad = tmp_path / "bad.265"
    bad.write_bytes(b"\x00\x00\x01\x40\x01broken")
    assert main(["decode", str(bad), "-o", str(tmp_path / "x.yuv")]) == 1
    assert capsys.readouterr().err.startswith("gfvc-baselayer: error:")
    assert not (tmp_path / "x.yuv").exists()


def test_ten_bit_vvc_stream_prints_native_and_output_md5(tmp_path, capsys):
    seq = tmp_path / "FACE_64x64_25_8bit_444.rgb"
    write_rgb(seq, moving_face(2, 64))
    out = tmp_path / "face.266"
    assert main(["encode", str(seq), "-o", str(out), "--backend", "vvenc", "--qp", "32", "--preset", "faster"]) == 0
    capsys.readouterr()
    printed = {}
    for decoder in ("pyav", "ffmpeg"):
        assert main(["decode", str(out), "--decoder", decoder, "--frames", "2"]) == 0
        printed[decoder] = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("POC")]
    assert printed["pyav"] == printed["ffmpeg"] and len(printed["pyav"]) == 2
    native, output = re.findall(r"MD5:([0-9a-f,]+)\]", printed["pyav"][0])
    assert native != output  # 10-bit samples vs the 8-bit pictures
