"""The re-implemented reference parameter coder (gfvc.coding.reference_coder): binarisation,
lossless round trips, the sizes the public coder gives (doc/coding.md), DPCM, the benchmark."""
from __future__ import annotations

import random

import pytest

from gfvc.coding.errors import EntropyCodingError
from gfvc.coding.reference_coder import (binarise, debinarise, decode_frame, dpcm_quantise,
                                         encode_frame, exp_golomb_bins, signed_to_unsigned,
                                         unsigned_to_signed)


def test_signed_map_and_exp_golomb():
    assert [signed_to_unsigned(v) for v in (0, 1, -1, 2, -2, 3)] == [0, 1, 2, 3, 4, 5]
    assert all(unsigned_to_signed(signed_to_unsigned(v)) == v for v in range(-300, 300))
    assert exp_golomb_bins(0) == [1]
    assert exp_golomb_bins(1) == [0, 1, 0]
    assert exp_golomb_bins(2) == [0, 1, 1]
    assert exp_golomb_bins(6) == [0, 0, 1, 1, 1]
    assert binarise([0, 1, -1]) == [1, 1, 0, 1, 0, 0, 1, 1]      # marker, then the code words
    assert debinarise(binarise([5, -7, 0, 12])) == [5, -7, 0, 12]
    with pytest.raises(EntropyCodingError, match="truncated"):
        debinarise([1, 0, 0, 1])
    with pytest.raises(EntropyCodingError, match="marker"):
        debinarise([0, 1])


@pytest.mark.parametrize("n", [16, 20, 57, 60])
def test_all_zero_frame_is_two_bytes(n):
    data = encode_frame([0] * n)
    assert len(data) == 2
    assert decode_frame(data) == [0] * n


def _laplacian(rng, b, n):
    # difference of two exponentials is Laplacian; rounded to integers
    return [round(rng.expovariate(1 / b) - rng.expovariate(1 / b)) for _ in range(n)]


# bytes per frame file of the public coder (doc/coding.md table, single frames, seed 0)
PUBLIC_TABLE = {16: [7, 7, 9, 14, 16, 23], 20: [7, 9, 13, 16, 18, 27],
                57: [16, 22, 31, 38, 43, 68], 60: [14, 24, 29, 44, 52, 67]}
SCALES = [0.5, 1, 2, 4, 8, 32]


@pytest.mark.parametrize("n", sorted(PUBLIC_TABLE))
def test_laplacian_sizes_match_the_public_coder_and_round_trip(n):
    rng = random.Random(n)
    for b, public in zip(SCALES, PUBLIC_TABLE[n]):
        sizes = []
        for _ in range(40):
            values = _laplacian(rng, b, n)
            data = encode_frame(values)
            assert decode_frame(data) == values
            sizes.append(len(data))
        mean = sum(sizes) / len(sizes)
        # the public numbers are single frames; the mean over 40 frames lies within ~20 %
        assert abs(mean - public) <= max(2.5, 0.2 * public), (n, b, mean, public)


def test_coded_size_grows_with_the_residual_and_is_deterministic():
    rng = random.Random(7)
    values = _laplacian(rng, 4, 60)
    assert encode_frame(values) == encode_frame(list(values))
    assert len(encode_frame([v * 8 for v in values])) > len(encode_frame(values))
    big = [2 ** 40, -(2 ** 40), 0]
    assert decode_frame(encode_frame(big)) == big


def test_dpcm_is_closed_loop_with_half_to_even():
    q = dpcm_quantise([[0.5 / 64, 1.5 / 64], [0.5 / 64, 1.5 / 64]], [0.0, 0.0], 64.0)
    assert q == [[0, 2], [0, 0]]           # 0.5 -> 0, 1.5 -> 2; then -0.5 -> 0
    frames = [[random.Random(i).uniform(-1, 1) for _ in range(20)] for i in range(30)]
    ints = dpcm_quantise(frames, frames[0], 64.0)
    rec = list(frames[0])
    for f, q in zip(frames, ints):
        rec = [r + v / 64.0 for r, v in zip(rec, q)]
        assert max(abs(a - b) for a, b in zip(rec, f)) <= 0.5 / 64 + 1e-12   # no drift
    with pytest.raises(EntropyCodingError, match="a frame of 3 values after 20"):
        dpcm_quantise([[0.0] * 3], [0.0] * 20, 64.0)


def test_corrupt_frame_is_a_clear_error():
    with pytest.raises(EntropyCodingError):
        decode_frame(b"\xff" * 40, max_bins=64)


def test_benchmark_on_a_builtin_clip(builtin_dir, fixtures_root):
    """The benchmark code path on 4 pictures of DAC: all numbers present and consistent."""
    from gfvc.coding.reference_coder import bench
    clip = builtin_dir / "BUILTIN_FRANCK_001_256x256_25_8bit_444.rgb"
    (r,) = bench(str(fixtures_root), str(clip), 4, ["dac"], size=64)
    assert r["generated_pictures"] == 3 and r["values_per_picture"] == 20
    assert r["reference_coder_bits"] >= 16                  # at least the 2-byte frame file
    assert r["gfv_framed_bits_1_per_nal"] > r["gfv_framed_bits_all_per_nal"] > r["gfv_payload_bits"]
