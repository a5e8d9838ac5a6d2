"""The public GFVC reference software's face-parameter coder, re-implemented for rate comparisons.

Written from the description of the algorithm (doc/coding.md, "The reference parameter coder"),
not from its code. Per frame (one file per frame in the reference):

1. closed-loop DPCM on float64: ``d = p_t - rec_{t-1}``, ``q = round_half_even(d * Qstep)``,
   ``rec_t = rec_{t-1} + q / Qstep`` (``rec_0`` = the key picture's unquantised parameters);
2. signed -> unsigned: ``v <= 0 -> -2v``, ``v > 0 -> 2v - 1``;
3. 0th-order Exp-Golomb code words, concatenated after one leading ``1`` marker bin;
4. every bin through an adaptive binary arithmetic coder (256-bit low/high registers) with an
   order-0 PPM model over {0, 1, 2}: 2 is the escape and the end-of-file symbol; the root context
   starts with count(escape) = 1, count(0) = count(1) = 0; a bin value seen for the first time is
   coded as escape + the value in a flat 3-symbol table; each coded bin increments its count (the
   escape count stays 1); after the last bin EOF is coded (escape, then 2 in the flat table);
5. ``finish`` writes one 1 bit, the output is padded with 0 bits to a byte; the decoder reads
   zeros past the end. Model and coder restart for every frame.
"""
from __future__ import annotations

from typing import Iterable, List, Sequence, Tuple

from ..bitstream.payloads.arithmetic import (ArithmeticCodingError, ArithmeticDecoder,
                                            ArithmeticEncoder)
from .errors import EntropyCodingError

STATE_BITS = 256
SYMBOL_ESCAPE = 2          # escape and end of file
NUM_SYMBOLS = 3


# -- binarisation ------------------------------------------------------------------------------
def signed_to_unsigned(v: int) -> int:
    return -2 * v if v <= 0 else 2 * v - 1


def unsigned_to_signed(n: int) -> int:
    return (n + 1) // 2 if n % 2 else -(n // 2)


def exp_golomb_bins(n: int) -> List[int]:
    """0th-order Exp-Golomb: floor(log2(n+1)) zeros, then n+1 in binary."""
    if n < 0:
        raise EntropyCodingError(f"Exp-Golomb codes non-negative integers, not {n}")
    m = n + 1
    width = m.bit_length()
    return [0] * (width - 1) + [(m >> (width - 1 - i)) & 1 for i in range(width)]


def binarise(values: Iterable[int]) -> List[int]:
    """The bin string of one frame: the marker 1, then each value's Exp-Golomb code word."""
    bins = [1]
    for v in values:
        bins.extend(exp_golomb_bins(signed_to_unsigned(int(v))))
    return bins


def debinarise(bins: Sequence[int]) -> List[int]:
    if not bins or bins[0] != 1:
        raise EntropyCodingError("reference parameter frame: the bin string lacks its leading 1 marker")
    values, i, n = [], 1, len(bins)
    while i < n:
        zeros = 0
        while i < n and bins[i] == 0:
            zeros += 1
            i += 1
        if i + zeros + 1 > n:
            raise EntropyCodingError("reference parameter frame: truncated Exp-Golomb code word")
        m = 0
        for b in bins[i:i + zeros + 1]:
            m = (m << 1) | b
        i += zeros + 1
        values.append(unsigned_to_signed(m - 1))
    return values


# -- model and frames --------------------------------------------------------------------------
FLAT_TABLE = (1, 1, 1)      # the order -1 table


class _Order0Model:
    """Order-0 PPM over {0, 1, escape}: the root context's counts (escape fixed at 1)."""

    def __init__(self) -> None:
        self.counts = [0, 0, 1]

    def steps(self, symbol: int) -> List[Tuple[Sequence[int], int]]:
        """(table, symbol) pairs that code ``symbol`` (a bin, or SYMBOL_ESCAPE for EOF)."""
        if symbol != SYMBOL_ESCAPE and self.counts[symbol] > 0:
            return [(tuple(self.counts), symbol)]
        return [(tuple(self.counts), SYMBOL_ESCAPE), (FLAT_TABLE, symbol)]

    def update(self, symbol: int) -> None:
        if symbol != SYMBOL_ESCAPE:
            self.counts[symbol] += 1


def encode_frame(values: Iterable[int]) -> bytes:
    """The reference's per-frame file for the quantised integers of one frame."""
    model, enc = _Order0Model(), ArithmeticEncoder(STATE_BITS)
    for symbol in binarise(values) + [SYMBOL_ESCAPE]:
        for table, s in model.steps(symbol):
            enc.encode(table, s)
        model.update(symbol)
    return enc.finish()


def decode_frame(data: bytes, max_bins: int = 1 << 20) -> List[int]:
    """The integers of one frame file (inverse of :func:`encode_frame`)."""
    model, dec = _Order0Model(), ArithmeticDecoder(bytes(data), STATE_BITS)
    bins: List[int] = []
    try:
        while True:
            symbol = dec.decode(model.counts)
            if symbol == SYMBOL_ESCAPE:
                symbol = dec.decode(FLAT_TABLE)
                if symbol == SYMBOL_ESCAPE:
                    return debinarise(bins)
            bins.append(symbol)
            model.update(symbol)
            if len(bins) > max_bins:
                raise EntropyCodingError(f"reference parameter frame: no end of file within "
                                         f"{max_bins} bins")
    except ArithmeticCodingError as exc:
        raise EntropyCodingError(f"reference parameter frame: {exc}") from None


# -- DPCM --------------------------------------------------------------------------------------
def dpcm_quantise(frames: Sequence[Sequence[float]], rec0: Sequence[float],
                  qstep: float) -> List[List[int]]:
    """The reference's closed-loop DPCM: per frame the integers round_half_even((p - rec) * Qstep)."""
    rec = [float(v) for v in rec0]
    out = []
    for frame in frames:
        if len(frame) != len(rec):
            raise EntropyCodingError(f"reference DPCM: a frame of {len(frame)} values after {len(rec)}")
        q = [round((float(p) - r) * qstep) for p, r in zip(frame, rec)]   # round half to even
        rec = [r + v / qstep for r, v in zip(rec, q)]
        out.append(q)
    return out


# -- parameter-rate benchmark ------------------------------------------------------------------
BENCH_FAMILIES = ("dac", "fomm", "cfte", "fv2v")


def reference_order(family: str, params) -> List[float]:
    """One frame's parameters flattened in the reference's order (FOMM: keypoints then
    jacobians; FV2V: rotation (9), translation (3), expression; others: row-major)."""
    keys = {"fomm": ("value", "jacobian"), "fv2v": ("rot_mat", "t", "exp"),
            "cfte": ("feature",)}.get(family, ("value",))
    out: List[float] = []
    for key in keys:
        out.extend(float(v) for v in params[key].detach().double().reshape(-1).tolist())
    return out


def _quantised(values: Sequence[float], precision: int) -> List[int]:
    """Values that lie on the 2^-P grid -> their integers (exact)."""
    import math
    return [int(math.ldexp(v, precision)) for v in values]


def _sei_framed_bytes(payloads: Sequence[bytes], per_nal: int, payload_type: int = 223,
                      codec: str = "hevc") -> int:
    """Bytes of the suffix SEI NAL units (4-byte start code, NAL header, sei_message headers,
    rbsp_trailing_bits, emulation prevention) that carry ``payloads``, ``per_nal`` messages per
    NAL unit."""
    from ..bitstream import make_nal_unit, sei_message_bytes
    from ..bitstream.nal import codec_nal
    suffix = codec_nal(codec).suffix_sei
    total = 0
    for i in range(0, len(payloads), per_nal):
        rbsp = b"".join(sei_message_bytes(payload_type, p) for p in payloads[i:i + per_nal]) + b"\x80"
        total += 4 + len(make_nal_unit(codec, suffix, rbsp))
    return total


def analyse_clip(model, family: str, frames) -> list:
    """Per picture the parameters analyse() gives (FV2V: canonical keypoints for frame 0 only)."""
    import torch
    pictures = []
    with torch.no_grad():
        for i in range(frames.shape[0]):
            x = frames[i:i + 1]
            out = model.analyse(x, canonical_keypoints=(i == 0)) if family == "fv2v" else model.analyse(x)
            pictures.append(dict(out))
    return pictures


def synthetic_motion(pictures: list, family: str, scale: float, precision: int, seed: int = 0) -> list:
    """Parameters that start at pictures[0] and then move every coded value by an independent
    Laplacian step of ``scale`` quantisation steps per picture (rounded to the grid)."""
    import numpy as np
    import torch
    rng = np.random.default_rng(seed)
    moving = {"fv2v": ("rot_mat", "t", "exp")}.get(family)
    out = [pictures[0]]
    for _ in range(1, len(pictures)):
        prev = out[-1]
        nxt = {}
        for key, value in prev.items():
            if (moving is not None and key not in moving) or not value.is_floating_point():
                nxt[key] = value
                continue
            steps = np.round(rng.laplace(0.0, scale, size=tuple(value.shape)))
            nxt[key] = value + torch.from_numpy(steps).to(value.dtype) * 2.0 ** -precision
        out.append(nxt)
    return out


def measure_family(family: str, pictures: list, precision=None, run_lengths: Sequence[int] = (0, 25)) -> dict:
    """Parameter bytes of one clip for one family. pictures[0] is the key picture (in the codec it
    is analysed on the decoded key picture), pictures[1:] are generated pictures. Returns the
    per-generated-picture means in bits."""
    from ..bitstream import GfvPredictionState
    from .face_parameters import encode_parameter_run, encode_parameters, get_parameter_coder

    coder = get_parameter_coder(family, precision=precision)
    writer, reader = GfvPredictionState(), GfvPredictionState()
    coded = [encode_parameters(coder, p, writer, reader, gfv_cnt=i, base=(i == 0))
             for i, p in enumerate(pictures)]
    generated = coded[1:]
    n = len(generated)
    payloads = [c.payload for c in generated]
    # the same quantised values for the reference coder: per frame the integer differences
    q = [_quantised(reference_order(family, c.params), coder.precision) for c in coded]
    deltas = [[a - b for a, b in zip(q[t], q[t - 1])] for t in range(1, len(q))]
    ref_files = [encode_frame(d) for d in deltas]
    for d, f in zip(deltas, ref_files):
        if decode_frame(f) != d:
            raise EntropyCodingError("reference coder round trip failed")
    # the reference as it runs: DPCM on the floats, from the unquantised key-picture parameters
    floats = [reference_order(family, p) for p in pictures]
    own = [encode_frame(v) for v in dpcm_quantise(floats[1:], floats[0], float(1 << coder.precision))]
    result = {
        "family": family, "precision": coder.precision, "generated_pictures": n,
        "values_per_picture": len(q[0]),
        "mean_abs_delta": sum(abs(v) for d in deltas for v in d) / max(1, sum(map(len, deltas))),
        "base_gfv_payload_bits": 8 * len(coded[0].payload),
        "gfv_payload_bits": 8 * sum(map(len, payloads)) / n,
        "gfv_framed_bits_1_per_nal": 8 * _sei_framed_bytes(payloads, 1) / n,
        "gfv_framed_bits_all_per_nal": 8 * _sei_framed_bytes(payloads, n) / n,
        "reference_coder_bits": 8 * sum(map(len, ref_files)) / n,
        "reference_coder_own_dpcm_bits": 8 * sum(map(len, own)) / n,
    }
    # the entropy-coded payload: runs of pictures after the same base message
    for run in run_lengths:
        run = run or n
        w, r = GfvPredictionState(), GfvPredictionState()
        encode_parameters(coder, pictures[0], w, r, gfv_cnt=0, base=True)
        run_payloads = []
        for start in range(1, len(pictures), run):
            chunk = encode_parameter_run(coder, pictures[start:start + run], w, r, first_gfv_cnt=start)
            for i, params in enumerate(chunk.params):
                for key, value in params.items():
                    if not torch_equal(value, coded[start + i].params[key]):
                        raise EntropyCodingError("entropy-coded parameters differ from the GFV ones")
            run_payloads.append(chunk.payload)
        label = "all" if run == n else str(run)
        result[f"ecp_payload_bits_run_{label}"] = 8 * sum(map(len, run_payloads)) / n
        result[f"ecp_framed_bits_run_{label}"] = 8 * _sei_framed_bytes(run_payloads, 1, 5) / n
    return result


def torch_equal(a, b) -> bool:
    import torch
    return bool(torch.equal(a, b))


def bench(fixtures: str, clip: str, num_frames: int, families: Sequence[str] = BENCH_FAMILIES,
          width: int = 256, height: int = 256, size: int = 64,
          synthetic_scales: Sequence[float] = ()) -> List[dict]:
    """Tiny fixture models analyse ``num_frames`` pictures of ``clip`` (area-resampled to
    size x size); per family one result on those parameters and one per synthetic motion scale."""
    import time
    from pathlib import Path

    import torch

    from ..io.sequence import read_rgb
    from ..models import load_model
    from .face_parameters import get_parameter_coder

    rgb = read_rgb(clip, width, height, num_frames)
    frames = torch.from_numpy(rgb).permute(0, 3, 1, 2).float() / 255.0
    if size != width or size != height:
        frames = torch.nn.functional.interpolate(frames, size=(size, size), mode="area")
    results = []
    for family in families:
        tiny = Path(fixtures) / family.upper() / "tiny"
        ckpt = tiny / ("checkpoint.pth.tar.xz" if family == "fv2v" else "checkpoint.pth.tar")
        model = load_model(family, tiny / "model_params.yaml", ckpt, device="cpu")
        start = time.perf_counter()
        pictures = analyse_clip(model, family, frames)
        r = measure_family(family, pictures)
        r["source"] = f"tiny model, {Path(clip).name} at {size}x{size}"
        r["seconds"] = round(time.perf_counter() - start, 1)
        results.append(r)
        precision = get_parameter_coder(family).precision
        for scale in synthetic_scales:
            r = measure_family(family, synthetic_motion(pictures, family, scale, precision))
            r["source"] = f"synthetic Laplacian steps b={scale:g} Qstep"
            results.append(r)
    return results


def main(argv=None) -> int:
    import argparse
    import json
    import sys

    ap = argparse.ArgumentParser(prog="python -m gfvc.coding.reference_coder",
                                 description="Parameter rate per generated picture: GFV SEI payload, "
                                             "with SEI/NAL framing, and the reference coder.")
    ap.add_argument("--bench", action="store_true", help="run the parameter-rate benchmark")
    ap.add_argument("--fixtures", required=True, help="folder holding <MODEL>/tiny/ checkpoints")
    ap.add_argument("--clip", required=True, help="planar RGB 4:4:4 8-bit clip")
    ap.add_argument("--width", type=int, default=256)
    ap.add_argument("--height", type=int, default=256)
    ap.add_argument("--size", type=int, default=64,
                    help="analysis size (area resampling; the tiny fixtures are 64x64 models)")
    ap.add_argument("--synthetic", default="",
                    help="comma-separated Laplacian step scales (in Qstep) for synthetic motion")
    ap.add_argument("-f", "--frames", type=int, default=50)
    ap.add_argument("--families", default=",".join(BENCH_FAMILIES))
    ap.add_argument("--json", help="also write the results to this JSON file")
    args = ap.parse_args(argv)
    if not args.bench:
        ap.error("nothing to do: give --bench")
    from ..errors import GfvcError
    try:
        scales = [float(v) for v in args.synthetic.split(",") if v]
        results = bench(args.fixtures, args.clip, args.frames, args.families.split(","),
                        args.width, args.height, args.size, scales)
    except (GfvcError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for r in results:
        print(json.dumps(r))
    if args.json:
        from ..files import atomic_write_bytes
        atomic_write_bytes(args.json, json.dumps(results, indent=1).encode() + b"\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
