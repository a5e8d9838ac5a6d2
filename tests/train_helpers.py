"""Tiny clips and configurations for the gfvc.train tests (64x64, few channels, a few steps)."""
from __future__ import annotations

import copy
import os
import sys
from pathlib import Path

import numpy as np
import yaml

REPO = Path(__file__).resolve().parent.parent
SIZE = 64

TINY_MODEL = {
    "common_params": {"num_kp": 4, "num_channels": 3, "estimate_jacobian": False},
    "kp_detector_params": {"temperature": 0.1, "block_expansion": 4, "max_features": 16, "scale_factor": 0.5,
                           "num_blocks": 3},
    "generator_params": {"block_expansion": 4, "max_features": 16, "num_down_blocks": 2, "num_bottleneck_blocks": 1,
                         "estimate_occlusion_map": True,
                         "dense_motion_params": {"block_expansion": 4, "max_features": 16, "num_blocks": 3,
                                                 "scale_factor": 0.5}},
}
TINY_DISCRIMINATOR = {"scales": [1], "block_expansion": 4, "max_features": 16, "num_blocks": 4, "sn": True,
                      "use_kp": True}


def tiny_config(family: str = "dac", **train) -> dict:
    config = {"family": family, "model_params": copy.deepcopy(TINY_MODEL),
              "dataset_params": {"frame_shape": [SIZE, SIZE]},
              "train_params": {"epochs": 2, "num_repeats": 2, "batch_size": 2, "log_every": 100, **train},
              "discriminator_params": dict(TINY_DISCRIMINATOR)}
    if family == "mrdac":
        config["dataset_params"]["num_references"] = 2
    return config


def write_config(path: Path, config: dict) -> Path:
    path.write_text(yaml.safe_dump(config))
    return path


def clip_frames(index: int, num_frames: int = 12, size: int = SIZE) -> np.ndarray:
    """(N, 3, H, W) uint8: a moving blob over two gradients, different per clip."""
    yy, xx = np.mgrid[0:size, 0:size]
    frames = []
    for t in range(num_frames):
        cx, cy = 20 + 4 * index + t, 30 + 2 * np.sin(t / 3 + index)
        blob = 255 * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * (8 + index) ** 2))
        frames.append(np.stack([blob, (xx * 4) % 256 + 0 * yy, (yy * 4 + 30 * index) % 256 + 0 * xx]))
    return np.clip(np.stack(frames), 0, 255).astype(np.uint8)


def write_clips(folder: Path, count: int = 4, num_frames: int = 12) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        clip_frames(i, num_frames).tofile(folder / f"CLIP{i}_{SIZE}x{SIZE}_25_8bit_444.rgb")
    return folder


def source_env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO / "source") + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def torchrun_command(nproc: int, *args) -> list:
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(nproc),
            "-m", "gfvc.train.cli", *map(str, args)]
