"""Real decoders accept streams with our SEI: x265 (HEVC) and vvenc (VVC) streams from the pinned
static ffmpeg, with GFV/GFVE and project SEIs inserted as prefix and as suffix SEI, decode to
the same pictures as without SEI in the static ffmpeg, PyAV and (HEVC) dec265, and ffmpeg's
trace_headers shows the messages as SEI."""
from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
from pathlib import Path

import av
import imageio_ffmpeg
import pytest

from gfvc.bitstream import (GeneratedPictureReferences, GfveMessage, GfvMatrixSet, GfvMessage,
                            ModelIdentity, PictureHash, ReferenceSelection, Residual,
                            ResidualLatent, SeiContext, find_pictures, insert_sei, read_sei_messages,
                            split_nal_units)

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()
FRAMES = 8
SOURCE = ["-f", "lavfi", "-i", f"testsrc=size=64x64:rate=25", "-frames:v", str(FRAMES)]
ENCODE = {
    "hevc": ["-pix_fmt", "yuv420p", "-c:v", "libx265", "-x265-params", "info=0:log-level=error",
             "-f", "hevc"],
    "vvc": ["-pix_fmt", "yuv420p10le", "-c:v", "libvvenc", "-qpa", "0", "-f", "vvc"],
}


def dec265_binary() -> str:
    for name in ("dec265", "libde265-dec265"):     # Debian installs it as libde265-dec265
        found = shutil.which(name) or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists() else None)
        if found:
            return found
    pytest.fail("dec265 not found: tools/setup.sh installs Debian's libde265-examples")


def run(cmd) -> subprocess.CompletedProcess:
    result = subprocess.run(cmd, capture_output=True)
    assert result.returncode == 0, result.stderr.decode(errors="replace")[-2000:]
    return result


def messages_for(index: int):
    """GFV + GFVE + all four project payloads; picture 0 is the base of the GFV chain."""
    base = index == 0
    gfv = GfvMessage(gfv_id=0, gfv_cnt=index, gfv_base_picture_flag=base,
                     gfv_coordinate_present_flag=True, gfv_kps_pred_flag=not base,
                     gfv_coordinate_precision_factor_minus1=5,
                     gfv_coordinate_x=[0.1 * index, -0.2, 0.3], gfv_coordinate_y=[0.0, 0.5, -0.5],
                     gfv_matrix_present_flag=True, gfv_matrix_pred_flag=not base,
                     gfv_matrix_element_precision_factor_minus1=5,
                     gfv_matrix_sets=[GfvMatrixSet(0, [[[1.0, 0.01 * index], [0.0, 1.0]]] * 3,
                                                   gfv_num_matrices_equal_to_num_kps_flag=True)])
    gfve = GfveMessage(gefv_id=0, gefv_gfv_cnt=index, gefv_base_picture_flag=base,
                       gefv_pupil_coordinate_precision_factor_minus1=6,
                       gefv_pupil_left_eye=(0.3, 0.4), gefv_pupil_right_eye=(0.7, 0.4 + index / 64))
    project = [ReferenceSelection(0, index if base else None, [],
                                  [GeneratedPictureReferences(index, 8, [0], [1.0])]),
               Residual(0, index, 1, 3, [ResidualLatent((1, 4, 4), bytes(range(index, index + 12)))]),
               PictureHash(index, 0, 0, hashlib.md5(bytes([index])).digest())]
    if base:
        project.insert(0, ModelIdentity("fomm", b"\x00" * 8, b"\xff" * 8, 0))
    return [gfv, gfve] + project


@pytest.fixture(scope="module")
def streams(tmp_path_factory):
    folder = tmp_path_factory.mktemp("decoders")
    out = {}
    for codec, args in ENCODE.items():
        path = folder / f"plain.{codec}"
        run([FFMPEG, "-hide_banner", "-loglevel", "error", "-y", *SOURCE, *args, str(path)])
        plain = path.read_bytes()
        variants = {"plain": plain}
        # GFV/GFVE are suffix-only (HM): the prefix variant carries the project payloads
        variants["prefix"] = insert_sei(plain, codec, lambda i: messages_for(i)[2:], "prefix")
        variants["suffix"] = insert_sei(plain, codec, messages_for, "suffix", SeiContext())
        # both at once: GFV chain in suffix SEI, project payloads in prefix SEI
        both = insert_sei(plain, codec, lambda i: messages_for(i)[2:], "prefix")
        variants["both"] = insert_sei(both, codec, lambda i: messages_for(i)[:2], "suffix")
        files = {}
        for name, data in variants.items():
            files[name] = folder / f"{name}.{codec}"
            files[name].write_bytes(data)
        out[codec] = files
    return out


def ffmpeg_md5(path: Path, codec: str) -> str:
    result = run([FFMPEG, "-hide_banner", "-loglevel", "error", "-f", codec, "-i", str(path),
                  "-f", "rawvideo", "-"])
    assert len(result.stdout) > 0
    return hashlib.md5(result.stdout).hexdigest()


def pyav_md5(path: Path, codec: str) -> str:
    h = hashlib.md5()
    count = 0
    with av.open(str(path), format=codec) as container:
        for frame in container.decode(video=0):
            h.update(frame.to_ndarray().tobytes())
            count += 1
    assert count == FRAMES
    return h.hexdigest()


@pytest.mark.parametrize("codec", ["hevc", "vvc"])
def test_streams_with_sei_decode_identically(streams, codec):
    files = streams[codec]
    plain = split_nal_units(files["plain"].read_bytes(), codec)
    assert len(find_pictures(plain)) == FRAMES
    for decode in (ffmpeg_md5, pyav_md5):
        reference = decode(files["plain"], codec)
        for variant in ("prefix", "suffix", "both"):
            assert decode(files[variant], codec) == reference, (decode.__name__, variant)


def test_dec265_decodes_hevc_with_sei_identically(streams, tmp_path):
    dec265 = dec265_binary()
    digests = {}
    for variant, path in streams["hevc"].items():
        out = tmp_path / f"{variant}.yuv"
        run([dec265, "-q", "-o", str(out), str(path)])
        data = out.read_bytes()
        assert len(data) == FRAMES * 64 * 64 * 3 // 2
        digests[variant] = hashlib.md5(data).hexdigest()
    assert len(set(digests.values())) == 1, digests


@pytest.mark.parametrize("codec", ["hevc", "vvc"])
def test_trace_headers_shows_the_messages_as_sei(streams, codec):
    counts = {}
    for variant in ("prefix", "suffix"):
        log = run([FFMPEG, "-hide_banner", "-f", codec, "-i", str(streams[codec][variant]),
                   "-c", "copy", "-bsf:v", "trace_headers", "-f", "null", "-"]).stderr.decode()
        kind = "Prefix" if variant == "prefix" else "Suffix"
        counts[variant] = len(re.findall(rf"{kind} Supplemental Enhancement Information", log))
        types = re.findall(r"last_payload_type_byte\s+[01]+ = (\d+)", log)
        gfv = FRAMES if variant == "suffix" else 0
        assert types.count("223") == gfv and types.count("224") == gfv
        # one user_data_unregistered per project payload: 3 per picture + model identity once
        assert types.count("5") == 3 * FRAMES + 1
    assert counts == {"prefix": FRAMES, "suffix": FRAMES}


@pytest.mark.parametrize("codec", ["hevc", "vvc"])
def test_our_parser_reads_back_every_message(streams, codec):
    """SEI NAL units carry their picture's TemporalId (vvenc: up to 5) and parse back."""
    data = streams[codec]["suffix"].read_bytes()
    nals = split_nal_units(data, codec)
    pictures = find_pictures(nals)
    tids = {p.temporal_id for p in pictures}
    if codec == "vvc":
        assert max(tids) > 0        # random-access GOP: SEI must follow the picture's TemporalId
    parsed = list(read_sei_messages(data, codec))
    assert len(parsed) == FRAMES
    for pic, (nal, messages) in zip(pictures, parsed):
        assert nal.temporal_id == pic.temporal_id and nal.layer_id == pic.layer_id
        assert [m.name for m in messages][:2] == ["generative_face_video",
                                                   "generative_face_video_enhancement"]
        assert messages[0].payload.gfv_cnt == pic.index
