"""Robustness: structure-aware fuzzing of NAL splitting, SEI parsing and gfvc-seidump.

The fuzzer is ``gfvc.bitstream.fuzz`` (``python -m gfvc.bitstream.fuzz``): it mutates syntax
elements of valid GFV/GFVE/project messages (counts, sizes, huge ue(v), overlong ue(v),
deleted/duplicated/inserted elements, truncation, payloadSize/payloadType, emulation
prevention, prefix/suffix) and, for one case in eight, bytes of the whole stream. Every
outcome must be a clean parse or the project's BitstreamError with a byte offset inside the
stream. CI runs 10,000 cases in a child process whose address space is limited to its size
+ 200 MB (so any case allocating more fails with MemoryError, a crash), with the tracemalloc
peak measured on every 16th case; the 100,000-case run is marked slow. No assertion depends
on time. Figures: doc/benchmarks.md ("Bitstream").
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import gfvc
from gfvc.bitstream import SeiContext, parse_sei_nal, split_nal_units
from gfvc.bitstream import fuzz
from gfvc.bitstream.seidump import main as seidump_main

MEMORY_LIMIT_MB = 200
FAMILIES = {"value", "overlong", "delete", "duplicate", "insert", "flip", "truncate", "size",
            "type", "tail", "order", "copy", "epb", "noescape", "position", "drop-nal", "bytes"}


def run_fuzz_child(tmp_path: Path, cases: int, seed: int, memory_every: int) -> dict:
    """The fuzzer in a child process under an address-space limit; its JSON report."""
    report = tmp_path / "report.json"
    env = dict(os.environ, PYTHONPATH=str(Path(gfvc.__file__).resolve().parents[1]),
               OMP_NUM_THREADS="1")
    result = subprocess.run([sys.executable, "-m", "gfvc.bitstream.fuzz", "--cases", str(cases),
                             "--seed", str(seed), "--memory-every", str(memory_every),
                             "--address-space-mb", str(MEMORY_LIMIT_MB), "--json", str(report)],
                            capture_output=True, text=True, env=env)
    print(result.stdout)
    data = json.loads(report.read_text())
    assert not data["crashes"], "\n".join(c[:3000] for c in data["crashes"][:3])
    assert result.returncode == 0, result.stderr[-2000:]
    return data


def check_report(data: dict, cases: int) -> None:
    assert data["cases"] == cases
    assert data["outcomes"]["crash"] == 0
    assert data["outcomes"]["ok"] > cases // 20 and data["outcomes"]["error"] > cases // 3
    assert set(data["ops"]) == FAMILIES                      # every mutation family ran
    assert set(data["modes"]) == set(fuzz.MODES)             # API, traced API, dumps, main
    assert data["memory_cases"] > 0 and data["max_peak_bytes"] < MEMORY_LIMIT_MB << 20


def test_seed_stream_is_clean(tmp_path):
    data = fuzz.seed_stream()
    context = SeiContext()
    names = []
    for nal in split_nal_units(data, fuzz.CODEC):
        if nal.is_sei:
            messages = parse_sei_nal(nal, context, trace=True)
            assert all(not m.warnings and not m.extension_bits for m in messages)
            names += [m.name for m in messages]
    for name in ("generative_face_video", "generative_face_video_enhancement", "gfvc_model_identity",
                 "gfvc_reference_selection", "gfvc_residual", "gfvc_picture_hash", "gfvc_prediction_modes",
                 "reserved_message", "user_data_unregistered"):
        assert name in names
    path = tmp_path / "seed.265"
    path.write_bytes(data)
    assert seidump_main([str(path), "--codec", "hevc"]) == 0


def test_cases_are_deterministic():
    units = fuzz.seed_units()
    for index in (0, 1, 7, 31, 999):
        a, b = fuzz.make_case(index, 5, units), fuzz.make_case(index, 5)
        assert (a.data, a.ops, a.mode) == (b.data, b.ops, b.mode)
    assert fuzz.make_case(1, 5).data != fuzz.make_case(1, 6).data


def test_element_encodings_read_back():
    from gfvc.bitstream import SyntaxReader
    from gfvc.bitstream.syntax import UE_MAX
    for value in (0, 1, 2, 254, 255, 1 << 20, UE_MAX):
        bits = fuzz.ue_bits(value) + "1"
        bits += "0" * (-len(bits) % 8)
        assert SyntaxReader(int(bits, 2).to_bytes(len(bits) // 8, "big")).ue("x") == value
    for value in (0, 1, -1, 1000, -(1 << 31) + 1):
        bits = fuzz.se_bits(value) + "1"
        bits += "0" * (-len(bits) % 8)
        assert SyntaxReader(int(bits, 2).to_bytes(len(bits) // 8, "big")).se("x") == value


def test_fuzz_10k(tmp_path):
    data = run_fuzz_child(tmp_path, 10_000, fuzz.DEFAULT_SEED, memory_every=16)
    check_report(data, 10_000)


@pytest.mark.slow
@pytest.mark.timeout(7200)
def test_fuzz_100k(tmp_path):
    data = run_fuzz_child(tmp_path, 100_000, 7, memory_every=1)
    check_report(data, 100_000)
