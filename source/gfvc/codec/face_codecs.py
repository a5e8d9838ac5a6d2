"""The GFVC codecs of the CTC harness: ``fomm``, ``cfte``, ``fv2v``, ``dac``, ``hdac``, ``mrdac``,
``rdac``, ``rdac_plus`` (the last two with rate points over (key QP, residual rate level), see below).

Each is the one encoder/decoder loop (gfvc.codec.encoder / decoder) with a family's settings.
Rate points as JVET-AH0114: the key-picture QP 22/32/42/52 (key pictures are VVC intra
pictures; the built-in base layer is vvenc), and for HDAC the base-layer QP 37/42/47/52 with
the key picture at QP 22. MRDAC's rate points are (key QP, reference interval) pairs written
``"QP/INTERVAL"`` (the paper's sweep: 22/32/42/52 x 25/50/100/250); a plain QP keeps the
configured ``reference.interval``. Its buffer strategy and delay are codec options
(``reference.*``). ``encode`` and ``decode`` are separate steps so that a cross-check
can decode in another process; ``code`` runs both and refuses a decoder output that differs
from the encoder's reconstruction (MD5 per picture).

The model (configuration + checkpoint) is loaded once per process and shared by every cell
(gfvc.codec.model_source caches it).
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Dict, Mapping

import numpy as np

from ..baselayer.interface import check_qp
from ..errors import GfvcError
from ..files import check_input_file, sha256_file
from .registry import CodingResult, SequenceCodec, register_codec
from .settings import GfvcSettings, settings_from_options

CTC_KEY_QPS = (22, 32, 42, 52)
CTC_HDAC_BL_QPS = (37, 42, 47, 52)
#: HDAC's key picture (the base layer's IRAP) in JVET-AH0114; the rate point is the base-layer QP
CTC_HDAC_KEY_QP = 22
CTC_MRDAC_INTERVALS = (25, 50, 100, 250)
CTC_MRDAC_RATE_POINTS = tuple(f"{q}/{i}" for q in CTC_KEY_QPS for i in CTC_MRDAC_INTERVALS)
#: the built-in base layer of the GFVC codecs: VVC (the CTC codes key pictures with VTM 22.2)
DEFAULT_GFVC_BACKEND = "vvenc"


class CodecMismatchError(GfvcError):
    """The decoder's output differs from the encoder's reconstruction."""


def codec_settings(name: str, options: Mapping[str, Any], source: str = "codec settings") -> GfvcSettings:
    options = dict(options)
    options.setdefault("backend", DEFAULT_GFVC_BACKEND)
    if name == "hdac":
        options.setdefault("key_qp", CTC_HDAC_KEY_QP)
    return settings_from_options(options, source, family=name)


class GfvcSequenceCodec(SequenceCodec):
    family = ""
    default_rate_points = CTC_KEY_QPS

    def __init__(self, **options):
        self.options = dict(options)
        self.base = codec_settings(self.family, options, f"codec {self.name}")
        for what in ("model_config", "checkpoint"):
            value = getattr(self.base, what)
            if not value:
                raise ValueError(f"{self.name}: option {what} is required (a {self.family} "
                                 f"{'configuration' if what == 'model_config' else 'checkpoint'} file)")
            check_input_file(value, f"{self.name} {what}")

    def settings(self) -> Dict[str, Any]:
        s = self.base.as_dict()
        # the files' content, not their paths, determines the result
        s["model_config"] = sha256_file(self.base.model_config)
        s["checkpoint"] = sha256_file(self.base.checkpoint)
        s["codec"] = self.name
        from ..baselayer import get_backend

        s["backend_settings"] = get_backend(self.base.backend).settings()
        return s

    def rate_point_setting(self) -> str:
        return "bl_qp" if self.family == "hdac" else "key_qp"

    def validate_rate_point(self, rate_point: Any) -> None:
        qp_max = 51 if self.base.backend in ("x265", "hm") else 63
        check_qp(rate_point, qp_max, f"{self.name} {self.rate_point_setting()}")

    def rate_point_value(self, rate_point: Any) -> Any:
        """The rate point as the results record it (JSON)."""
        return int(rate_point)

    def settings_at(self, rate_point: Any) -> GfvcSettings:
        self.validate_rate_point(rate_point)
        options = dict(self.options)
        options[self.rate_point_setting()] = int(rate_point)
        return codec_settings(self.family, options, f"codec {self.name}")

    def encode(self, frames: np.ndarray, fps: float, rate_point: Any):
        from .encoder import GfvcEncoder

        return GfvcEncoder(self.settings_at(rate_point)).encode(frames, fps)

    def decode(self, bitstream: bytes, base_decoder: str | None = None):
        from .decoder import GfvcDecoder

        s = self.base
        return GfvcDecoder(s.model_config, s.checkpoint, base_decoder=base_decoder or s.base_decoder).decode(bitstream)

    def code(self, frames: np.ndarray, fps: float, rate_point: Any, workdir: Path) -> CodingResult:
        from .apps import reference_style_bytes

        t0 = time.perf_counter()
        enc = self.encode(frames, fps, rate_point)
        t1 = time.perf_counter()
        dec = self.decode(enc.bitstream)
        t2 = time.perf_counter()
        if dec.md5_per_picture != enc.md5_per_picture:
            bad = next(i for i, (a, b) in enumerate(zip(dec.md5_per_picture, enc.md5_per_picture)) if a != b) \
                if len(dec.pictures) == len(enc.reconstruction) else -1
            raise CodecMismatchError(f"{self.name}: the decoder's output differs from the encoder's reconstruction "
                                     f"(first at picture {bad})")
        n, h, w, _ = frames.shape
        metadata = {
            "family": self.family, "rate_point": self.rate_point_value(rate_point), "key_pictures": enc.key_pictures,
            "rate_breakdown": enc.rate, "reference_style_bytes": reference_style_bytes(enc.rate),
            "md5_per_picture": enc.md5_per_picture, "frames": n, "width": w, "height": h, "fps": fps,
            "base_layer_commands": enc.base_layer_commands,
            "model_config_digest": enc.model.config_digest.hex() if enc.model else None,
            "checkpoint_sha256": enc.model.checkpoint_sha256 if enc.model else None,
        }
        if self.base.prediction.active:
            from ..bitstream import PREDICTION_MODE_NAMES

            metadata["prediction_modes"] = {name: enc.prediction_modes.count(idc)
                                            for idc, name in PREDICTION_MODE_NAMES.items()}
        if enc.decode_order:
            metadata["structural_delay_pictures"] = enc.delay
            metadata["structural_delay_seconds"] = enc.delay / fps
        timings = {"encode": t1 - t0, "decode": t2 - t1}
        return CodingResult(enc.bitstream, dec.pictures, metadata, timings)


def _register(family: str, rate_points=CTC_KEY_QPS):
    cls = type(f"{family.upper()}Codec", (GfvcSequenceCodec,),
               {"family": family, "name": family, "default_rate_points": rate_points,
                "__doc__": f"The {family} GFVC codec of the CTC harness."})
    register_codec(family)(cls)
    return cls


FommCodec = _register("fomm")
CfteCodec = _register("cfte")
Fv2vCodec = _register("fv2v")
DacCodec = _register("dac")
HdacCodec = _register("hdac", CTC_HDAC_BL_QPS)


#: RDAC / RDAC+ rate points: (key QP, residual rate level), from animation only ("off": no residual
#: coding, no residual messages) upward through the rate levels (RDAC 7, RDAC+ 5)
RDAC_RATE_POINTS = ("42/off", "42/0", "42/2", "32/4", "22/6")
RDAC_PLUS_RATE_POINTS = ("42/off", "42/0", "42/2", "32/3", "22/4")
RESIDUAL_OFF = ("off", "none", None)


class ResidualSequenceCodec(GfvcSequenceCodec):
    """RDAC / RDAC+: a rate point is the key QP (the codec's residual settings) or a pair (key QP,
    residual rate level), written ``"32/2"`` or ``[32, 2]``; level ``off`` (or null) codes no
    residual (animation only)."""

    def split_rate_point(self, rate_point: Any):
        if isinstance(rate_point, str) and "/" in rate_point:
            qp, level = (part.strip() for part in rate_point.split("/", 1))
            try:
                qp = int(qp)
                level = level if level in RESIDUAL_OFF else int(level)
            except ValueError:
                raise ValueError(f"{self.name} rate point {rate_point!r} is not 'QP/level' (e.g. '32/2' or "
                                 "'32/off')") from None
            return qp, level, True
        if isinstance(rate_point, (list, tuple)):
            if len(rate_point) != 2:
                raise ValueError(f"{self.name} rate point {rate_point!r} is not [QP, level]")
            qp, level = rate_point
            return qp, level, True
        return rate_point, self.base.residual.rate_level, False

    def validate_rate_point(self, rate_point: Any) -> None:
        qp, level, _ = self.split_rate_point(rate_point)
        super().validate_rate_point(qp)
        if level not in RESIDUAL_OFF and (isinstance(level, bool) or not isinstance(level, int)
                                          or not 0 <= level < 64):
            raise ValueError(f"{self.name} residual rate level must be an integer or 'off', got {level!r}")

    def rate_point_value(self, rate_point: Any) -> Any:
        qp, level, pair = self.split_rate_point(rate_point)
        return [int(qp), None if level in RESIDUAL_OFF else int(level)] if pair else int(qp)

    def settings_at(self, rate_point: Any) -> GfvcSettings:
        self.validate_rate_point(rate_point)
        qp, level, _ = self.split_rate_point(rate_point)
        options = dict(self.options)
        residual = dict(options.get("residual") or {})
        if level in RESIDUAL_OFF:
            residual["modes"] = []
        else:
            residual["rate_level"] = int(level)
        options["residual"] = residual
        options["key_qp"] = int(qp)
        return codec_settings(self.family, options, f"codec {self.name}")


def _register_residual(family: str, rate_points):
    cls = type(f"{family.upper()}Codec", (ResidualSequenceCodec,),
               {"family": family, "name": family, "default_rate_points": rate_points,
                "__doc__": f"The {family} GFVC codec (animation + residual coding) of the CTC harness."})
    register_codec(family)(cls)
    return cls


RdacCodec = _register_residual("rdac", RDAC_RATE_POINTS)
RdacPlusCodec = _register_residual("rdac_plus", RDAC_PLUS_RATE_POINTS)


def parse_mrdac_rate_point(rate_point: Any):
    """(key QP, reference interval or None) of an MRDAC rate point: a QP, or "QP/INTERVAL"."""
    if isinstance(rate_point, int) and not isinstance(rate_point, bool):
        return rate_point, None
    parts = rate_point.split("/") if isinstance(rate_point, str) else []
    if len(parts) == 2 and all(p.strip().isdigit() for p in parts):
        return int(parts[0]), int(parts[1])
    raise ValueError(f"mrdac rate point {rate_point!r} must be a key QP or 'QP/INTERVAL' such as '22/25'")


@register_codec("mrdac")
class MrdacCodec(GfvcSequenceCodec):
    """The MRDAC GFVC codec of the CTC harness: multi-reference coding, rate points (key QP, interval)."""

    family = "mrdac"
    name = "mrdac"
    default_rate_points = CTC_MRDAC_RATE_POINTS

    def rate_point_value(self, rate_point: Any):
        return rate_point

    def validate_rate_point(self, rate_point: Any) -> None:
        qp, interval = parse_mrdac_rate_point(rate_point)
        super().validate_rate_point(qp)
        if interval is not None and interval < 1:
            raise ValueError(f"mrdac rate point {rate_point!r}: the reference interval must be at least 1")

    def settings_at(self, rate_point: Any) -> GfvcSettings:
        self.validate_rate_point(rate_point)
        qp, interval = parse_mrdac_rate_point(rate_point)
        options = dict(self.options)
        options["key_qp"] = qp
        if interval is not None:
            options["reference"] = dict(options.get("reference") or {}, interval=interval)
        return codec_settings(self.family, options, f"codec {self.name}")
