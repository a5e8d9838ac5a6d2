"""gfvc-seqcheck and the sequence lists: the CTC list as data, exact problem reports."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from gfvc.io import SequenceError, write_rgb
from gfvc.io.seqcheck import builtin_list, check_folder, ctc_list, main
from gfvc.io.seqlist import load_sequence_list

MINI_LIST = """title: mini
sequences:
  - {name: ALPHA_001, file: ALPHA_001_16x8_25_8bit_444.rgb, frames: 3}
  - {name: BETA_001, file: BETA_001_16x8_25_8bit_444.rgb, frames: 2, md5: %s}
  - {name: GAMMA_001, file: GAMMA_001_16x8_25_8bit_444.rgb, frames: 2, role: training}
"""


def _frames(n, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, 8, 16, 3), dtype=np.uint8)


@pytest.fixture
def folder(tmp_path):
    """A folder with ALPHA (3 frames) and BETA (2 frames) in place, and the list for them."""
    import hashlib

    d = tmp_path / "seqs"
    write_rgb(d / "ALPHA_001_16x8_25_8bit_444.rgb", _frames(3))
    write_rgb(d / "BETA_001_16x8_25_8bit_444.rgb", _frames(2, seed=1))
    md5 = hashlib.md5((d / "BETA_001_16x8_25_8bit_444.rgb").read_bytes()).hexdigest()
    (tmp_path / "list.yaml").write_text(MINI_LIST % md5)
    return d


def test_ctc_list_is_the_jvet_ah0114_set():
    seqs = load_sequence_list(ctc_list()).entries
    assert len(seqs) == 30
    vox = [e for e in seqs if e.name.startswith("VOXCELEB_")]
    cfvqa = [e for e in seqs if e.name.startswith("CFVQA_")]
    assert [e.name for e in vox] == [f"VOXCELEB_{i:03d}" for i in range(1, 16)]
    assert [e.name for e in cfvqa] == [f"CFVQA_{i:03d}" for i in range(1, 16)]
    assert {e.frames for e in vox} == {250} and {e.frames for e in cfvqa} == {125}
    for e in seqs:
        j = e.jvet
        assert (j.width, j.height, j.fps, j.bit_depth, j.chroma_format, j.ext) == (256, 256, 25.0, 8, "444", "rgb")
        assert e.file == f"{e.name}_256x256_25_8bit_444.rgb" and e.role == "test"


def test_good_folder_has_no_problems(folder):
    assert check_folder(folder, folder.parent / "list.yaml", md5=True) == []


def test_each_kind_of_problem_is_named(folder):
    lst = folder.parent / "list.yaml"
    # ALPHA: one frame short; BETA: replaced by a 32x8 file; GAMMA (training) absent.
    write_rgb(folder / "ALPHA_001_16x8_25_8bit_444.rgb", _frames(2))
    (folder / "BETA_001_16x8_25_8bit_444.rgb").rename(folder / "BETA_001_32x8_25_8bit_444.rgb")
    problems = check_folder(folder, lst)
    assert [(p.sequence, p.kind) for p in problems] == [("ALPHA_001", "frames"), ("BETA_001", "missing")]
    assert "holds 2 frames of 16x8, the list says 3" in problems[0].detail
    assert "found BETA_001_32x8_25_8bit_444.rgb (width 32 instead of 16)" in problems[1].detail
    training = check_folder(folder, lst, roles=("test", "training"))
    assert ("GAMMA_001", "missing") in [(p.sequence, p.kind) for p in training]


def test_truncated_file_and_md5(folder):
    lst = folder.parent / "list.yaml"
    with open(folder / "ALPHA_001_16x8_25_8bit_444.rgb", "ab") as f:
        f.write(b"x" * 10)
    beta = folder / "BETA_001_16x8_25_8bit_444.rgb"
    data = bytearray(beta.read_bytes())
    data[5] ^= 1
    beta.write_bytes(bytes(data))
    problems = {p.sequence: p for p in check_folder(folder, lst, md5=True)}
    assert problems["ALPHA_001"].kind == "truncated" and "3 whole frames + 10 bytes" in problems["ALPHA_001"].detail
    assert problems["BETA_001"].kind == "md5"
    assert "BETA_001" not in {p.sequence for p in check_folder(folder, lst, md5=False)}


def test_cli_exit_codes_and_lines(folder, capsys):
    lst = str(folder.parent / "list.yaml")
    assert main([str(folder), "--list", lst]) == 0
    assert "all 2 sequences of list.yaml OK" in capsys.readouterr().out
    (folder / "ALPHA_001_16x8_25_8bit_444.rgb").unlink()
    assert main([str(folder), "--list", lst]) == 1
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("gfvc-seqcheck: ALPHA_001: missing: no file ALPHA_001_16x8_25_8bit_444.rgb")
    assert lines[-1] == f"gfvc-seqcheck: 1 of 2 sequences OK in {folder}; 1 missing or wrong"
    assert main([str(folder / "nowhere"), "--list", lst]) == 2
    assert "no such folder" in capsys.readouterr().err


@pytest.mark.parametrize("text, message", [
    ("sequences: 3", "expected a top-level 'sequences:' list"),
    ("sequences: [{name: A, file: A.rgb, frames: 2}]", "not a JVET sequence name"),
    ("sequences: [{name: A, file: B_8x8_25_8bit_444.rgb, frames: 2}]", "does not start with the name A"),
    ("sequences: [{name: A, file: A_8x8_25_8bit_444.rgb, frames: 0}]", "frames must be a positive integer"),
    ("sequences: [{name: A, file: A_8x8_25_8bit_444.rgb}]", "lacks frames"),
    ("sequences: [{name: A, file: A_8x8_25_8bit_444.rgb, frames: 1, role: dev}]", "role must be one of"),
    ("sequences: [\n", "not valid YAML"),
])
def test_bad_lists_are_one_line_errors(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(SequenceError, match=message) as e:
        load_sequence_list(path)
    assert str(path) in str(e.value) and "\n" not in str(e.value)


def test_cli_as_a_program_on_the_ctc_list(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "gfvc.io.seqcheck", str(tmp_path)], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 1
    out = proc.stdout.strip().splitlines()
    assert len(out) == 31 and out[0].startswith("gfvc-seqcheck: VOXCELEB_001: missing")
    assert out[-1].endswith("0 of 30 sequences OK in " + str(tmp_path) + "; 30 missing or wrong")
    assert proc.stderr == ""


def test_builtin_folder_passes(builtin_dir):
    assert check_folder(builtin_dir, builtin_list()) == []
    assert main(["--builtin"]) == 0


def test_a_folder_or_fifo_under_a_sequence_name_is_reported_as_such(tmp_path):
    import os

    folder = tmp_path / "seqs"
    folder.mkdir()
    lst = tmp_path / "list.yaml"
    lst.write_text("sequences:\n"
                   "  - {name: ALPHA_001, file: ALPHA_001_16x8_25_8bit_444.rgb, frames: 2}\n"
                   "  - {name: BETA_001, file: BETA_001_16x8_25_8bit_444.rgb, frames: 2}\n")
    (folder / "ALPHA_001_16x8_25_8bit_444.rgb").mkdir()
    os.mkfifo(folder / "BETA_001_16x8_25_8bit_444.rgb")
    problems = {p.sequence: p for p in check_folder(folder, lst)}
    assert problems["ALPHA_001"].kind == "unreadable"
    assert "is a directory, not a regular file" in problems["ALPHA_001"].detail
    assert problems["BETA_001"].kind == "unreadable"
    assert "is a FIFO (named pipe), not a regular file" in problems["BETA_001"].detail
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("x")
    with pytest.raises(SequenceError, match="file: not a folder"):
        check_folder(not_a_folder, lst)
