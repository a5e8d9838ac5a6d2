"""gfvc-encode and gfvc-decode: the encoder and decoder apps, with VTM's option letters.

    gfvc-encode -c CODEC.yaml -i INPUT.rgb -b OUT.bin [-o RECON.rgb] [-q KEYQP] [-f FRAMES]
                [--model-config PATH] [--checkpoint PATH] [--set dotted.key=value ...]
    gfvc-decode -b IN.bin [-o OUT.rgb] [--checkpoint PATH] [--model-config PATH]

The decoder prints one line per output picture with its index and ``[MD5:<32 hex>]`` as HM
does, verifies the picture-hash payload, and both end with the rate breakdown (its lines sum
to the file size). Every user mistake is one line on stderr and exit status 2; nothing is
written as if it had succeeded.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import List, Optional

from ..errors import GfvcError
from ..files import atomic_write_bytes, check_output_path, read_input_bytes
from .stream import RATE_CATEGORIES

MAX_STREAM_BYTES = 1 << 31


def print_rate(rate, frames: int, fps: float, out=None) -> None:
    out = out or sys.stdout
    total = sum(rate.values())
    seconds = frames / fps if fps else 0
    print(f"Rate breakdown ({total} bytes, {frames} pictures"
          + (f", {8 * total / 1000 / seconds:.3f} kbps at {fps:g} fps" if seconds else "") + "):", file=out)
    for name in RATE_CATEGORIES:
        if rate.get(name):
            print(f"  {name:<22}{rate[name]:>10} bytes  {100.0 * rate[name] / total:6.2f} %", file=out)
    print(f"  {'total':<22}{total:>10} bytes", file=out)
    ref = reference_style_bytes(rate)
    print(f"  reference-style (key picture + parameters, no framing): {ref} bytes", file=out)


def print_delay(coded, fps: float, out=None) -> None:
    """Multi-reference streams: the structural delay (pictures output in display order)."""
    if coded.decode_order:
        print(f"Structural delay: {coded.delay} pictures ({coded.delay / fps:.3f} s at {fps:g} fps)",
              file=out or sys.stdout)


def reference_style_bytes(rate) -> int:
    """Bytes as the public GFVC tools count them: the key pictures' base-layer stream (VCL and
    parameter sets) plus the face-parameter payloads, without SEI framing or project payloads;
    HDAC's base layer is counted as it is in the JVET-AH0114 tools."""
    return (rate.get("key_picture_vcl", 0) + rate.get("base_layer_vcl", 0) + rate.get("parameter_sets", 0)
            + rate.get("gfv_sei", 0) + rate.get("entropy_coded_parameters", 0) + rate.get("reference_selection", 0)
            + rate.get("residual", 0))


def report_pictures(result, pictures, path, source, what: str, fps: float) -> None:
    """Write the pictures (planar RGB, when a path is given), then one HM-style MD5 line per output
    picture, the rate breakdown and the structural delay: the same for encoder and decoder."""
    if path:
        from ..io.sequence import rgb_to_planar_bytes

        atomic_write_bytes(path, rgb_to_planar_bytes(pictures), inputs=[source], what=what)
    for i, md5 in enumerate(result.md5_per_picture):
        kind = "key" if i in result.key_pictures else "gen"
        print(f"POC {i:5d} {kind} [MD5:{md5}]")
    print_rate(result.rate, len(pictures), fps)
    print_delay(result, fps)


def _fail(prog: str, exc: BaseException) -> int:
    msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    print(f"{prog}: error: {msg}", file=sys.stderr)
    return 2


def _run(prog: str, work, args) -> int:
    """Run an app's work: a user mistake is one line and status 2, Ctrl-C status 130; outputs are
    written only at the end, atomically, so neither leaves anything behind."""
    try:
        return work(args)
    except (GfvcError, OSError, ValueError) as exc:
        return _fail(prog, exc)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted; nothing written", file=sys.stderr)
        return 130


def encode_main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="gfvc-encode", description="Code a face video into one Annex-B stream.")
    ap.add_argument("-c", "--config", required=True, help="codec YAML (cfg/codec/<family>.yaml)")
    ap.add_argument("-i", "--input", required=True, help="input sequence (JVET-named .rgb/.yuv)")
    ap.add_argument("-b", "--bitstream", required=True, help="output Annex-B stream")
    ap.add_argument("-o", "--recon", help="reconstructed pictures (planar RGB), what a decoder outputs")
    ap.add_argument("-q", "--qp", type=int, help="key-picture QP (HDAC: base-layer QP)")
    ap.add_argument("-f", "--frames", type=int, help="number of frames to code (default: all)")
    ap.add_argument("-fs", "--frame-skip", type=int, default=0, help="frames to skip at the start")
    ap.add_argument("--fps", type=float, default=25.0, help="frame rate (for kbps)")
    ap.add_argument("--model-config", help="model configuration (overrides the codec YAML)")
    ap.add_argument("--checkpoint", help="checkpoint (overrides the codec YAML)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="override any codec setting, e.g. --set carriage=per_picture")
    return _run("gfvc-encode", _encode, ap.parse_args(argv))


def _encode(args) -> int:
    from ..io import read_sequence
    from ..io.sequence import parse_jvet_name
    from .face_codecs import codec_settings
    from .settings import apply_overrides, read_codec_file

    if args.frames is not None and args.frames < 1:
        raise ValueError(f"-f/--frames must be at least 1, got {args.frames}")
    if args.frame_skip < 0:
        raise ValueError(f"-fs/--frame-skip must be >= 0, got {args.frame_skip}")
    if not args.fps > 0:
        raise ValueError(f"--fps must be positive, got {args.fps}")
    name, options, _ = read_codec_file(args.config)
    options = apply_overrides(options, args.set)
    if args.model_config:
        options["model_config"] = args.model_config
    if args.checkpoint:
        options["checkpoint"] = args.checkpoint
    if args.qp is not None:
        options["bl_qp" if name == "hdac" else "key_qp"] = args.qp
    settings = codec_settings(name, options, source=str(args.config))
    outputs = [args.bitstream] + ([args.recon] if args.recon else [])
    for out in outputs:
        check_output_path(out, [args.input, args.config], "output")
    if args.recon and Path(args.recon).resolve() == Path(args.bitstream).resolve():
        raise ValueError("-b and -o name the same file")
    parse_jvet_name(args.input)
    from ..files import check_input_file

    check_input_file(args.input, "input sequence")
    frames = read_sequence(args.input, num_frames=args.frames, start=args.frame_skip)
    from .encoder import GfvcEncoder

    encoded = GfvcEncoder(settings).encode(frames, args.fps)
    atomic_write_bytes(args.bitstream, encoded.bitstream, inputs=[args.input], what="bitstream")
    report_pictures(encoded, encoded.reconstruction, args.recon, args.input, "reconstruction", args.fps)
    if settings.prediction.active:
        from ..bitstream import PREDICTION_MODE_NAMES

        counts = ", ".join(f"{name} {encoded.prediction_modes.count(idc)}" for idc, name in PREDICTION_MODE_NAMES.items())
        print(f"Prediction modes of the generated pictures: {counts}")
    print(f"Encoded {len(frames)} pictures ({len(encoded.key_pictures)} key) in {encoded.timings['total']:.2f} s "
          f"-> {args.bitstream}")
    return 0


def decode_main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="gfvc-decode", description="Decode a gfvc Annex-B stream.")
    ap.add_argument("-b", "--bitstream", required=True, help="input Annex-B stream")
    ap.add_argument("-o", "--output", help="decoded pictures (planar RGB 4:4:4, 8 bit)")
    ap.add_argument("--checkpoint", help="checkpoint file or folder (the stream names which one it needs)")
    ap.add_argument("--model-config", help="model configuration file or folder")
    ap.add_argument("--allow-model-mismatch", action="store_true",
                    help="decode with the given --model-config and --checkpoint files even when the stream "
                         "names another model (experiments only; the output is not the encoder's)")
    ap.add_argument("--codec", choices=("hevc", "vvc"), help="base-layer codec (default: detected)")
    ap.add_argument("--base-decoder", default="pyav", choices=("pyav", "ffmpeg", "dec265"),
                    help="decoder of the base layer")
    ap.add_argument("--batch", type=int, default=None,
                    help="synthesis batch (default: the encoder's, from the stream; another value is for "
                         "experiments: the pictures may differ in the last bit and fail the hash check)")
    ap.add_argument("--fps", type=float, default=25.0, help="frame rate (for kbps)")
    return _run("gfvc-decode", _decode, ap.parse_args(argv))


def _decode(args) -> int:
    from .decoder import GfvcDecoder

    if args.batch is not None and args.batch < 1:
        raise ValueError(f"--batch must be at least 1, got {args.batch}")
    if args.output:
        check_output_path(args.output, [args.bitstream], "output")
    data = read_input_bytes(args.bitstream, "bitstream", MAX_STREAM_BYTES)
    decoded = GfvcDecoder(args.model_config, args.checkpoint, args.allow_model_mismatch, args.batch,
                          args.base_decoder).decode(data, args.codec)
    report_pictures(decoded, decoded.pictures, args.output, args.bitstream, "output", args.fps)
    check = (f"picture hash OK for {decoded.hash_checked} pictures" if decoded.hash_checked
             else "no picture hash in the stream")
    print(f"Decoded {len(decoded.pictures)} pictures ({len(decoded.key_pictures)} key), {check}, in "
          f"{decoded.timings['total']:.2f} s")
    return 0
