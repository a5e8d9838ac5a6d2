"""Robustness: mutated and truncated streams through NAL splitting, SEI parsing and gfvc-seidump.

A seeded mutation loop (bit flips, byte overwrites, insertions, deletions, truncation,
0xFF runs, spliced start codes) over a stream holding GFV, GFVE, every project payload and
an unknown payload type. Every outcome must be a clean parse or the project's
BitstreamError with a byte offset inside the stream; gfvc-seidump's main (called in-process)
must return 0 or 1. Any other exception or a slow iteration fails the test. The 100,000-stream
run is marked slow; CI runs 10,000. Figures: doc/benchmarks.md ("Bitstream").
"""
from __future__ import annotations

import contextlib
import io
import random
import shutil
import tempfile
import time
from pathlib import Path

import pytest

from gfvc.bitstream import (BitstreamError, GeneratedPictureReferences, GfveMessage, GfvMatrixSet,
                            GfvMessage, ModelIdentity, PictureHash, RawSeiPayload,
                            ReferenceSelection, Residual, ResidualLatent, SeiContext, annexb,
                            build_sei_nal, make_nal_unit, parse_sei_nal, split_nal_units)
from gfvc.bitstream import seidump


def seed_stream() -> bytes:
    ctx = SeiContext()
    nals = [make_nal_unit("hevc", 32, b"\x0c\x01\xff\xff"), make_nal_unit("hevc", 33, b"\x01\x01")]
    for i in range(2):
        base = i == 0
        gfv = GfvMessage(gfv_cnt=i, gfv_base_picture_flag=base, gfv_coordinate_present_flag=True,
                         gfv_kps_pred_flag=not base, gfv_coordinate_precision_factor_minus1=4,
                         gfv_coordinate_x=[0.5, -1.25 + i], gfv_coordinate_y=[2.0, 0.0],
                         gfv_matrix_present_flag=True, gfv_matrix_pred_flag=not base,
                         gfv_matrix_element_precision_factor_minus1=3,
                         gfv_matrix_sets=[GfvMatrixSet(0, [[[1.0, 0.5], [-0.25, 1.0 + i]]] * 2,
                                                       gfv_num_matrices_equal_to_num_kps_flag=True),
                                          GfvMatrixSet(9, [[[0.1 * i]]])],
                         gfv_nn_present_flag=base, gfv_nn_mode_idc=1, gfv_nn_tag_uri="tag",
                         gfv_nn_uri="urn:x")
        if not base:
            gfv.gfv_nn_mode_idc, gfv.gfv_nn_tag_uri, gfv.gfv_nn_uri = 0, "", ""
        gfve = GfveMessage(gefv_gfv_cnt=i, gefv_base_picture_flag=base, gefv_matrix_present_flag=True,
                           gefv_matrices=[[[0.5, 1.5]]], gefv_pupil_left_eye=(0.25, 0.5))
        project = [ReferenceSelection(0, i, [0] if i else [], [GeneratedPictureReferences(i, 4, [i], [0.5])]),
                   Residual(0, i, 2, 1, [ResidualLatent((2, 2), b"\x00\x00\x01\x02")]),
                   ModelIdentity("fomm", b"12345678", b"abcdefgh", 0),
                   PictureHash(i, 0, 0, bytes(16)), RawSeiPayload(180, b"\x00\x00\x00")]
        nals.append(make_nal_unit("hevc", 19 if base else 1, b"\x80\x55\x66"))
        nals.append(build_sei_nal([gfv, gfve], "hevc", "suffix", context=ctx))
        nals.append(build_sei_nal(project, "hevc", "prefix", context=ctx))
    return annexb(nals)


def mutate(data: bytes, rng: random.Random) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(8)
        pos = rng.randrange(len(buf)) if buf else 0
        if op == 0 and buf:
            buf[pos] ^= 1 << rng.randrange(8)
        elif op == 1 and buf:
            buf[pos] = rng.randrange(256)
        elif op == 2:
            buf[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 4)))
        elif op == 3 and buf:
            del buf[pos:pos + rng.randint(1, 8)]
        elif op == 4:
            del buf[pos:]                                   # truncation
        elif op == 5:
            buf[pos:pos] = b"\xff" * rng.randint(1, 300)    # payloadType/Size 0xFF runs
        elif op == 6:
            buf[pos:pos] = b"\x00\x00\x01"                  # a start code in the middle
        else:
            buf[pos:pos + 1] = b"\x00"
    return bytes(buf)


def check_api(data: bytes, index: int) -> str:
    """NAL splitting and SEI parsing through the API: 'ok' or 'error' (BitstreamError)."""
    try:
        nals = split_nal_units(data, "hevc")
        context = SeiContext()
        for nal in nals:
            if nal.is_sei:
                parse_sei_nal(nal, context, trace=index % 4 == 0)
    except BitstreamError as exc:
        assert exc.offset is not None and 0 <= exc.offset <= len(data), exc
        assert f"at byte offset {exc.offset}" in str(exc)
        return "error"
    return "ok"


def check_seidump(data: bytes, path, index: int) -> str:
    """gfvc-seidump's main in-process (text or JSON): 'ok' (exit 0) or 'error' (exit 1)."""
    path.write_bytes(data)
    sink = io.StringIO()
    with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        argv = [str(path), "--codec", "hevc"] + (["--json"] if index % 4 == 1 else [])
        rc = seidump.main(argv)
    assert rc in (0, 1), sink.getvalue()[-500:]
    if rc:
        assert "error" in sink.getvalue() and "byte offset" in sink.getvalue()
    return "error" if rc else "ok"


def check_one(data: bytes, path, index: int) -> str:
    """Even iterations through the API, odd ones through gfvc-seidump."""
    return check_api(data, index) if index % 2 == 0 else check_seidump(data, path, index)


def run_fuzz(count: int, tmp_path, seed: int = 20261122) -> dict:
    rng = random.Random(seed)
    base = seed_stream()
    shm = Path("/dev/shm")
    folder = Path(tempfile.mkdtemp(dir=shm)) if shm.is_dir() else tmp_path   # keep disk I/O out
    path = folder / "fuzz.265"
    outcomes = {"ok": 0, "error": 0}
    slowest = 0.0
    start, start_cpu = time.perf_counter(), time.process_time()
    for i in range(count):
        data = mutate(base, rng)
        t0 = time.perf_counter()
        try:
            outcomes[check_one(data, path, i)] += 1
        except Exception as exc:  # anything but our own error is a bug: report how to replay
            raise AssertionError(f"iteration {i} (seed {seed}): {type(exc).__name__}: {exc}; "
                                 f"stream {data.hex()}") from exc
        slowest = max(slowest, time.perf_counter() - t0)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - start_cpu
    if folder != tmp_path:
        shutil.rmtree(folder)
    assert slowest < 2.0, f"an iteration took {slowest:.2f} s (hang?)"
    print(f"\nfuzz: {count} streams in {elapsed:.1f} s wall, {cpu:.1f} s cpu "
          f"({elapsed / count * 1e3:.2f} ms each, "
          f"slowest {slowest * 1e3:.1f} ms): {outcomes['ok']} parsed, "
          f"{outcomes['error']} BitstreamError")
    return outcomes


def test_seed_stream_is_clean(tmp_path):
    assert check_api(seed_stream(), 0) == "ok"
    assert check_seidump(seed_stream(), tmp_path / "seed.265", 1) == "ok"


def test_fuzz_10k(tmp_path):
    outcomes = run_fuzz(10_000, tmp_path)
    assert outcomes["ok"] > 100 and outcomes["error"] > 1000   # both paths really exercised


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_fuzz_100k(tmp_path):
    outcomes = run_fuzz(100_000, tmp_path, seed=7)
    assert outcomes["ok"] + outcomes["error"] == 100_000
