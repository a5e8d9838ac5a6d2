"""The built-in backends: x265 (HEVC) and vvenc (VVC) inside the static ffmpeg of the pinned
imageio-ffmpeg wheel. Raw pictures go in on stdin, the raw Annex-B stream is written by the ``hevc``/``vvc`` raw
muxers to a file in a temporary folder (not to stdout: vvenc prints some warnings on stdout,
which would land inside the stream): no container, no second codec.

Fixed-QP settings, written out so that the stream depends on nothing else:
- x265: ``qp=Q`` with ``ipratio=1:pbratio=1`` (every slice at QP Q: x265 otherwise codes I
  slices about 3 QP finer), ``aq-mode=0``, ``scenecut=0``, ``info=0`` (no settings SEI, see
  doc/codec.md "Rate": every byte counts), one thread (``pools=none:frame-threads=1``) so that repeats are
  byte-identical. ``intra``: ``keyint=1`` (every picture IDR); ``lowdelay_P``:
  ``keyint=-1:bframes=0:ref=4`` (one IDR, then P pictures with 4 references). x265 has no
  generalized-B (low-delay B) mode, so ``lowdelay_B`` is refused.
- vvenc: ``-qp Q -qpa 0 -b:v 0`` (no perceptual QP adaptation, no rate control) and
  ``IntraQPOffset=0:BIM=0:MCTF=0`` (no block-importance QP changes, no temporal pre-filter),
  one thread. ``intra``: ``GOPSize=1:IntraPeriod=1`` (IDR, then CRA pictures); ``lowdelay_B``:
  ``GOPSize=8:PicReordering=0:DecodingRefreshType=none:IntraPeriod=-1`` (one intra picture,
  then vvenc's low-delay GOP of 8 B pictures with VTM's QP offsets 5,4,5,4,5,4,5,1).
  vvenc takes 10-bit input only: pictures are sent as 8-bit << 2 and the 10-bit output is
  brought back with the rounding shift of gfvc.baselayer.samples (as VTM's ``-d 8`` does).
  vvenc codes no P slices, so ``lowdelay_P`` is refused.
"""
from __future__ import annotations

import functools
import re
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from ..io import Yuv420
from .annexb import access_unit_sizes
from .decoders import DECODERS, decode_stream
from .errors import ToolFailedError
from .ffmpeg_exe import ffmpeg_version, static_ffmpeg
from .interface import Backend, DecodeResult, EncodeResult, Pictures, is_rgb, picture_count, picture_size
from .process import run_tool, stderr_tail
from .samples import to_10bit


def _yuv_bytes(pictures: Yuv420, ten_bit: bool) -> bytes:
    if not ten_bit:
        return pictures.tobytes()
    return b"".join(to_10bit(p[i]).astype("<u2").tobytes()
                    for i in range(pictures.num_frames) for p in (pictures.y, pictures.u, pictures.v))


def _gbr_bytes(rgb: np.ndarray) -> bytes:
    # ffmpeg's gbrp layout: the G plane, then B, then R.
    return np.ascontiguousarray(rgb[..., [1, 2, 0]].transpose(0, 3, 1, 2)).tobytes()


class FfmpegBackend(Backend):
    """Shared part of the x265 and vvenc backends."""

    encoder_name = ""  # ffmpeg encoder, 'libx265' / 'libvvenc'
    muxer = ""  # raw Annex-B muxer, 'hevc' / 'vvc'
    input_pix_fmt = "yuv420p"  # what YUV 4:2:0 pictures are sent as
    default_preset = "medium"

    def __init__(self, preset: str | None = None, decoder: str = "pyav", ffmpeg: str | None = None):
        if decoder not in DECODERS:
            raise ValueError(f"unknown decoder {decoder!r}; choose one of {', '.join(DECODERS)}")
        self.preset = preset or self.default_preset
        self.decoder = decoder
        self._ffmpeg = ffmpeg

    @property
    def ffmpeg(self) -> str:
        if self._ffmpeg is None:
            self._ffmpeg = static_ffmpeg()
        return self._ffmpeg

    def settings(self) -> dict[str, Any]:
        return {"backend": self.name, "codec": self.codec, "ffmpeg": ffmpeg_version(self.ffmpeg),
                "encoder": self.encoder_name, "encoder_version": library_version(self.ffmpeg, self.encoder_name),
                "preset": self.preset, "decoder": self.decoder, "threads": 1,
                "codec_args": {s: " ".join(self.codec_args("QP", s)) for s in self.structures}}

    def _input_args(self, pictures: Pictures, fps: float) -> tuple[list[str], bytes]:
        w, h = picture_size(pictures)
        if is_rgb(pictures):
            pix_fmt, data = "gbrp", _gbr_bytes(pictures)
        else:
            pix_fmt, data = self.input_pix_fmt, _yuv_bytes(pictures, self.input_pix_fmt.endswith("10le"))
        return ["-f", "rawvideo", "-pix_fmt", pix_fmt, "-s", f"{w}x{h}", "-r", f"{fps:g}", "-i", "pipe:0"], data

    def _encode(self, pictures: Pictures, qp: int, structure: str, fps: float,
                intra_qp: int | None = None) -> EncodeResult:
        in_args, data = self._input_args(pictures, fps)
        tool = f"ffmpeg/{self.encoder_name}"
        with tempfile.TemporaryDirectory(prefix="gfvc-enc-") as tmp:
            # The stream goes to a file, not to stdout: vvenc prints some configuration warnings
            # on stdout itself ("ALFSpeed would disable ALF ..." with the faster presets), and
            # they would end up inside the Annex-B stream.
            out = Path(tmp) / f"stream.{self.muxer}"
            cmd = ([self.ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-fflags", "+bitexact"] + in_args
                   + ["-frames:v", str(picture_count(pictures)), "-threads", "1", "-c:v", self.encoder_name,
                      "-preset", self.preset] + self.codec_args(qp, structure, intra_qp)
                   + ["-f", self.muxer, str(out)])
            run = run_tool(cmd, tool=tool, stdin=data, what="encode")
            bitstream = out.read_bytes() if out.is_file() else b""
        if not bitstream:
            raise ToolFailedError(f"{tool} wrote no bitstream", tool=tool,
                                  stderr_tail=stderr_tail(run.stderr) or "(nothing on stderr)")
        w, h = picture_size(pictures)
        io = f"{picture_count(pictures)} raw {in_args[3]} pictures {w}x{h} on stdin; Annex-B stream to a file"
        return EncodeResult(bitstream, access_unit_sizes(bitstream, self.codec), run.seconds, run.command,
                            dict(self.settings(), qp=qp, intra_qp=qp if intra_qp is None else intra_qp,
                                 structure=structure, fps=fps, io=io))

    def codec_args(self, qp: int | str, structure: str, intra_qp: int | None = None) -> list[str]:
        """The encoder's options for a QP (or a placeholder), a structure and an intra-picture QP."""
        raise NotImplementedError

    def decode(self, bitstream: bytes, width: int, height: int, expected_frames: int | None = None,
               decoder: str | None = None) -> DecodeResult:
        return decode_stream(bitstream, self.codec, decoder or self.decoder, width=width, height=height,
                             expected_frames=expected_frames, ffmpeg=self._ffmpeg)


class X265Backend(FfmpegBackend):
    name = "x265"
    codec = "hevc"
    structures = ("intra", "lowdelay_P")
    qp_max = 51
    rgb_ok = True
    encoder_name = "libx265"
    muxer = "hevc"

    def structure_options(self, structure: str, qp: int | str, intra_qp: int | None = None) -> str:
        # x265 codes I slices at qp - 6*log2(ipratio): an exact power of two gives the intra QP
        # (checked: the first picture's bytes equal a one-picture encode at intra_qp)
        ipratio = "1" if intra_qp is None else f"{2.0 ** ((int(qp) - intra_qp) / 6.0):.9f}"
        common = (f"qp={qp}:ipratio={ipratio}:pbratio=1:aq-mode=0:scenecut=0:info=0:pools=none:frame-threads=1"
                  ":log-level=error")
        if structure == "intra":
            return common + ":keyint=1:min-keyint=1"
        return common + ":keyint=-1:bframes=0:ref=4:open-gop=0"

    def codec_args(self, qp: int | str, structure: str, intra_qp: int | None = None) -> list[str]:
        return ["-x265-params", self.structure_options(structure, qp, intra_qp)]


class VvencBackend(FfmpegBackend):
    name = "vvenc"
    codec = "vvc"
    structures = ("intra", "lowdelay_B")
    qp_max = 63
    rgb_ok = False
    encoder_name = "libvvenc"
    muxer = "vvc"
    input_pix_fmt = "yuv420p10le"

    def structure_options(self, structure: str, qp: int | str, intra_qp: int | None = None) -> str:
        offset = 0 if intra_qp is None else intra_qp - int(qp)
        common = f"Threads=1:IntraQPOffset={offset}:BIM=0:MCTF=0"
        if structure == "intra":
            return common + ":GOPSize=1:IntraPeriod=1:DecodingRefreshType=cra"
        return common + ":GOPSize=8:PicReordering=0:DecodingRefreshType=none:IntraPeriod=-1"

    def codec_args(self, qp: int | str, structure: str, intra_qp: int | None = None) -> list[str]:
        return ["-b:v", "0", "-qp", str(qp), "-qpa", "0", "-vvenc-params",
                self.structure_options(structure, qp, intra_qp)]


_VERSION_PROBES = {
    # encoder -> (pixel format, extra args, regex on the info log)
    "libx265": ("yuv420p", ["-x265-params", "log-level=info"], r"HEVC encoder version (\S+)"),
    "libvvenc": ("yuv420p10le", [], r"libvvenc version: (\S+)"),
}


@functools.lru_cache(maxsize=None)
def library_version(ffmpeg: str, encoder: str) -> str:
    """The encoder library's version as it reports itself when opened (e.g. x265 '4.3')."""
    pix_fmt, extra, pattern = _VERSION_PROBES[encoder]
    cmd = [ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "info", "-f", "lavfi", "-i",
           "color=size=64x64:rate=25:duration=0.04", "-frames:v", "1", "-pix_fmt", pix_fmt,
           "-c:v", encoder] + extra + ["-f", "null", "-"]
    try:
        run = run_tool(cmd, tool=f"ffmpeg/{encoder}", what="version probe")
    except ToolFailedError:
        return "unknown"
    m = re.search(pattern, run.stderr.decode("utf-8", "replace"))
    return m.group(1) if m else "unknown"
