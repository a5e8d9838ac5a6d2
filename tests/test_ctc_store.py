"""The cell store: a record is trusted only when whole and backed by its bitstream; temporary
files of killed writes are swept; one process per run folder."""
from __future__ import annotations

import hashlib
import json
import os

import pytest

from gfvc.ctc.cell import RECORD_FORMAT, CellOutcome, CellTask
from gfvc.ctc.digest import canonical_json, digest_of
from gfvc.ctc.errors import RunLockedError
from gfvc.ctc.store import RunStore


def _task(digest: str = "ab" * 32) -> CellTask:
    return CellTask(digest=digest, identity={"x": 1}, sequence="S", dataset_class="A", path="/none", frames=2,
                    fps=25.0, width=8, height=8, input_sha256="0" * 64, codec_name="c", codec_label="c",
                    codec_options={}, codec_settings_digest="1" * 64, rate_point=30, metrics=(), keep_decoded=False)


def _outcome(task: CellTask, bitstream: bytes = b"\x00\x00\x01stream") -> CellOutcome:
    rec = {"format": RECORD_FORMAT, "digest": task.digest, "bytes": len(bitstream),
           "bitstream_sha256": hashlib.sha256(bitstream).hexdigest(), "metrics": {}, "computed": {"id": "x"},
           "frames": 2, "fps": 25.0, "kbps": 1.0}
    return CellOutcome(digest=task.digest, ok=True, record=rec, bitstream=bitstream, log="log\n")


def test_commit_then_load_and_every_kind_of_damage_is_rejected(tmp_path):
    store = RunStore(tmp_path / "run")
    store.open()
    try:
        t = _task()
        assert store.load_record(t.digest) is None
        rec = store.commit(t, _outcome(t), None)
        assert store.load_record(t.digest) == json.loads(store.record_path(t.digest).read_bytes()) == rec
        assert store.log_path(t.digest).read_text() == "log\n"

        good = store.bitstream_path(t.digest).read_bytes()
        store.bitstream_path(t.digest).write_bytes(good[:-1] + b"X")  # same size, other content
        assert store.load_record(t.digest) is None
        store.bitstream_path(t.digest).unlink()  # the bitstream deleted by hand
        assert store.load_record(t.digest) is None
        store.bitstream_path(t.digest).write_bytes(good)
        assert store.load_record(t.digest) is not None
        text = store.record_path(t.digest).read_bytes()
        store.record_path(t.digest).write_bytes(text[: len(text) // 2])  # a torn record
        assert store.load_record(t.digest) is None
        other = json.loads(text)
        other["digest"] = "cd" * 32  # a record copied under another name
        store.record_path(t.digest).write_bytes(json.dumps(other).encode())
        assert store.load_record(t.digest) is None
    finally:
        store.close()


def test_a_failure_record_is_replaced_by_success(tmp_path):
    store = RunStore(tmp_path / "run")
    store.open()
    t = _task()
    failed = CellOutcome(digest=t.digest, ok=False, record={"error": "boom"}, log="boom\n")
    assert store.commit(t, failed, None) is None
    assert store.load_failure(t.digest) == {"error": "boom"} and store.load_record(t.digest) is None
    store.commit(t, _outcome(t), None)
    assert store.load_failure(t.digest) is None and store.load_record(t.digest) is not None
    store.close()


def test_open_sweeps_partial_files_and_locks_the_folder(tmp_path):
    run = tmp_path / "run"
    (run / "cells").mkdir(parents=True)
    partial = run / "cells" / ".abc.json.k2j3.part"
    partial.write_bytes(b"{half")
    a = RunStore(run)
    a.open()
    assert not partial.exists()
    b = RunStore(run)
    with pytest.raises(RunLockedError, match="another gfvc-ctc process"):
        b.open()
    a.close()
    b.open()  # free again once the holder is gone
    b.close()


def test_digest_is_canonical_and_sensitive():
    a = {"codec": {"name": "x", "settings": {"qp_offset": 0, "preset": "medium"}}, "rate_point": 37}
    b = {"rate_point": 37, "codec": {"settings": {"preset": "medium", "qp_offset": 0}, "name": "x"}}
    assert canonical_json(a) == canonical_json(b) and digest_of(a) == digest_of(b)
    c = {"codec": {"name": "x", "settings": {"qp_offset": 0, "preset": "slow"}}, "rate_point": 37}
    assert digest_of(a) != digest_of(c)
    with pytest.raises(ValueError):
        canonical_json({"x": float("nan")})


def test_hash_cache_sees_new_content_of_the_same_size_and_mtime(tmp_path):
    from gfvc.ctc.digest import FileHashCache

    f = tmp_path / "seq.rgb"
    f.write_bytes(b"A" * 4096)
    cache_file = tmp_path / ".input_hashes.json"
    cache = FileHashCache(cache_file)
    first = cache.sha256(f)
    cache.save()
    st = os.stat(f)
    f.write_bytes(b"B" * 4096)  # other content, same size ...
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))  # ... and the old modification time
    assert os.stat(f).st_size == st.st_size and os.stat(f).st_mtime_ns == st.st_mtime_ns
    again = FileHashCache(cache_file)  # the next start, from the saved cache
    assert again.sha256(f) == hashlib.sha256(b"B" * 4096).hexdigest() != first
    assert again.sha256(f) == cache.sha256(f)  # the running process sees it too


def test_damaged_hash_cache_entries_are_hashed_again_with_a_warning(tmp_path):
    from gfvc.ctc.digest import FileHashCache

    f = tmp_path / "seq.rgb"
    f.write_bytes(b"A" * 100)
    cache_file = tmp_path / ".input_hashes.json"
    cache = FileHashCache(cache_file)
    cache.sha256(f)
    cache.save()
    entries = json.loads(cache_file.read_bytes())
    for damage in ({k: {kk: vv for kk, vv in v.items() if kk != "sha256"} for k, v in entries.items()},
                   {k: dict(v, size="100") for k, v in entries.items()}, [1, 2], "x"):
        cache_file.write_text(json.dumps(damage))
        again = FileHashCache(cache_file)
        assert again.warnings and "hashing" in again.warnings[0]
        assert again.sha256(f) == hashlib.sha256(b"A" * 100).hexdigest()
    cache_file.write_bytes(b"\xff\xfe{")
    assert FileHashCache(cache_file).sha256(f) == hashlib.sha256(b"A" * 100).hexdigest()
