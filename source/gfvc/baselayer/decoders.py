"""Independent decoders of HEVC/VVC Annex-B streams, all returning the same picture types.

- ``pyav``: FFmpeg's native hevc/vvc decoders in-process through PyAV (the default; no process
  per picture, single-threaded so that frames come out deterministically),
- ``ffmpeg``: the static ffmpeg of the imageio-ffmpeg wheel, one process per stream, raw output
  in the stream's own pixel format (no conversion inside ffmpeg),
- ``dec265``: libde265's decoder app (HEVC only; Debian package libde265-examples).
High-bit-depth output (VVC from vvenc is 10-bit) is brought to 8 bits by gfvc.baselayer.samples.
"""
from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gfvc.bitstream import NalUnit

from ..io import Yuv420
from .annexb import AU_OPENING_TYPES, coded_picture_count, split_nal_units
from .errors import BaseLayerError, MissingBinaryError, PictureFormatError, StreamTruncatedError, ToolFailedError
from .ffmpeg_exe import static_ffmpeg
from .interface import DecodeResult, check_picture_count
from .md5 import plane_md5
from .process import run_tool, stderr_tail
from .samples import to_8bit
from .sps import SequenceInfo, read_sequence_info

# pixel format -> (planes are GBR?, chroma subsampling shift, bit depth)
_FORMATS = {
    "yuv420p": (False, 1, 8), "yuv420p10le": (False, 1, 10),
    "gbrp": (True, 0, 8), "gbrp10le": (True, 0, 10),
    "yuv444p": (False, 0, 8), "yuv444p10le": (False, 0, 10),
}
DECODERS = ("pyav", "ffmpeg", "dec265")


@dataclass
class RawPictures:
    """Decoded planes as the decoder produced them: 3 arrays (N, h, w), uint8 or uint16."""

    pix_fmt: str
    planes: list[np.ndarray]

    @property
    def bit_depth(self) -> int:
        return _FORMATS[self.pix_fmt][2]

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the pictures"""
        return self.planes[0].shape[2], self.planes[0].shape[1]

    def to_output(self):
        """Yuv420 (8-bit) for 4:2:0, (N, H, W, 3) RGB for GBR 4:4:4."""
        gbr, sub, depth = _FORMATS[self.pix_fmt]
        p = [to_8bit(x, depth) for x in self.planes]
        if gbr:
            g, b, r = p
            return np.ascontiguousarray(np.stack([r, g, b], axis=-1))
        if sub != 1:
            raise PictureFormatError(f"decoded pictures are {self.pix_fmt}; only 4:2:0 YUV and GBR 4:4:4 are supported")
        return Yuv420(p[0], p[1], p[2])


def _check_format(pix_fmt: str, tool: str) -> None:
    if pix_fmt not in _FORMATS:
        raise PictureFormatError(f"{tool} decoded pictures in pixel format {pix_fmt!r}, which gfvc does not handle "
                                 f"(supported: {', '.join(_FORMATS)})", tool=tool)


def split_raw_frames(data: bytes, pix_fmt: str, width: int, height: int, tool: str = "decoder") -> list[np.ndarray]:
    """The three planes (N, h, w) of a raw planar output file (16-bit little-endian above 8 bits)."""
    gbr, sub, depth = _FORMATS[pix_fmt]
    dt = np.dtype("<u2") if depth > 8 else np.dtype(np.uint8)
    cw, ch = width >> sub, height >> sub
    sizes = [width * height, cw * ch, cw * ch]
    frame = sum(sizes) * dt.itemsize
    if len(data) % frame:
        raise ToolFailedError(f"{tool} output of {len(data)} bytes is not a whole number of {width}x{height} "
                              f"{pix_fmt} pictures", tool=tool)
    n = len(data) // frame
    a = np.frombuffer(data, dt).reshape(n, sum(sizes))
    out, off = [], 0
    for (h, w), s in zip(((height, width), (ch, cw), (ch, cw)), sizes):
        out.append(a[:, off:off + s].reshape(n, h, w).astype(np.uint16 if depth > 8 else np.uint8))
        off += s
    return out


def _frame_planes(frame, pix_fmt: str) -> list[np.ndarray]:
    depth = _FORMATS[pix_fmt][2]
    dt = np.dtype("<u2") if depth > 8 else np.dtype(np.uint8)
    planes = []
    for plane in frame.planes:
        w, h = plane.width, plane.height
        a = np.frombuffer(memoryview(plane), dt).reshape(h, plane.line_size // dt.itemsize)[:, :w]
        planes.append(a.astype(np.uint16 if depth > 8 else np.uint8))
    return planes


def decode_pyav(bitstream: bytes, codec: str) -> tuple[RawPictures, float, str]:
    import av

    t0 = time.perf_counter()
    try:
        ctx = av.CodecContext.create(codec, "r")
        ctx.thread_type = "NONE"
        ctx.thread_count = 1
        frames = []
        for packet in ctx.parse(bitstream) + ctx.parse(None):
            frames.extend(ctx.decode(packet))
        frames.extend(ctx.decode(None))
    except (av.error.FFmpegError, ValueError) as e:
        raise ToolFailedError(f"PyAV {codec} decoder failed", tool="pyav", stderr_tail=str(e)) from None
    if not frames:
        raise ToolFailedError(f"PyAV {codec} decoder returned no picture (not a decodable {codec.upper()} stream?)",
                              tool="pyav")
    pix_fmt = frames[0].format.name
    _check_format(pix_fmt, "pyav")
    per_frame = [_frame_planes(f, pix_fmt) for f in frames]
    planes = [np.stack([pf[c] for pf in per_frame]) for c in range(3)]
    return RawPictures(pix_fmt, planes), time.perf_counter() - t0, f"PyAV {av.__version__} ({codec} decoder, in-process)"


_STREAM_FMT = re.compile(r"Stream #0:0.*?Video: rawvideo[^,]*, (\w+)")


def decode_ffmpeg(bitstream: bytes, codec: str, ffmpeg: str, workdir: Path) -> tuple[RawPictures, float, str]:
    src = workdir / f"stream.{'265' if codec == 'hevc' else '266'}"
    src.write_bytes(bitstream)
    cmd = [ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "info", "-threads", "1", "-f", codec, "-i", str(src),
           "-map", "0:v:0", "-f", "rawvideo", "pipe:1"]
    run = run_tool(cmd, tool="ffmpeg", what=f"{codec} decode")
    m = _STREAM_FMT.search(run.stderr.decode("utf-8", "replace"))
    if not m:
        raise ToolFailedError("ffmpeg did not report the decoded pixel format", tool="ffmpeg",
                              stderr_tail=stderr_tail(run.stderr))
    pix_fmt = m.group(1)
    _check_format(pix_fmt, "ffmpeg")
    size = re.search(r"rawvideo[^\n]*?, (\d+)x(\d+)", run.stderr.decode("utf-8", "replace"))
    width, height = int(size.group(1)), int(size.group(2))
    return RawPictures(pix_fmt, split_raw_frames(run.stdout, pix_fmt, width, height)), run.seconds, run.command


def find_dec265() -> str | None:
    for name in (os.environ.get("GFVC_DEC265"), "dec265", "libde265-dec265"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


class ConcealedError(ToolFailedError):
    """The decoder reported an error in the stream that it concealed (its pictures are not the coded ones)."""


def pix_fmt_of(info: SequenceInfo, tool: str) -> str:
    """The planar pixel format in which a raw-output decoder writes the pictures of ``info``."""
    if info.bit_depth != info.bit_depth_chroma or info.bit_depth not in (8, 10) or info.chroma_format_idc not in (1, 3):
        raise PictureFormatError(f"{tool}: the stream is {info.chroma_format} at {info.bit_depth}/{info.bit_depth_chroma} "
                                 "bits; gfvc reads 4:2:0 and 4:4:4 output at 8 or 10 bits only", tool=tool)
    return ("yuv420p" if info.chroma_format_idc == 1 else "yuv444p") + ("10le" if info.bit_depth == 10 else "")


def decode_dec265(bitstream: bytes, info: SequenceInfo, workdir: Path) -> tuple[RawPictures, float, str]:
    """libde265's app; its raw output is read with the size and format the stream's SPS announces."""
    exe = find_dec265()
    if exe is None:
        raise MissingBinaryError("dec265 not found: install Debian package libde265-examples or set GFVC_DEC265",
                                 tool="dec265")
    pix_fmt = pix_fmt_of(info, "dec265")
    src, out = workdir / "stream.265", workdir / "dec265.yuv"
    src.write_bytes(bitstream)
    run = run_tool([exe, "-q", "-t", "0", "-o", str(out), str(src)], tool="dec265", what="decode")
    said = stderr_tail(run.stderr)
    if "conceal" in said.lower():  # e.g. "CTB outside of image area (concealing stream error...)"
        raise ConcealedError("dec265 found an error in the stream and concealed it", tool="dec265", stderr_tail=said)
    data = out.read_bytes() if out.exists() else b""
    if not data:
        raise ToolFailedError("dec265 wrote no pictures", tool="dec265", stderr_tail=said)
    return RawPictures(pix_fmt, split_raw_frames(data, pix_fmt, info.width, info.height)), run.seconds, run.command


def check_size(got: tuple[int, int], width: int | None, height: int | None, tool: str) -> None:
    """The decoded size against the size the caller asked for (PictureFormatError when they differ)."""
    want = (width if width is not None else got[0], height if height is not None else got[1])
    if tuple(got) != want:
        raise PictureFormatError(f"the stream's pictures are {got[0]}x{got[1]}, not the requested {want[0]}x{want[1]} "
                                 f"({tool})", tool=tool)


def check_dimension(value: int | None, what: str) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value <= 0):
        raise ValueError(f"{what} must be a positive integer, got {value!r}")


def decode_stream(bitstream: bytes, codec: str, decoder: str = "pyav", *, width: int | None = None,
                  height: int | None = None, expected_frames: int | None = None,
                  ffmpeg: str | None = None, check_complete: bool = True) -> DecodeResult:
    """Decode an Annex-B stream with one of DECODERS.

    The decoded size is the stream's own (the decoder's output; for dec265's raw output file,
    the SPS) and must equal ``width`` x ``height`` when they are given; the picture count must
    equal ``expected_frames`` when given; a truncated stream is a StreamTruncatedError
    (check_stream_complete).
    """
    if decoder not in DECODERS:
        raise ValueError(f"unknown decoder {decoder!r}; choose one of {', '.join(DECODERS)}")
    check_dimension(width, "width")
    check_dimension(height, "height")
    check_dimension(expected_frames, "the expected number of pictures")
    if not bitstream:
        raise BaseLayerError("empty bitstream: nothing to decode", tool=decoder)
    units = None
    with tempfile.TemporaryDirectory(prefix="gfvc-dec-") as tmp:
        if decoder == "pyav":
            raw, seconds, command = decode_pyav(bitstream, codec)
        elif decoder == "ffmpeg":
            raw, seconds, command = decode_ffmpeg(bitstream, codec, ffmpeg or static_ffmpeg(), Path(tmp))
        else:
            if codec != "hevc":
                raise BaseLayerError("dec265 decodes HEVC only", tool="dec265")
            units = split_nal_units(bitstream, codec)  # dec265 writes raw pictures: their size comes from the SPS
            info = read_sequence_info(units, codec)
            if info is None:
                raise BaseLayerError("dec265: the stream's picture size cannot be read from its SPS", tool="dec265")
            check_size((info.width, info.height), width, height, decoder)
            try:
                raw, seconds, command = decode_dec265(bitstream, info, Path(tmp))
            except ConcealedError:
                if check_complete:  # say "truncated" when that is the reason
                    check_stream_complete(bitstream, codec, None, units=units)
                raise
    check_size(raw.size, width, height, decoder)
    pictures = raw.to_output()
    n = pictures.shape[0] if isinstance(pictures, np.ndarray) else pictures.num_frames
    check_picture_count(n, expected_frames, decoder)
    if check_complete:
        check_stream_complete(bitstream, codec, n, units=units, decoded=raw if decoder == "pyav" else None)
    native = None
    if raw.bit_depth > 8:
        native = [",".join(plane_md5(p[i]) for p in raw.planes) for i in range(raw.planes[0].shape[0])]
    return DecodeResult(pictures, seconds, command, decoder, raw.bit_depth, native)


# Bytes put after the last VCL NAL unit by check_stream_complete: no zero byte (so no start code
# or trailing_zero_8bits can form), and a pattern the decoders' own zero padding never matches.
_AFTER_END = b"\xff\xa5" * 32


def _pyav_planes(bitstream: bytes, codec: str) -> RawPictures | None:
    try:
        return decode_pyav(bitstream, codec)[0]
    except BaseLayerError:
        return None


def check_stream_complete(bitstream: bytes, codec: str, decoded_count: int | None, *, units: list[NalUnit] | None = None,
                          decoded: RawPictures | None = None) -> None:
    """Raise StreamTruncatedError when the stream evidently ends inside its last picture.

    Three checks, each sound for what it covers (doc/baselayer.md, "Truncated streams"):
    1. the stream must not end with NAL units that may only precede a picture (parameter sets,
       AUD, prefix SEI, picture header) with no picture after them, and its last VCL NAL unit
       must hold more than its header;
    2. the decoder must have output as many pictures as the stream codes (a picture whose
       slice header is cut is dropped by the decoders);
    3. a complete slice is decoded without reading past its rbsp_slice_segment_trailing_bits,
       so bytes put after the last VCL NAL unit cannot change any decoded picture. The stream is
       decoded again (FFmpeg's decoder, in-process) with such bytes; if any picture changes,
       the decoder read past the end of the stream: it was cut inside its last slice.
    ``decoded`` is the PyAV decode of ``bitstream`` when the caller has it (saves one decode).
    Not detected: a cut exactly between two pictures or two slices (nothing is incomplete), or a
    cut that removes only bits the decoder never needs (the pictures are then exactly right).
    """
    units = units if units is not None else split_nal_units(bitstream, codec)
    vcl = [i for i, u in enumerate(units) if u.is_vcl]
    if not vcl:
        raise BaseLayerError(f"the {codec.upper()} stream holds no coded picture")
    last = units[vcl[-1]]
    dangling = [u.type_name for u in units[vcl[-1] + 1:] if u.nal_unit_type in AU_OPENING_TYPES[codec]]
    if dangling:
        raise StreamTruncatedError(f"stream truncated: it ends with {', '.join(dangling)} after its last picture, "
                                   "announcing a picture that is missing")
    if len(last.data) < 3:
        raise StreamTruncatedError(f"stream truncated: its last NAL unit (byte {last.offset}) holds only a NAL unit "
                                   "header, no slice")
    coded = coded_picture_count(units, codec)
    if decoded_count is not None and decoded_count < coded:
        raise StreamTruncatedError(f"stream truncated or damaged: the stream codes {coded} pictures but the decoder "
                                   f"output {decoded_count}")
    reference = decoded if decoded is not None else _pyav_planes(bitstream, codec)
    if reference is None:
        return  # FFmpeg cannot decode this stream (the chosen decoder could): check 3 is not possible
    padded = _pyav_planes(bitstream[:last.end] + _AFTER_END + bitstream[last.end:], codec)
    same = (padded is not None and padded.pix_fmt == reference.pix_fmt
            and all(a.shape == b.shape and np.array_equal(a, b) for a, b in zip(padded.planes, reference.planes)))
    if not same:
        raise StreamTruncatedError(f"stream truncated: its last slice (NAL unit at byte {last.offset}, "
                                   f"{len(last.data)} bytes) ends before its slice data does")
