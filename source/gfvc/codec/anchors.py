"""The conventional anchors of the CTC as codecs of the harness: ``hevc_anchor``, ``vvc_anchor``.

Each codes a whole sequence in one encoder run and one decoder run (two processes per
sequence at most, plus one ``ffmpeg -version`` per session for the settings): RGB frames ->
YUV 4:2:0 (gfvc.io.rgb_to_yuv420 with the configured matrix) -> base-layer encoder in the
CTC's low-delay structure at QP ``rate_point`` -> Annex-B stream -> a decoder (never the
encoder's reconstruction) -> YUV 4:2:0 -> RGB.

QP rules (validate_rate_point):
- ``vvc_anchor``: integer QP 0..63; CTC points 37/42/47/52.
- ``hevc_anchor``: integer QP 0..51 (the HEVC range for 8-bit coding). QP 52, the VVC CTC's top
  point, is refused with a message saying so (no silent clamping: a BD-rate table must not show
  a point labelled 52 that was coded at 51); its default rate points are 37/42/47/51.
Structures: ``vvc_anchor`` codes VTM-style low-delay B (vvenc or VTM). ``hevc_anchor`` codes
low-delay B with HM; x265 has no generalized-B mode, so with the built-in x265 backend it codes
low-delay P (``structure`` can be set; the settings record which was used).
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from ..baselayer import DEFAULT_BACKEND, get_backend, picture_md5_list
from ..baselayer.interface import check_qp
from ..io import DEFAULT_MATRIX, MATRICES, Yuv420, rgb_to_yuv420, yuv420_to_rgb
from .registry import CodingResult, SequenceCodec, register_codec


class ConventionalAnchor(SequenceCodec):
    codec = ""  # 'hevc' / 'vvc'
    qp_max = 51
    qp_note = ""

    def __init__(self, backend: str | None = None, structure: str | None = None, matrix: str = DEFAULT_MATRIX,
                 preset: str | None = None, decoder: str | None = None, **backend_options):
        if matrix not in MATRICES:
            raise ValueError(f"unknown colour matrix {matrix!r}; known: {', '.join(MATRICES)}")
        self.backend_name = backend or DEFAULT_BACKEND[self.codec]
        options = dict(backend_options)
        if preset is not None:
            options["preset"] = preset
        if decoder is not None:
            options["decoder"] = decoder
        self.backend = get_backend(self.backend_name, **options)
        if self.backend.codec != self.codec:
            raise ValueError(f"{self.name} needs a {self.codec.upper()} backend, {self.backend_name!r} codes "
                             f"{self.backend.codec.upper()}")
        self.structure = structure or ("lowdelay_B" if "lowdelay_B" in self.backend.structures else "lowdelay_P")
        self.backend.check_structure(self.structure)
        self.matrix = matrix

    def settings(self) -> dict[str, Any]:
        return {"codec": self.name, "structure": self.structure, "matrix": self.matrix,
                "backend": self.backend.settings()}

    def validate_rate_point(self, rate_point: Any) -> None:
        try:
            check_qp(rate_point, self.qp_max, self.codec.upper())
        except ValueError as e:
            raise ValueError(f"{self.name}: {e}{self.qp_note if rate_point == 52 else ''}") from None

    def code(self, frames: np.ndarray, fps: float, rate_point: Any, workdir: Path) -> CodingResult:
        self.validate_rate_point(rate_point)
        frames = np.asarray(frames)
        if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
            raise ValueError(f"{self.name}: expected (N, H, W, 3) uint8 RGB frames, got {frames.dtype} {frames.shape}")
        n, h, w, _ = frames.shape
        t0 = time.perf_counter()
        yuv = Yuv420(*rgb_to_yuv420(frames, self.matrix))
        convert_in = time.perf_counter() - t0
        enc = self.backend.encode(yuv, int(rate_point), self.structure, fps)
        dec = self.backend.decode(enc.bitstream, w, h, expected_frames=n)
        t1 = time.perf_counter()
        decoded = yuv420_to_rgb(dec.pictures.y, dec.pictures.u, dec.pictures.v, self.matrix)
        convert_out = time.perf_counter() - t1
        metadata = {
            "qp": int(rate_point), "structure": self.structure, "matrix": self.matrix,
            "backend": self.backend_name, "encoder_command": enc.command, "decoder_command": dec.command,
            "decoder": dec.decoder, "bytes_per_picture": enc.bytes_per_picture,
            "md5_per_picture": picture_md5_list(dec.pictures), "frames": n, "width": w, "height": h, "fps": fps,
            "rate_breakdown": {"base_layer": len(enc.bitstream)},
        }
        timings = {"encode": enc.seconds, "decode": dec.seconds, "colour_conversion": convert_in + convert_out}
        return CodingResult(enc.bitstream, decoded, metadata, timings, decoded_yuv=dec.pictures)


@register_codec("hevc_anchor")
class HevcAnchor(ConventionalAnchor):
    name = "hevc_anchor"
    codec = "hevc"
    qp_max = 51
    default_rate_points = (37, 42, 47, 51)
    qp_note = " (QP 52 of the GFVC CTC is a VVC QP; HEVC 8-bit QPs end at 51: use 51)"


@register_codec("vvc_anchor")
class VvcAnchor(ConventionalAnchor):
    name = "vvc_anchor"
    codec = "vvc"
    qp_max = 63
    default_rate_points = (37, 42, 47, 52)
