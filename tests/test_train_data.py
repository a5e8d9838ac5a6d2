"""gfvc.train.data: random frame access, the sample draws, the per-process epoch shares, the
folder layouts."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from gfvc.train.data import (DataError, EpochSampler, RgbClip, TrainingSamples, discover_clips,
                             multi_reference_sampler, pair_sampler, sequence_sampler)
from train_helpers import SIZE, clip_frames, write_clips


def test_rgb_clip_reads_only_the_asked_frames(tmp_path):
    write_clips(tmp_path, count=1, num_frames=12)
    clip = RgbClip(next(tmp_path.glob("*.rgb")))
    assert (clip.name, clip.num_frames, clip.width, clip.height) == ("CLIP0", 12, SIZE, SIZE)
    assert np.array_equal(clip.read([7, 2]), clip_frames(0)[[7, 2]])


def test_samplers():
    rng = np.random.default_rng(0)
    for _ in range(50):
        ref, tgt = pair_sampler(12, rng)
        assert 0 <= ref < 6 <= tgt < 12
        multi = multi_reference_sampler(3)(12, rng)
        assert len(set(multi)) == 4
        seq = sequence_sampler(3)(12, rng)
        assert seq[0] < 6 <= seq[1] and seq[1:] == list(range(seq[1], seq[1] + 3)) and seq[-1] < 12
    with pytest.raises(DataError, match="cannot give 3 references"):
        multi_reference_sampler(3)(3, rng)


def test_samples_depend_only_on_seed_epoch_and_index(tmp_path):
    clips = discover_clips([str(write_clips(tmp_path))], tmp_path / "cache")
    data = TrainingSamples(clips, multi_reference_sampler(2), (32, 32), num_repeats=2, seed=3)
    a, b = data[(1, 5)], data[(1, 5)]
    assert torch.equal(a["frames"], b["frames"]) and a["frames"].shape == (3, 3, 32, 32)
    assert not torch.equal(data[(2, 5)]["indices"], a["indices"])


def test_epoch_shares_are_disjoint_and_cover_the_epoch():
    shares = [EpochSampler(10, rank, 2, seed=1) for rank in range(2)]
    for s in shares:
        s.set_epoch(4)
    keys = [list(s) for s in shares]
    assert set(i for _, i in keys[0]).isdisjoint(i for _, i in keys[1])
    assert sorted(i for k in keys for _, i in k) == list(range(10))
    shares[0].set_epoch(4, skip=2)
    assert list(shares[0]) == keys[0][2:]


def test_voxceleb_layout_with_frame_folders_and_a_list(tmp_path):
    from PIL import Image

    for split, names in (("train", ["id1_a", "id1_b"]), ("test", ["id2_a"])):
        for i, name in enumerate(names):
            folder = tmp_path / split / name
            folder.mkdir(parents=True)
            for t, frame in enumerate(clip_frames(i, 3)):
                Image.fromarray(frame.transpose(1, 2, 0)).save(folder / f"{t:04d}.png")
    clips = discover_clips([str(tmp_path)], tmp_path / "cache")
    assert [c.name for c in clips] == ["id1_a", "id1_b"]
    assert np.array_equal(clips[1].read([2]), clip_frames(1, 3)[[2]])
    assert [c.name for c in discover_clips([str(tmp_path)], tmp_path / "c", split="test")] == ["id2_a"]
    listing = tmp_path / "list.txt"
    listing.write_text("# chosen\nid1_b\n")
    assert [c.name for c in discover_clips([str(tmp_path)], tmp_path / "c", list_file=str(listing))] == ["id1_b"]
    listing.write_text("id9\n")
    with pytest.raises(DataError, match="not found"):
        discover_clips([str(tmp_path)], tmp_path / "c", list_file=str(listing))


def test_video_files_are_decoded_once_into_a_cache(tmp_path):
    av = pytest.importorskip("av")
    folder = tmp_path / "train"
    folder.mkdir(parents=True)
    with av.open(str(folder / "clip.mp4"), "w") as container:
        stream = container.add_stream("mpeg4", rate=25)
        stream.width = stream.height = SIZE
        stream.pix_fmt = "yuv420p"
        for frame in clip_frames(0, 5):
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame.transpose(1, 2, 0).copy(), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    clips = discover_clips([str(tmp_path)], tmp_path / "cache")
    assert clips[0].name == "clip" and clips[0].num_frames == 5 and clips[0].path.parent == tmp_path / "cache"
    again = discover_clips([str(tmp_path)], tmp_path / "cache")
    assert again[0].path == clips[0].path and np.array_equal(again[0].read([4]), clips[0].read([4]))


def test_builtin_means_the_training_clips_never_the_test_clips(monkeypatch, tmp_path):
    import gfvc.io.builtin as builtin

    test_clip = tmp_path / "out"
    write_clips(test_clip, count=1)
    monkeypatch.setattr(builtin, "default_out", lambda: test_clip)
    with pytest.raises(DataError, match="gfvc-build-sequences --training"):
        discover_clips(["builtin"], tmp_path / "cache")


def test_bad_sources_are_one_line_errors(tmp_path):
    with pytest.raises(DataError, match="no such file or folder"):
        discover_clips([str(tmp_path / "missing")], tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no clip"):
        discover_clips([str(tmp_path / "empty")], tmp_path)


def test_augmentation_flips_and_jitters_every_picture_of_a_sample_alike(tmp_path):
    from gfvc.train.data import Augmentation

    clips = discover_clips([str(write_clips(tmp_path))], tmp_path / "cache")
    plain = TrainingSamples(clips, pair_sampler, (SIZE, SIZE), num_repeats=4, seed=3)
    flip_only = TrainingSamples(clips, pair_sampler, (SIZE, SIZE), num_repeats=4, seed=3,
                                augmentation=Augmentation.from_params({"flip_param": {"horizontal_flip": True}}))
    flipped = 0
    for i in range(8):
        a, b = plain[(0, i)], flip_only[(0, i)]
        assert torch.equal(a["indices"], b["indices"])          # the same frames are drawn
        if torch.equal(b["frames"], a["frames"].flip(-1)):
            flipped += 1
        else:
            assert torch.equal(b["frames"], a["frames"])
    assert 0 < flipped < 8                                       # about half of the samples
    jitter = Augmentation.from_params({"jitter_param": {"brightness": 0.3, "contrast": 0.3,
                                                        "saturation": 0.3, "hue": 0.2}})
    x = plain[(0, 1)]["frames"]
    draw = jitter.draw(np.random.default_rng(1))
    y = Augmentation.apply(x.clone(), draw)
    assert y.shape == x.shape and 0 <= float(y.min()) and float(y.max()) <= 1
    assert float((y - x).abs().mean()) > 1e-3
    identity = {"flip": False, "brightness": 1.0, "contrast": 1.0, "saturation": 1.0, "hue": 0.0}
    assert torch.allclose(Augmentation.apply(x.clone(), identity), x, atol=1e-6)
    for bad in ({"flip_param": {"time_flip": True}}, {"jitter_param": {"hue": 2}}, {"colour": 1}):
        with pytest.raises(DataError, match="augmentation_params"):
            Augmentation.from_params(bad)
