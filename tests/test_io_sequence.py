"""Raw sequence files, JVET names, container video decoding: identities and clear errors."""
from __future__ import annotations

import re
from fractions import Fraction

import numpy as np
import pytest

from gfvc.io import (
    SequenceError, Yuv420, parse_jvet_name, read_rgb, read_sequence, read_yuv420, rgb_to_yuv420, write_rgb,
    write_yuv420,
)
from gfvc.io.video import iter_yuv420_frames, read_video


def _frames(n=3, h=16, w=24, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, h, w, 3), dtype=np.uint8)


def test_rgb_write_read_identity_and_planar_layout(tmp_path):
    frames = _frames()
    path = tmp_path / "CLIP_24x16_25_8bit_444.rgb"
    write_rgb(path, frames)
    raw = path.read_bytes()
    assert len(raw) == 3 * 3 * 16 * 24
    # Frame 0: the whole R plane first, then G, then B.
    assert raw[:16 * 24] == frames[0, :, :, 0].tobytes()
    assert raw[16 * 24:2 * 16 * 24] == frames[0, :, :, 1].tobytes()
    assert np.array_equal(read_rgb(path, 24, 16), frames)
    assert np.array_equal(read_sequence(path), frames)
    assert np.array_equal(read_sequence(path, num_frames=1, start=2), frames[2:3])


def test_yuv420_write_read_identity(tmp_path):
    y, u, v = rgb_to_yuv420(_frames(n=4, seed=1))
    yuv = Yuv420(y, u, v)
    path = tmp_path / "CLIP_24x16_25_8bit_420.yuv"
    write_yuv420(path, yuv)
    assert path.stat().st_size == 4 * (24 * 16 * 3 // 2)
    back = read_yuv420(path, 24, 16)
    assert all(np.array_equal(a, b) for a, b in ((back.y, y), (back.u, u), (back.v, v)))
    assert back.frame_bytes(1) == y[1].tobytes() + u[1].tobytes() + v[1].tobytes()


def test_parse_jvet_name():
    seq = parse_jvet_name("/data/VOXCELEB_001_256x256_25_8bit_444.rgb")
    assert (seq.name, seq.width, seq.height, seq.fps, seq.bit_depth, seq.chroma_format, seq.ext) == \
        ("VOXCELEB_001", 256, 256, 25.0, 8, "444", "rgb")
    assert seq.filename() == "VOXCELEB_001_256x256_25_8bit_444.rgb"
    assert seq.frame_bytes == 3 * 256 * 256
    for bad in ("clip.rgb", "A_256x256_25_8bit_422.rgb", "A_256x256_25_10bit_444.rgb", "A_256x256_25_8bit_420.rgb"):
        with pytest.raises(SequenceError, match=bad.split(".")[0]):
            parse_jvet_name(bad)


def test_truncated_rgb_names_file_and_sizes(tmp_path):
    path = tmp_path / "CLIP_24x16_25_8bit_444.rgb"
    write_rgb(path, _frames(n=2))
    with open(path, "ab") as f:
        f.write(b"\0" * 100)
    with pytest.raises(SequenceError) as e:
        read_sequence(path)
    msg = str(e.value)
    assert str(path) in msg and "2 whole frames + 100 bytes" in msg and "\n" not in msg


def test_wrong_size_in_name_is_an_error(tmp_path):
    # 3 frames of 24x16 named as 48x32: 3456 bytes is not a whole number of 4608-byte frames.
    path = tmp_path / "CLIP_48x32_25_8bit_444.rgb"
    write_rgb(path, _frames(n=3))
    with pytest.raises(SequenceError, match=r"CLIP_48x32.*not a whole number of 48x32"):
        read_sequence(path)
    good = tmp_path / "CLIP_24x16_25_8bit_444.rgb"
    write_rgb(good, _frames(n=3))
    with pytest.raises(SequenceError, match="expected width 256, the file name says 24"):
        read_sequence(good, width=256)


def test_asking_for_missing_frames_is_an_error(tmp_path):
    path = tmp_path / "CLIP_24x16_25_8bit_444.rgb"
    write_rgb(path, _frames(n=3))
    with pytest.raises(SequenceError, match="asked for frames 2..4 but the file holds 3 frames"):
        read_sequence(path, num_frames=3, start=2)


def _encode_avi(path, frames, fps=25):
    import av

    with av.open(str(path), "w") as out:
        s = out.add_stream("mpeg4", rate=fps)
        s.width, s.height, s.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        s.options = {"qscale": "2"}
        for f in frames:
            for pkt in s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                out.mux(pkt)
        for pkt in s.encode():
            out.mux(pkt)


def test_container_video_decodes_in_order(tmp_path):
    # A smooth moving gradient, so that coding loss is small and frame order is visible.
    yy, xx = np.mgrid[0:48, 0:64]
    frames = np.stack([np.stack([(xx * 4 + 10 * i) % 256, yy * 5, np.full_like(xx, 60 + 20 * i)], -1)
                       for i in range(6)]).astype(np.uint8)
    path = tmp_path / "clip.avi"
    _encode_avi(path, frames)
    video = read_video(path)
    assert video.frames.shape == (6, 48, 64, 3) and video.fps == Fraction(25) and video.codec == "mpeg4"
    planes = list(iter_yuv420_frames(path))
    assert len(planes) == 6
    info, y, u, v = planes[0]
    assert (info.width, info.height, y.shape, u.shape) == (64, 48, (48, 64), (24, 32))
    # Blue rises 20 per frame: the decoded frames come out in display order.
    blue = video.frames[..., 2].mean(axis=(1, 2))
    assert np.all(np.diff(blue) > 15)


@pytest.mark.parametrize("content", [b"", b"not a video at all" * 100])
def test_unreadable_video_is_a_one_line_error(tmp_path, content):
    path = tmp_path / "broken.mp4"
    path.write_bytes(content)
    for decode in (read_video, lambda p: list(iter_yuv420_frames(p))):
        with pytest.raises(SequenceError) as e:
            decode(path)
        assert str(path) in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(SequenceError, match="no such file"):
        read_video(tmp_path / "absent.mp4")


# --- what a path really is: a folder, a FIFO or a device is named, never "empty" or "4096 bytes" ---

def _special(tmp_path, kind: str):
    import os

    if kind == "directory":
        path = tmp_path / "CLIP_24x16_25_8bit_444.rgb"
        path.mkdir()
        return path, "is a directory, not a regular file"
    if kind == "fifo":
        path = tmp_path / "CLIP_24x16_25_8bit_444.rgb"
        os.mkfifo(path)
        return path, "is a FIFO (named pipe), not a regular file"
    if kind == "device":
        return "/dev/zero", "is a character device, not a regular file"
    return tmp_path / "CLIP_24x16_25_8bit_444.rgb", "no such file"


@pytest.mark.parametrize("kind", ["directory", "fifo", "device", "missing"])
def test_readers_name_what_the_path_is(tmp_path, kind):
    """A FIFO would block a reader forever and /dev/zero never ends: both are refused before any read."""
    from gfvc.io import count_frames
    from gfvc.io.errors import SequenceFileError

    path, message = _special(tmp_path, kind)
    calls = [lambda: read_rgb(path, 24, 16), lambda: read_yuv420(path, 24, 16),
             lambda: count_frames(path, 24, 16, "444"), lambda: read_video(path),
             lambda: list(iter_yuv420_frames(path))]
    if kind != "device":
        calls.append(lambda: read_sequence(path))
    for call in calls:
        with pytest.raises(SequenceFileError, match=re.escape(message)) as e:
            call()
        assert str(path) in str(e.value) and "\n" not in str(e.value)
        assert isinstance(e.value, OSError) and isinstance(e.value, SequenceError)


@pytest.mark.parametrize("width,height,start,num_frames,message", [
    (-24, 16, 0, None, "width must be a positive integer, got -24"),
    (24, 0, 0, None, "height must be a positive integer, got 0"),
    (24, 16, -1, None, "start frame -1 is negative"),
    (24, 16, 0, -2, "asked for -2 frames"),
    (24, 16, 0, 0, "asked for 0 frames"),
])
def test_negative_sizes_and_counts_are_one_line_errors(tmp_path, width, height, start, num_frames, message):
    path = tmp_path / "CLIP_24x16_25_8bit_444.rgb"
    write_rgb(path, _frames(n=3))
    for read in (read_rgb, read_yuv420):
        with pytest.raises(SequenceError, match=message) as e:
            read(path, width, height, num_frames, start)
        assert str(path) in str(e.value) and "\n" not in str(e.value)
