"""gfvc-baselayer: code a sequence with a base-layer backend, or decode an Annex-B file.

  gfvc-baselayer encode SEQ.rgb|SEQ.yuv -o OUT.265 --backend x265 --qp 32 --structure intra
  gfvc-baselayer decode IN.265 [--codec hevc] [--decoder pyav|ffmpeg|dec265|hm|vtm] [-o OUT.yuv]

An output never replaces an input of the same command (refused before any work); a device or
FIFO given as output (/dev/null, a pipe) is written, never replaced.

``decode`` prints one line per picture in the style of HM's decoder:
``POC    0 (  1234 bytes) [MD5:<Y>,<U>,<V>]`` (POC = output order number; bytes = access-unit size).
For streams above 8 bits (vvenc's 10-bit VVC) the MD5 is of the decoded samples at their own bit
depth, as HM/VTM print it, followed by ``[8-bit output MD5:...]`` of the pictures gfvc uses.
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np

from ..errors import GfvcError
from ..files import atomic_write_bytes, check_input_file, check_output_path, read_input_bytes
from ..io import DEFAULT_MATRIX, MATRICES, SequenceError, Yuv420, parse_jvet_name, read_rgb
from ..io import read_yuv420, rgb_to_yuv420
from . import BACKENDS, STRUCTURES, get_backend
from .annexb import access_unit_sizes
from .decoders import DECODERS
from .md5 import hm_md5_line, picture_md5_list

PROG = "gfvc-baselayer"
#: largest Annex-B file ``decode`` reads (a base-layer stream of the CTC is a few MB)
MAX_STREAM_BYTES = 1 << 30
_CODEC_BY_SUFFIX = {".265": "hevc", ".hevc": "hevc", ".h265": "hevc", ".266": "vvc", ".vvc": "vvc", ".h266": "vvc"}


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description="Base-layer (HEVC/VVC) coding with x265, vvenc, HM or VTM.")
    sub = p.add_subparsers(dest="command", required=True)
    e = sub.add_parser("encode", help="encode a .rgb/.yuv sequence to an Annex-B file")
    e.add_argument("input", type=Path, help="JVET-named .rgb (planar RGB 4:4:4) or .yuv (I420) file")
    e.add_argument("-o", "--output", type=Path, required=True, help="Annex-B output (.265/.266/.bin)")
    e.add_argument("--backend", choices=BACKENDS, default="x265")
    e.add_argument("--qp", type=int, required=True)
    e.add_argument("--structure", choices=STRUCTURES, default="intra")
    e.add_argument("--width", type=int, help="needed when the file name is not a JVET name")
    e.add_argument("--height", type=int)
    e.add_argument("--fps", type=float, help="default: from the file name, else 25")
    e.add_argument("--frames", type=int, help="number of frames (default: all)")
    e.add_argument("--start", type=int, default=0, help="first frame")
    e.add_argument("--matrix", choices=sorted(MATRICES), default=DEFAULT_MATRIX,
                   help="RGB->YUV matrix for .rgb input")
    e.add_argument("--rgb444", action="store_true", help="code .rgb input as GBR 4:4:4 (x265, HM, VTM)")
    e.add_argument("--preset", help="x265/vvenc preset")
    e.add_argument("--encoder", help="HM/VTM encoder binary (else GFVC_HM_ENCODER / GFVC_VTM_ENCODER)")
    d = sub.add_parser("decode", help="decode an Annex-B file, print per-picture MD5")
    d.add_argument("input", type=Path)
    d.add_argument("--codec", choices=("hevc", "vvc"), help="default: from the file suffix (.265/.266)")
    d.add_argument("--decoder", choices=DECODERS + ("hm", "vtm"), default="pyav")
    d.add_argument("--width", type=int, help="expected picture width (an error if the stream's differs)")
    d.add_argument("--height", type=int, help="expected picture height (an error if the stream's differs)")
    d.add_argument("--frames", type=int, help="expected number of pictures (an error if different)")
    d.add_argument("--rgb444", action="store_true", help="HM/VTM: the stream is GBR 4:4:4, write RGB")
    d.add_argument("--decoder-binary", help="HM/VTM decoder binary (else GFVC_HM_DECODER / GFVC_VTM_DECODER)")
    d.add_argument("-o", "--output", type=Path, help="write the decoded pictures (.yuv I420, or .rgb for 4:4:4)")
    return p


def _read_input(args) -> tuple[object, float]:
    try:
        seq = parse_jvet_name(args.input)
        width, height, fps, ext = seq.width, seq.height, seq.fps, seq.ext
    except SequenceError:
        if not (args.width and args.height):
            raise SequenceError(f"{args.input}: not a JVET name; give --width and --height") from None
        width, height, fps, ext = args.width, args.height, 25.0, args.input.suffix.lstrip(".")
    for what, want, got in (("width", args.width, width), ("height", args.height, height)):
        if want is not None and want != got:
            raise SequenceError(f"{args.input}: --{what} {want} disagrees with the file name ({got})")
    fps = args.fps or fps
    if ext == "rgb":
        rgb = read_rgb(args.input, width, height, args.frames, args.start)
        return (rgb if args.rgb444 else Yuv420(*rgb_to_yuv420(rgb, args.matrix))), fps
    if ext == "yuv":
        if args.rgb444:
            raise SequenceError(f"{args.input}: --rgb444 needs .rgb input")
        return read_yuv420(args.input, width, height, args.frames, args.start), fps
    raise SequenceError(f"{args.input}: expected a .rgb or .yuv file")


def _check_numbers(args) -> None:
    """Values that must be positive (or >= 0) are refused here, before anything runs."""
    for name in ("width", "height", "frames"):
        value = getattr(args, name, None)
        if value is not None and value <= 0:
            raise ValueError(f"--{name} must be a positive integer, got {value}")
    if getattr(args, "start", 0) < 0:
        raise ValueError(f"--start must be 0 or more, got {args.start}")
    fps = getattr(args, "fps", None)
    if fps is not None and not (math.isfinite(fps) and fps > 0):
        raise ValueError(f"--fps must be positive and finite, got {fps}")


def _encode(args) -> int:
    check_input_file(args.input, "input")
    check_output_path(args.output, [args.input], "output")  # before the work: never overwrite the input
    options = {}
    if args.preset:
        options["preset"] = args.preset
    if args.encoder:
        options["encoder"] = args.encoder
    backend = get_backend(args.backend, **options)
    pictures, fps = _read_input(args)
    result = backend.encode(pictures, args.qp, args.structure, fps)
    atomic_write_bytes(args.output, result.bitstream, inputs=[args.input], what="output")
    for i, n in enumerate(result.bytes_per_picture):
        print(f"POC {i:4d} ({n:6d} bytes)")
    print(f"{len(result.bitstream)} bytes, {result.num_pictures} pictures, encoder {result.seconds:.3f} s")
    print(f"command: {result.command}")
    return 0


def _decode(args) -> int:
    data = read_input_bytes(args.input, "stream", MAX_STREAM_BYTES)
    if not data:
        raise SequenceError(f"stream {args.input} is empty (0 bytes)")
    if args.output:
        check_output_path(args.output, [args.input], "output")  # before the work: never overwrite the input
    codec = args.codec or _CODEC_BY_SUFFIX.get(args.input.suffix.lower())
    if args.decoder in ("hm", "vtm"):
        codec = codec or ("hevc" if args.decoder == "hm" else "vvc")
    if codec is None:
        raise SequenceError(f"{args.input}: cannot tell HEVC from VVC by the suffix; give --codec")
    if args.decoder in ("hm", "vtm"):
        options = {"decoder": args.decoder_binary} if args.decoder_binary else {}
        result = get_backend(args.decoder, **options).decode(data, args.width, args.height, args.frames,
                                                             rgb=args.rgb444)
    else:
        from .decoders import decode_stream

        result = decode_stream(data, codec, args.decoder, width=args.width, height=args.height,
                               expected_frames=args.frames)
    sizes = access_unit_sizes(data, codec)
    digests = picture_md5_list(result.pictures)
    for i, digest in enumerate(digests):
        nbytes = sizes[i] if len(sizes) == len(digests) else None
        if result.native_md5:  # >8-bit stream: the decoded samples' MD5 first (as HM/VTM print it)
            print(hm_md5_line(i, result.native_md5[i], nbytes) + f" [8-bit output MD5:{digest}]")
        else:
            print(hm_md5_line(i, digest, nbytes))
    print(f"{len(digests)} pictures, {len(data)} bytes, decoder {result.decoder}: {result.seconds:.3f} s")
    if args.output:
        pics = result.pictures
        out = (np.ascontiguousarray(pics.transpose(0, 3, 1, 2)).tobytes() if isinstance(pics, np.ndarray)
               else pics.tobytes())
        atomic_write_bytes(args.output, out, inputs=[args.input], what="output")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        _check_numbers(args)
        return _encode(args) if args.command == "encode" else _decode(args)
    except (GfvcError, ValueError, OSError) as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
