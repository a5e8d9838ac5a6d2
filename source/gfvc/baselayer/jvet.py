"""HM and VTM: the JVET reference encoder/decoder apps, run as subprocesses.

Binaries: HM ``TAppEncoder``/``TAppDecoder``, VTM ``EncoderApp``/``DecoderApp``, named by the
backend options ``encoder=``/``decoder=`` or the environment variables GFVC_HM_ENCODER,
GFVC_HM_DECODER, GFVC_VTM_ENCODER, GFVC_VTM_DECODER. The encoder is given two cfg files, the
structure cfg from ``cfg/hm`` or ``cfg/vtm`` (package data of gfvc.baselayer; GFVC_CFG_DIR or
the option ``cfg_dir=`` names a folder of your own) and a per-sequence cfg written next to the input
(size, frame rate, frame count, input bit depth 8, level, chroma format), plus ``-q QP``. No
reconstruction file is asked for: pictures always come from the decoder app's output.

RGB 4:4:4 (the CTC's native format): the planar RGB pictures are written as a 4:4:4 file in
R, G, B plane order and the encoder is told ``InputColourSpaceConvert: RGBtoGBR`` (codes the G
plane as the first component, as the JVET RGB conditions do) with ``ChromaFormatIDC: 444``;
VTM also enables the adaptive colour transform (``ColorTransform: 1``). The decoder is run
with ``--OutputColourSpaceConvert=GBRtoRGB`` so its output file is R, G, B again.
"""
from __future__ import annotations

import os
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import FileProblem
from ..files import check_input_file
from ..io import Yuv420
from .annexb import access_unit_sizes, split_nal_units
from .decoders import check_dimension, check_size, check_stream_complete, pix_fmt_of, split_raw_frames
from .errors import BaseLayerError, PictureFormatError, ToolFailedError
from .interface import Backend, DecodeResult, EncodeResult, Pictures, check_picture_count, is_rgb, picture_count, picture_size
from .process import resolve_executable, run_tool, stderr_tail
from .md5 import plane_md5
from .samples import to_8bit
from .sps import read_sequence_info

#: environment variable naming a folder with ``hm/`` and ``vtm/`` cfg folders that replace the packaged ones
CFG_DIR_ENV = "GFVC_CFG_DIR"


def packaged_cfg_dir() -> Path:
    """The structure cfg files shipped inside the package (``gfvc/baselayer/cfg/{hm,vtm}``).

    Found through importlib.resources, so an installed (non-editable) package finds them too.
    """
    return Path(str(resources.files(__package__).joinpath("cfg")))


def _level_for(width: int, height: int, fps: float) -> str:
    """Lowest HEVC/VVC level whose luma picture size and sample rate fit (Table A.6 / A.8 limits)."""
    size, rate = width * height, width * height * fps
    for level, max_size, max_rate in (("2", 122880, 3686400), ("2.1", 245760, 7372800),
                                      ("3", 552960, 16588800), ("3.1", 983040, 33177600),
                                      ("4", 2228224, 66846720), ("4.1", 2228224, 133693440),
                                      ("5", 8912896, 267386880), ("5.1", 8912896, 534773760),
                                      ("6", 35651584, 1069547520)):
        if size <= max_size and rate <= max_rate:
            return level
    return "6.2"


def sequence_cfg(width: int, height: int, fps: float, frames: int, rgb: bool, vtm: bool) -> str:
    """The per-sequence cfg (JVET style ``Key : value``)."""
    fr = int(fps) if float(fps).is_integer() else fps
    lines = [
        "# gfvc per-sequence configuration (written by gfvc.baselayer.jvet)",
        f"SourceWidth                   : {width}",
        f"SourceHeight                  : {height}",
        f"FrameRate                     : {fr}",
        f"FramesToBeEncoded             : {frames}",
        "FrameSkip                     : 0",
        "InputBitDepth                 : 8",
        f"InputChromaFormat             : {'444' if rgb else '420'}",
        f"Level                         : {_level_for(width, height, fps)}",
    ]
    if rgb:
        lines += ["ChromaFormatIDC               : 444",
                  "InputColourSpaceConvert       : RGBtoGBR",
                  # VUI colour description: the stream says its components are G, B, R
                  # (matrix_coefficients 0, identity) and full range, so decoders output RGB.
                  "VuiParametersPresent          : 1",
                  "VideoSignalTypePresent        : 1",
                  "VideoFullRange                : 1",
                  "ColourDescriptionPresent      : 1",
                  "ColourPrimaries               : 2           # unspecified: gfvc does not know the source's",
                  "TransferCharacteristics       : 2           # unspecified",
                  "MatrixCoefficients            : 0           # GBR (identity)"]
        if vtm:
            lines.append("ColorTransform                : 1")  # adaptive colour transform (ACT)
        else:
            lines.append("Profile                       : main-RExt")  # HM: 4:4:4 needs a RExt profile
    else:
        lines.append("ChromaFormatIDC               : 420")
    return "\n".join(lines) + "\n"


class JvetBackend(Backend):
    structures = ("intra", "lowdelay_B", "lowdelay_P")
    rgb_ok = True
    family = ""  # 'hm' / 'vtm'
    encoder_app = decoder_app = ""
    structure_cfgs: dict[str, str] = {}

    def __init__(self, encoder: str | None = None, decoder: str | None = None, cfg_dir: str | os.PathLike | None = None):
        up = self.family.upper()
        self.encoder_env, self.decoder_env = f"GFVC_{up}_ENCODER", f"GFVC_{up}_DECODER"
        self._encoder = encoder or os.environ.get(self.encoder_env)
        self._decoder = decoder or os.environ.get(self.decoder_env)
        self.cfg_dir = Path(cfg_dir or os.environ.get(CFG_DIR_ENV) or packaged_cfg_dir()) / self.family

    def _exe(self, which: str) -> str:
        app, env, value = ((self.encoder_app, self.encoder_env, self._encoder) if which == "encoder"
                           else (self.decoder_app, self.decoder_env, self._decoder))
        return resolve_executable(value, tool=f"{self.family.upper()} {app}",
                                  how_to_set=f"set environment variable {env} or the backend option "
                                             f"'{which}' (config key baselayer.{which}) to the {app} binary")

    def structure_cfg(self, structure: str) -> Path:
        self.check_structure(structure)
        path = self.cfg_dir / self.structure_cfgs[structure]
        try:  # missing, or a directory/FIFO/device where the cfg file should be: said as such
            check_input_file(path, f"{self.name} structure cfg")
        except FileProblem as e:
            raise BaseLayerError(f"{e} (set {CFG_DIR_ENV} or cfg_dir to a folder with hm/ and vtm/ cfg folders)",
                                 tool=self.name) from None
        return path

    def settings(self) -> dict[str, Any]:
        cfgs = {}
        for s in self.structures:
            p = self.cfg_dir / self.structure_cfgs[s]
            cfgs[s] = p.read_text() if p.is_file() else None
        return {"backend": self.name, "codec": self.codec, "encoder": str(self._encoder),
                "decoder": str(self._decoder), "structure_cfgs": cfgs, "decoder_output": "native bit depth (-d 0)"}

    def _encode(self, pictures: Pictures, qp: int, structure: str, fps: float,
                intra_qp: int | None = None) -> EncodeResult:
        exe = self._exe("encoder")
        cfg = self.structure_cfg(structure)
        w, h = picture_size(pictures)
        n = picture_count(pictures)
        rgb = is_rgb(pictures)
        with tempfile.TemporaryDirectory(prefix=f"gfvc-{self.family}-") as tmp:
            tmp = Path(tmp)
            src = tmp / ("input.rgb" if rgb else "input.yuv")
            src.write_bytes(np.ascontiguousarray(pictures.transpose(0, 3, 1, 2)).tobytes() if rgb
                            else pictures.tobytes())
            seq = tmp / "sequence.cfg"
            seq_text = sequence_cfg(w, h, fps, n, rgb, self.family == "vtm")
            seq.write_text(seq_text)
            out = tmp / "stream.bin"
            cmd = [exe, "-c", str(cfg), "-c", str(seq), "-i", str(src), "-b", str(out), "-q", str(qp)]
            if intra_qp is not None:
                cmd.append(f"--IntraQPOffset={intra_qp - qp}")
            run = run_tool(cmd, tool=f"{self.family.upper()} {self.encoder_app}", cwd=tmp, what="encode")
            bitstream = out.read_bytes() if out.is_file() else b""
        if not bitstream:
            raise ToolFailedError(f"{self.family.upper()} {self.encoder_app} wrote no bitstream",
                                  tool=self.encoder_app, stderr_tail=stderr_tail(run.stderr) or stderr_tail(run.stdout))
        return EncodeResult(bitstream, access_unit_sizes(bitstream, self.codec), run.seconds, run.command,
                            dict(self.settings(), qp=qp, structure=structure, fps=fps, sequence_cfg=seq_text,
                                 structure_cfg=str(cfg)))

    def decode(self, bitstream: bytes, width: int | None = None, height: int | None = None,
               expected_frames: int | None = None, rgb: bool = False) -> DecodeResult:
        """Run the decoder app; its output file is read at the size and bit depth the stream's SPS gives.

        The app writes the samples at the stream's own bit depth (``-d 0``): those give the
        HM/VTM-style MD5 (``native_md5`` above 8 bits) and are brought to 8 bits as in
        gfvc.baselayer.samples (what ``-d 8`` would write).
        """
        tool = f"{self.family.upper()} {self.decoder_app}"
        for value, what in ((width, "width"), (height, "height"), (expected_frames, "the expected number of pictures")):
            check_dimension(value, what)
        exe = self._exe("decoder")
        units = split_nal_units(bitstream, self.codec)
        info = read_sequence_info(units, self.codec)
        if info is None:
            raise BaseLayerError(f"{tool}: the stream's picture size cannot be read from its SPS (subpictures or "
                                 "size changes inside the sequence are not supported)", tool=tool)
        check_size((info.width, info.height), width, height, tool)
        if info.chroma_format_idc == 3 and not rgb:
            raise PictureFormatError(f"{tool}: the stream is 4:4:4; decode it as RGB (rgb=True, --rgb444)", tool=tool)
        pix_fmt = pix_fmt_of(info, tool)
        if rgb:  # the app converts GBR to RGB and writes three full-size planes
            pix_fmt = pix_fmt.replace("420", "444")
        with tempfile.TemporaryDirectory(prefix=f"gfvc-{self.family}-") as tmp:
            tmp = Path(tmp)
            src, out = tmp / "stream.bin", tmp / "decoded.yuv"
            src.write_bytes(bitstream)
            cmd = [exe, "-b", str(src), "-o", str(out), "-d", "0"]
            if rgb:
                cmd.append("--OutputColourSpaceConvert=GBRtoRGB")
            run = run_tool(cmd, tool=tool, cwd=tmp, what="decode")
            data = out.read_bytes() if out.is_file() else b""
        if not data:
            raise ToolFailedError(f"{tool} wrote no pictures", tool=tool,
                                  stderr_tail=stderr_tail(run.stderr) or stderr_tail(run.stdout))
        planes = split_raw_frames(data, pix_fmt, info.width, info.height, tool)  # Y, Cb, Cr or R, G, B
        n = planes[0].shape[0]
        check_picture_count(n, expected_frames, tool)
        check_stream_complete(bitstream, self.codec, n, units=units)
        depth = info.bit_depth
        out8 = [to_8bit(p, depth) for p in planes]
        if rgb:
            pictures = np.ascontiguousarray(np.stack(out8, axis=-1))
            coded_order = (planes[1], planes[2], planes[0])  # G, B, R: the components as coded
        else:
            pictures = Yuv420(*out8)
            coded_order = tuple(planes)
        native = None if depth == 8 else [",".join(plane_md5(p[i]) for p in coded_order) for i in range(n)]
        return DecodeResult(pictures, run.seconds, run.command, self.decoder_app, depth, native)


class HMBackend(JvetBackend):
    name = "hm"
    family = "hm"
    codec = "hevc"
    qp_max = 51
    encoder_app, decoder_app = "TAppEncoder", "TAppDecoder"
    structure_cfgs = {"intra": "encoder_intra_main.cfg", "lowdelay_B": "encoder_lowdelay_main.cfg",
                      "lowdelay_P": "encoder_lowdelay_P_main.cfg"}


class VTMBackend(JvetBackend):
    name = "vtm"
    family = "vtm"
    codec = "vvc"
    qp_max = 63
    encoder_app, decoder_app = "EncoderApp", "DecoderApp"
    structure_cfgs = {"intra": "encoder_intra_vtm.cfg", "lowdelay_B": "encoder_lowdelay_vtm.cfg",
                      "lowdelay_P": "encoder_lowdelay_P_vtm.cfg"}
