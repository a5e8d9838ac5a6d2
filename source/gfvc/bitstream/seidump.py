"""gfvc-seidump: list the NAL units of an Annex-B stream and every SEI message's syntax elements.

    gfvc-seidump stream.bin [--codec hevc|vvc] [--json]

Text output is modelled on HM's decoded-SEI output (element name padded to 55 columns, then
its value); ``--json`` prints a JSON array with one object per NAL unit. Payload types this
package does not know are shown as bytes. A malformed SEI NAL unit is reported (with its
byte offset) and dumping goes on; a stream that cannot be split stops the dump. The input
must be a regular file of at most --max-bytes (default 2 GiB). Exit status: 0 clean, 1 a
bitstream error was found (including a stream of the other codec), 2 bad command line,
unreadable input or unwritable output.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, TextIO

from ..errors import FileProblem
from ..files import check_input_file, read_input_bytes
from .errors import BitstreamError
from .nal import CODECS, NalUnit, check_stream_codec, codec_fit, parse_nal_header, split_nal_units
from .sei import SeiContext, SeiMessage, parse_sei_nal

#: default limit on the stream size (a FIFO or /dev/zero is refused as not a regular file)
MAX_STREAM_BYTES = 2 << 30
_EXTENSIONS = {".265": "hevc", ".hevc": "hevc", ".h265": "hevc",
               ".266": "vvc", ".vvc": "vvc", ".h266": "vvc"}
# NAL unit types that can open a stream (parameter sets, AUD, SEI, IRAP pictures)
_OPENING_TYPES = {"hevc": {32, 33, 34, 35, 39, 40, 16, 17, 18, 19, 20, 21},
                  "vvc": {12, 13, 14, 15, 16, 20, 23, 24, 7, 8, 9, 10}}


def detect_codec(path: Path, data: bytes) -> str:
    """The codec whose NAL unit headers the stream fits (:func:`codec_fit`); when both or
    neither fit, the file extension, else the first NAL unit header."""
    fits = [codec for codec in CODECS if codec_fit(data, codec).plausible]
    if len(fits) == 1:
        return fits[0]
    if path.suffix.lower() in _EXTENSIONS:
        return _EXTENSIONS[path.suffix.lower()]
    sc = data.find(b"\x00\x00\x01")
    header = data[sc + 3:sc + 5] if sc >= 0 else b""
    fits = []
    for codec in CODECS:
        try:
            nal_unit_type = parse_nal_header(codec, header)[0]
        except BitstreamError:
            continue
        if nal_unit_type in _OPENING_TYPES[codec]:
            fits.append(codec)
    if len(fits) != 1:
        raise BitstreamError("cannot tell whether the stream is HEVC or VVC: use --codec", 0)
    return fits[0]


def _json_value(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).hex()
    if isinstance(value, bool):
        return int(value)
    return value


def _text_value(value: Any) -> str:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).hex() if value else "(none)"
    if isinstance(value, bool):
        return str(int(value))
    return str(value)


def _message_object(msg: SeiMessage) -> Dict[str, Any]:
    return {"payloadType": msg.payload_type, "payloadSize": msg.payload_size, "name": msg.name,
            "offset": msg.offset,
            "elements": {e.name: _json_value(e.value) for e in (msg.trace or [])},
            **({"extension_bits": msg.extension_bits} if msg.extension_bits else {}),
            **({"warnings": list(msg.warnings)} if msg.warnings else {})}


def _print_message(msg: SeiMessage, out: TextIO) -> None:
    header = f"{msg.name} SEI message (payloadType {msg.payload_type}, {msg.payload_size} bytes)"
    out.write("  " + "-" * len(header) + "\n")
    out.write(f"  {header} @ {msg.offset}\n")
    for e in msg.trace or []:
        out.write(f"    {e.name:<55}: {_text_value(e.value)}\n")
    if msg.extension_bits:
        out.write(f"    {'reserved_payload_extension_data':<55}: {msg.extension_bits} bits\n")
    for warning in msg.warnings:
        out.write(f"  warning: {warning}\n")


def dump(data: bytes, codec: str, out: TextIO, as_json: bool) -> int:
    """Dump a stream; returns the number of bitstream errors found."""
    nals = split_nal_units(data, codec)
    context = SeiContext()
    objects: List[Dict[str, Any]] = []
    errors = 0
    if not as_json:
        out.write(f"{codec} stream, {len(data)} bytes, {len(nals)} NAL units\n")
    for index, nal in enumerate(nals):
        messages: List[SeiMessage] = []
        error: Optional[str] = None
        if nal.is_sei:
            try:
                messages = parse_sei_nal(nal, context, trace=True)
            except BitstreamError as exc:
                error, errors = str(exc), errors + 1
        if as_json:
            obj = _nal_object(index, nal)
            if nal.is_sei:
                obj["sei_messages"] = [_message_object(m) for m in messages]
            if error:
                obj["error"] = error
            objects.append(obj)
            continue
        out.write(f"NAL {index:5d} @ {nal.offset:<9d} {nal.type_name + f' ({nal.nal_unit_type})':<22} "
                  f"layer {nal.layer_id} tid {nal.temporal_id}  {nal.size} bytes\n")
        for msg in messages:
            _print_message(msg, out)
        if error:
            out.write(f"  error: {error}\n")
    if as_json:
        json.dump(objects, out, indent=1)
        out.write("\n")
    return errors


def _nal_object(index: int, nal: NalUnit) -> Dict[str, Any]:
    return {"index": index, "offset": nal.offset, "codec": nal.codec,
            "nal_unit_type": nal.nal_unit_type, "type_name": nal.type_name,
            "layer_id": nal.layer_id, "temporal_id": nal.temporal_id, "size": nal.size}


def _silence_stdout() -> None:
    """After a failed write: point fd 1 at /dev/null so that the interpreter's final flush of
    the buffered output does not fail again (and print a traceback) at exit."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
    finally:
        os.close(devnull)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="gfvc-seidump",
        description="List the NAL units of an HEVC/VVC Annex-B stream and print every SEI "
                    "message's syntax elements (GFV, GFVE, gfvc project payloads).")
    parser.add_argument("stream", help="Annex-B file (.bin/.265/.266)")
    parser.add_argument("--codec", choices=("auto",) + CODECS, default="auto",
                        help="stream codec (default: from the NAL unit headers, else the extension)")
    parser.add_argument("--json", action="store_true", help="print a JSON array, one object per NAL unit")
    parser.add_argument("--max-bytes", type=int, default=MAX_STREAM_BYTES, metavar="N",
                        help=f"refuse streams larger than N bytes (default {MAX_STREAM_BYTES})")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    if sys.stdout is None:      # started with file descriptor 1 closed
        print("gfvc-seidump: error: standard output is closed", file=sys.stderr)
        return 2
    if args.max_bytes <= 0:
        print("gfvc-seidump: error: --max-bytes must be positive", file=sys.stderr)
        return 2
    path = Path(args.stream)
    try:
        # read_input_bytes reads max_bytes + 1 at once: ask for no more than the file holds
        size = check_input_file(path, "stream").stat().st_size
        data = read_input_bytes(path, "stream", min(size, args.max_bytes))
    except FileProblem as exc:
        print(f"gfvc-seidump: error: cannot read: {exc}", file=sys.stderr)
        return 2
    try:
        codec = detect_codec(path, data) if args.codec == "auto" else args.codec
        check_stream_codec(data, codec)
        errors = dump(data, codec, sys.stdout, args.json)
        sys.stdout.flush()
    except BitstreamError as exc:
        print(f"gfvc-seidump: error: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:   # output piped into a reader that stopped early (e.g. head)
        _silence_stdout()
        return 0
    except OSError as exc:    # /dev/full, a closed pipe end, a full disk
        _silence_stdout()
        print(f"gfvc-seidump: error: cannot write the output: {exc.strerror or exc}",
              file=sys.stderr)
        return 2
    if errors:
        print(f"gfvc-seidump: {errors} SEI NAL unit(s) with errors", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
