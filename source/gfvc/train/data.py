"""Training data: clips with random access to their frames, and the sample datasets.

A clip is one of
* a raw ``.rgb`` sequence with a JVET name (the built-in clips, JVET sequences): memory-mapped, a
  sample reads only its frames;
* a folder of pictures (VoxCeleb-style ``train/<clip>/0001.png ...``): a sample opens only its files;
* a video file (``train/<clip>.mp4``): decoded once per run into an ``.rgb`` cache file (the
  trainer's output folder), then memory-mapped; no sample ever decodes a video.

``--data`` takes, repeatably: ``builtin`` (the built-in clips marked ``role: training`` in the
manifest, never the test clips), an ``.rgb`` file, a folder of ``.rgb`` files, or a VoxCeleb-style
root with ``train/`` and ``test/`` folders (``--split`` picks one). ``--list FILE`` keeps only the
clips named in it (one name per line, ``#`` comments).
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import FileProblem, GfvcError
from ..files import atomic_write_bytes, check_input_file, read_input_text
from ..io.errors import SequenceError
from ..io.sequence import count_frames, parse_jvet_name

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
VIDEO_SUFFIXES = (".mp4", ".mkv", ".avi", ".mov", ".webm")


class DataError(GfvcError):
    """Training data that cannot be found or read; the message names the path."""


class RgbClip:
    """A planar 8-bit RGB 4:4:4 file, memory-mapped on first read (picklable for data workers)."""

    def __init__(self, path: Path, name: str | None = None, width: int | None = None, height: int | None = None):
        self.path = Path(path)
        if width is None:
            seq = parse_jvet_name(self.path)
            if seq.ext != "rgb":
                raise DataError(f"{self.path}: training reads .rgb sequences, not .{seq.ext}")
            width, height = seq.width, seq.height
            name = name or seq.name
        self.name = name or self.path.stem
        self.width, self.height = width, height
        self.num_frames = count_frames(self.path, width, height, "444")
        self._map = None

    def read(self, indices: Sequence[int]) -> np.ndarray:
        """(K, 3, H, W) uint8."""
        if self._map is None:
            self._map = np.memmap(self.path, dtype=np.uint8, mode="r",
                                  shape=(self.num_frames, 3, self.height, self.width))
        return np.stack([np.asarray(self._map[i]) for i in indices])

    def __getstate__(self):
        return {**self.__dict__, "_map": None}


class FrameFolderClip:
    """A folder of pictures, one per frame, in name order."""

    def __init__(self, folder: Path):
        self.path = Path(folder)
        self.name = self.path.name
        self.files = sorted(p for p in self.path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not self.files:
            raise DataError(f"{self.path}: the clip folder holds no picture ({', '.join(IMAGE_SUFFIXES)})")
        self.num_frames = len(self.files)

    def read(self, indices: Sequence[int]) -> np.ndarray:
        from PIL import Image

        frames = []
        for i in indices:
            try:
                with Image.open(check_input_file(self.files[i], "picture")) as img:
                    frames.append(np.asarray(img.convert("RGB")).transpose(2, 0, 1))
            except (OSError, FileProblem) as exc:
                raise DataError(f"{self.files[i]}: cannot read the picture ({exc})") from None
        if len({f.shape for f in frames}) != 1:
            raise DataError(f"{self.path}: the pictures of the clip differ in size")
        return np.stack(frames)


def video_clip(path: Path, cache_dir: Path) -> RgbClip:
    """A video file as an RgbClip: decoded once into ``cache_dir`` (keyed by path, size and mtime)."""
    from ..io.video import read_video

    st = os.stat(check_input_file(path, "video file"))
    key = hashlib.sha256(f"{Path(path).resolve()}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()[:16]
    cached = list(cache_dir.glob(f"{key}_*.rgb")) if cache_dir.is_dir() else []
    if cached:
        w, h = (int(v) for v in cached[0].stem.split("_")[1].split("x"))
        return RgbClip(cached[0], Path(path).stem, w, h)
    video = read_video(path)
    n, h, w, _ = video.frames.shape
    target = cache_dir / f"{key}_{w}x{h}.rgb"
    cache_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(target, np.ascontiguousarray(video.frames.transpose(0, 3, 1, 2)).tobytes(), inputs=[path])
    return RgbClip(target, Path(path).stem, w, h)


def builtin_training_clips() -> list[RgbClip]:
    from ..io.builtin import default_manifest, default_out
    from ..io.seqlist import load_sequence_list

    out = default_out()
    entries = load_sequence_list(default_manifest()).select(("training",))
    present = [e for e in entries if (out / e.file).is_file()]
    if not present:
        raise DataError(f"no built-in training clip in {out} ({len(entries)} listed in the manifest): "
                        "run gfvc-build-sequences --training")
    return [RgbClip(out / e.file, e.name) for e in present]


def _folder_clips(folder: Path, cache_dir: Path) -> list:
    clips = []
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            if any(p.suffix.lower() in IMAGE_SUFFIXES for p in entry.iterdir()):
                clips.append(FrameFolderClip(entry))
        elif entry.suffix == ".rgb":
            clips.append(RgbClip(entry))
        elif entry.suffix.lower() in VIDEO_SUFFIXES:
            clips.append(video_clip(entry, cache_dir))
    return clips


def discover_clips(sources: Sequence[str], cache_dir: Path, split: str = "train",
                   list_file: str | None = None) -> list:
    """The clips of every ``--data`` source (see the module docstring), filtered by ``list_file``."""
    clips = []
    for source in sources:
        try:
            if source == "builtin":
                clips += builtin_training_clips()
                continue
            path = Path(source)
            if path.is_file():
                clips.append(video_clip(path, cache_dir) if path.suffix.lower() in VIDEO_SUFFIXES else RgbClip(path))
            elif path.is_dir():
                root = path / split if (path / "train").is_dir() or (path / "test").is_dir() else path
                if not root.is_dir():
                    raise DataError(f"{path}: has no {split}/ folder")
                found = _folder_clips(root, cache_dir)
                if not found:
                    raise DataError(f"{root}: no clip (.rgb file, picture folder or video file) in it")
                clips += found
            else:
                raise DataError(f"{source}: no such file or folder")
        except (SequenceError, FileProblem) as exc:
            raise DataError(str(exc)) from None
    if list_file is not None:
        try:
            wanted = [line.split("#")[0].strip() for line in read_input_text(list_file, "clip list").splitlines()]
        except FileProblem as exc:
            raise DataError(str(exc)) from None
        wanted = {w for w in wanted if w}
        clips = [c for c in clips if c.name in wanted]
        missing = wanted - {c.name for c in clips}
        if missing:
            raise DataError(f"{list_file}: {len(missing)} listed clip(s) not found, e.g. {sorted(missing)[0]}")
    if not clips:
        raise DataError("no training clip")
    names = [c.name for c in clips]
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})[0]
        raise DataError(f"two clips are named {dup!r}")
    return clips


# --------------------------------------------------------------------------------------------- sampling
FrameSampler = Callable[[int, np.random.Generator], list]


def pair_sampler(n: int, rng: np.random.Generator) -> list:
    """DAC: the reference from the first half of the clip, the target from the second half."""
    half = max(1, n // 2)
    return [int(rng.integers(0, half)), int(rng.integers(half, n)) if n > half else 0]


def multi_reference_sampler(num_references: int) -> FrameSampler:
    """MRDAC: R references + 1 target, distinct frames drawn uniformly without replacement, in random
    order (references before or after the target), as the public MRFramesDataset."""
    def sample(n: int, rng: np.random.Generator) -> list:
        if n < num_references + 1:
            raise DataError(f"a clip of {n} frames cannot give {num_references} references and a target")
        return [int(i) for i in rng.choice(n, size=num_references + 1, replace=False)]
    return sample


def sequence_sampler(num_targets: int) -> FrameSampler:
    """RDAC+: the reference from the first half, then ``num_targets`` consecutive targets after it."""
    def sample(n: int, rng: np.random.Generator) -> list:
        half = n // 2
        if half < 1 or n - half < num_targets:
            raise DataError(f"a clip of {n} frames cannot give a reference and {num_targets} consecutive targets")
        start = int(rng.integers(half, n - num_targets + 1))
        return [int(rng.integers(0, half))] + list(range(start, start + num_targets))
    return sample


@dataclass(frozen=True)
class Augmentation:
    """The public trainers' ``augmentation_params`` (FOMM/DAC ``dataset_params``), applied alike to
    every picture of a sample (its frames and its picture extras, e.g. HDAC's base layer):
    ``flip_param.horizontal_flip`` mirrors the sample with probability 1/2; ``jitter_param``
    scales brightness, contrast and saturation by factors drawn from [1 - v, 1 + v] and rotates
    hue by up to ``hue`` turns (a rotation of the YIQ chroma plane). ``time_flip`` is refused:
    the samplers already draw the frames' order (and RDAC+'s order carries meaning)."""

    horizontal_flip: bool = False
    brightness: float = 0.0
    contrast: float = 0.0
    saturation: float = 0.0
    hue: float = 0.0

    @classmethod
    def from_params(cls, params) -> "Augmentation | None":
        if not params:
            return None
        if not isinstance(params, dict) or set(params) - {"flip_param", "jitter_param"}:
            raise DataError("dataset_params.augmentation_params takes flip_param and jitter_param")
        flip = dict(params.get("flip_param") or {})
        jitter = dict(params.get("jitter_param") or {})
        if flip.get("time_flip"):
            raise DataError("augmentation_params.flip_param.time_flip is not supported (the samplers draw frame order)")
        if set(flip) - {"horizontal_flip", "time_flip"} or set(jitter) - {"brightness", "contrast", "saturation", "hue"}:
            raise DataError("augmentation_params: flip_param {horizontal_flip}, jitter_param "
                            "{brightness, contrast, saturation, hue}")
        values = {}
        for key in ("brightness", "contrast", "saturation", "hue"):
            v = jitter.get(key, 0.0)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= (0.5 if key == "hue" else 1):
                raise DataError(f"augmentation_params.jitter_param.{key} must be a number in "
                                f"[0, {0.5 if key == 'hue' else 1}], not {v!r}")
            values[key] = float(v)
        return cls(horizontal_flip=bool(flip.get("horizontal_flip", False)), **values)

    def draw(self, rng: np.random.Generator) -> dict:
        """This sample's flip and jitter factors (drawn in a fixed order from the sample's generator)."""
        u = rng.random(5)
        return {"flip": self.horizontal_flip and u[0] < 0.5,
                "brightness": 1.0 + self.brightness * (2 * u[1] - 1),
                "contrast": 1.0 + self.contrast * (2 * u[2] - 1),
                "saturation": 1.0 + self.saturation * (2 * u[3] - 1),
                "hue": self.hue * (2 * u[4] - 1)}

    @staticmethod
    def apply(frames: torch.Tensor, draw: dict) -> torch.Tensor:
        """(K, 3, H, W) in [0, 1] -> the same pictures flipped and jittered, clamped to [0, 1]."""
        x = frames.flip(-1) if draw["flip"] else frames
        if draw["brightness"] != 1:
            x = x * draw["brightness"]
        if draw["contrast"] != 1:
            mean = (0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]).mean(dim=(1, 2))[:, None, None, None]
            x = (x - mean) * draw["contrast"] + mean
        if draw["saturation"] != 1:
            grey = 0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3]
            x = grey + (x - grey) * draw["saturation"]
        if draw["hue"]:
            to_yiq = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
            a = 2 * np.pi * draw["hue"]
            rot = torch.tensor([[1.0, 0.0, 0.0], [0.0, np.cos(a), -np.sin(a)], [0.0, np.sin(a), np.cos(a)]],
                               dtype=torch.float32)
            m = torch.linalg.inv(to_yiq) @ rot @ to_yiq
            x = torch.einsum("ij,kjhw->kihw", m, x)
        return x.clamp(0, 1) if x is not frames else x


def sample_seed(seed: int, epoch: int, index: int) -> np.random.Generator:
    return np.random.default_rng([seed, epoch, index])


@dataclass
class TrainingSamples(torch.utils.data.Dataset):
    """``num_repeats`` passes over the clips; item ``(epoch, i)`` is clip ``i % len(clips)`` with frame
    indices drawn by ``sampler`` from a generator seeded by (seed, epoch, i): the same sample whatever
    the process, the worker or a resume."""

    clips: list
    sampler: FrameSampler
    frame_shape: tuple
    num_repeats: int = 1
    seed: int = 0
    #: optional (clip, frame indices, generator) -> {name: (K, 3, h, w) uint8 frames or a number} added to the sample
    extras: Callable | None = None
    #: flips and colour jitter applied alike to every picture of a sample (None: none)
    augmentation: Augmentation | None = None

    def __len__(self) -> int:
        return len(self.clips) * self.num_repeats

    def __getitem__(self, key) -> dict:
        epoch, index = key
        clip = self.clips[index % len(self.clips)]
        rng = sample_seed(self.seed, epoch, index)
        indices = self.sampler(clip.num_frames, rng)
        sample = {"frames": self.to_tensor(clip.read(indices)), "indices": torch.tensor(indices, dtype=torch.long),
                  "sample": torch.tensor(index, dtype=torch.long)}
        for name, value in (self.extras(clip, indices, rng) if self.extras else {}).items():
            sample[name] = self.to_tensor(value) if isinstance(value, np.ndarray) else torch.tensor(value)
        if self.augmentation is not None:   # drawn last: without it, samples are as before
            draw = self.augmentation.draw(rng)
            for name, value in sample.items():
                if value.dim() == 4:
                    sample[name] = Augmentation.apply(value, draw)
        return sample

    def to_tensor(self, frames: np.ndarray) -> torch.Tensor:
        """(K, 3, h, w) uint8 -> (K, 3, H, W) float in [0, 1] at ``frame_shape`` (anti-aliased resize)."""
        out = torch.from_numpy(frames).float().div_(255.0)
        if tuple(out.shape[2:]) != tuple(self.frame_shape):
            out = F.interpolate(out, size=tuple(self.frame_shape), mode="bilinear", align_corners=False,
                                antialias=True).clamp_(0, 1)
        return out


class EpochSampler(torch.utils.data.Sampler):
    """This process's share of an epoch: a seeded permutation split over the ranks (DistributedSampler
    semantics: padded to equal shares, disjoint when the data is at least the world size), as keys
    ``(epoch, index)``; ``skip`` leaves out the first items (resuming inside an epoch)."""

    def __init__(self, size: int, rank: int, world_size: int, seed: int):
        self.size, self.rank, self.world_size, self.seed = size, rank, world_size, seed
        self.epoch, self.skip = 0, 0

    def set_epoch(self, epoch: int, skip: int = 0) -> None:
        self.epoch, self.skip = epoch, skip

    def indices(self) -> list:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        order = torch.randperm(self.size, generator=g).tolist()
        total = -(-self.size // self.world_size) * self.world_size
        order += order[: total - len(order)]
        return order[self.rank:total:self.world_size]

    def __iter__(self):
        return iter([(self.epoch, i) for i in self.indices()[self.skip:]])

    def __len__(self) -> int:
        return len(self.indices()) - self.skip
