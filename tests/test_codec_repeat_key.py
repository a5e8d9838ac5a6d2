"""The repeat-key baseline (gfvc.codec.repeat_key): at a GFVC codec's key QP it is that stream's
base layer exactly (the decoder's key pictures, the key-picture and parameter-set bytes), each key
picture held until the next one."""
from __future__ import annotations

import numpy as np
import pytest

from gfvc.codec.registry import get_codec
from gfvc.codec.repeat_key import RepeatKeyBaseline, hold_key_pictures

SIZE = 64


def _clip(frames: int = 6) -> np.ndarray:
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    out = []
    for t in range(frames):
        blob = 255 * np.exp(-((xx - 20 - 3 * t) ** 2 + (yy - 30) ** 2) / 120.0)
        out.append(np.stack([blob, (xx * 4 + 10 * t) % 256, (yy * 3) % 256], axis=-1))
    return np.clip(out, 0, 255).astype(np.uint8)


def test_hold_key_pictures():
    pictures = np.arange(5)[:, None, None, None] * np.ones((5, 2, 2, 3), np.uint8)
    held = hold_key_pictures(pictures, [0, 3])
    assert [int(p[0, 0, 0]) for p in held] == [0, 0, 0, 3, 3]
    with pytest.raises(ValueError):
        hold_key_pictures(pictures, [1])


def test_baseline_is_the_gfvc_streams_base_layer(tmp_path, fixtures_root):
    case = fixtures_root / "DAC" / "tiny"
    codec = get_codec("dac", model_config=str(case / "model_params.yaml"),
                      checkpoint=str(case / "checkpoint.pth.tar"), backend="x265", key_period=3)
    frames = _clip()
    result = codec.code(frames, 25.0, 37, tmp_path)
    keys = result.metadata["key_pictures"]
    assert keys == [0, 3]
    baseline = RepeatKeyBaseline(codec.settings_at(37)).code(frames, keys, 37)
    rate = result.metadata["rate_breakdown"]
    assert baseline.bytes == rate["key_picture_vcl"] + rate["parameter_sets"]
    for i, src in enumerate([0, 0, 0, 3, 3, 3]):
        assert np.array_equal(baseline.pictures[i], result.decoded[src]), i
    # another QP: other key pictures, the same structure
    coarse = RepeatKeyBaseline(codec.settings_at(37)).code(frames, keys, 51)
    assert coarse.bytes < baseline.bytes
    assert not np.array_equal(coarse.pictures[0], baseline.pictures[0])
    assert np.array_equal(coarse.pictures[1], coarse.pictures[0])
