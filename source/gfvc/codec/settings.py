"""Settings of a GFVC codec (what a codec YAML's ``options`` hold), validated in one place.

Every problem is reported at once, one line each, before any work starts. ``--set
dotted.key=value`` overrides are parsed as YAML scalars (``--set refresh.threshold=30``).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional

from ..errors import GfvcError
from ..files import load_yaml_file, parse_yaml_text
from .pictures import KEY_FORMATS, OUTPUT_ROUNDING
from .reference_buffer import MULTI_REFERENCE_FAMILIES, ReferenceSettings

FAMILIES = ("fomm", "cfte", "fv2v", "dac", "hdac", "mrdac", "rdac", "rdac_plus")
CARRIAGES = ("sei_only", "per_picture")
HASH_MODES = ("sequence", "picture", "none")
PARAMETER_PAYLOADS = ("gfv", "entropy_coded")
REFRESH_METRICS = ("psnr",)


class CodecSettingsError(GfvcError, ValueError):
    """Codec settings with problems; ``problems`` lists each, one line."""

    def __init__(self, problems: List[str], source: str = "codec settings"):
        self.problems = list(problems)
        super().__init__(f"{source}: " + "; ".join(self.problems))


@dataclass
class RefreshSettings:
    """Adaptive key-picture refresh: a new key picture when the mean PSNR (RGB, peak 255) of the
    last ``window`` generated pictures of the current segment falls below ``threshold`` dB.
    0 switches it off (the CTC default, as the reference's threshold 0)."""

    threshold: float = 0.0
    window: int = 8
    metric: str = "psnr"


@dataclass
class ResidualSettings:
    """Residual coding of RDAC / RDAC+ (gfvc.codec.residual): rate level (``rate_idx`` of the
    coders' gain vectors), lambda of the mode decision J = MSE + lambda * bits per pixel, the
    prediction window (a spatial residual at least every N coded residuals; null: the family's,
    RDAC 0 = unlimited, RDAC+ 8) and the modes the encoder may choose (an empty list: no residual
    coding, animation only, no residual messages; a picture for which none of them is possible,
    e.g. [temporal] without a residual to predict from, is coded spatially)."""

    rate_level: int = 2
    rd_lambda: float = 100.0
    prediction_window: Optional[int] = None
    modes: List[str] = field(default_factory=lambda: ["skip", "spatial", "temporal"])
    skip_messages: bool = True      # False: a skipped picture carries no gfvc_residual message (saves ~20 bytes)


#: families whose generator warps the reference by a dense motion field (the warped-reference
#: prediction mode and the parameter search need it)
WARPING_FAMILIES = ("fomm", "dac", "hdac", "mrdac", "rdac", "rdac_plus")
PREDICTION_MODES = ("generated", "warped_reference")


@dataclass
class PredictionSettings:
    """What each generated picture outputs and how the encoder chooses its face parameters
    (gfvc.codec.prediction). ``modes``: the outputs the encoder may choose per picture, by the
    smaller distortion to the original (L1 + 1 - SSIM): ``generated`` (the model's synthesis) and
    ``warped_reference`` (the reference picture sampled along the model's dense motion field;
    signalled in gfvc_prediction_modes). ``search_iterations``: gradient steps that move each
    picture's analysed face parameters towards the ones whose warped reference best matches the
    original (0: the analysed parameters, as the public software); ``search_step``: the step
    (Adam learning rate) in keypoint coordinates, where the picture spans -1..1."""

    modes: List[str] = field(default_factory=lambda: ["generated"])
    search_iterations: int = 0
    search_step: float = 0.01

    @property
    def active(self) -> bool:
        return self.search_iterations > 0 or list(self.modes) != ["generated"]

    def problems(self, family: str) -> List[str]:
        p = []
        if (not isinstance(self.modes, (list, tuple)) or not self.modes
                or any(m not in PREDICTION_MODES for m in self.modes) or len(set(self.modes)) != len(self.modes)):
            p.append(f"prediction.modes must be a list of distinct {', '.join(PREDICTION_MODES)}, got {self.modes!r}")
        if (isinstance(self.search_iterations, bool) or not isinstance(self.search_iterations, int)
                or not 0 <= self.search_iterations <= 10000):
            p.append(f"prediction.search_iterations must be an integer 0..10000, got {self.search_iterations!r}")
        if (isinstance(self.search_step, bool) or not isinstance(self.search_step, (int, float))
                or not 0 < self.search_step <= 1):
            p.append(f"prediction.search_step must be a number in (0, 1], got {self.search_step!r}")
        if not p and self.active and family not in WARPING_FAMILIES:
            p.append(f"prediction: {family} has no dense motion field (warped_reference and the parameter "
                     f"search need one of {', '.join(WARPING_FAMILIES)})")
        return p


@dataclass
class GfvcSettings:
    family: str = "dac"
    model_config: Optional[str] = None
    checkpoint: Optional[str] = None
    key_qp: int = 32
    bl_qp: int = 42                        # HDAC's base-layer QP (the key picture is its IRAP at key_qp)
    backend: str = "x265"                  # base-layer backend: x265, vvenc, hm, vtm
    preset: Optional[str] = None
    base_decoder: str = "pyav"
    key_format: str = "yuv420_bt601_limited"
    carriage: str = "sei_only"
    messages_per_nal: int = 0             # GFV messages per SEI NAL unit in sei_only (0: all in one)
    key_period: int = 0                    # a key picture every N pictures (0: frame 0 only)
    refresh: RefreshSettings = field(default_factory=RefreshSettings)
    residual: ResidualSettings = field(default_factory=ResidualSettings)   # rdac, rdac_plus only
    precision: Optional[int] = None        # parameter precision factor P (None: the family's default)
    picture_hash: str = "sequence"
    parameter_payload: str = "gfv"           # gfv (one GFV message per picture) or entropy_coded (sei_only)
    output_rounding: str = "truncate"
    synthesis_batch: int = 8
    gfv_id: int = 0
    reference: ReferenceSettings = field(default_factory=ReferenceSettings)   # multi-reference coding
    prediction: PredictionSettings = field(default_factory=PredictionSettings)

    @property
    def is_multi_reference(self) -> bool:
        return self.family in MULTI_REFERENCE_FAMILIES

    @property
    def is_hdac(self) -> bool:
        return self.family == "hdac"

    def as_dict(self) -> Dict[str, Any]:
        d = dataclasses.asdict(self)
        if not self.is_multi_reference:
            d.pop("reference")       # always 'single' there: the settings (and CTC digests) stay as before
        if self.family not in ("rdac", "rdac_plus"):
            d.pop("residual")        # only the residual codecs have these settings
        if not self.prediction.active:
            d.pop("prediction")      # the default: settings (and CTC digests) of earlier runs stay valid
        return d

    def validate(self, source: str = "codec settings") -> "GfvcSettings":
        p: List[str] = []
        if self.family not in FAMILIES:
            p.append(f"family {self.family!r} is not one of {', '.join(FAMILIES)}")
        for name, value, lo, hi in (("key_qp", self.key_qp, 0, 63), ("bl_qp", self.bl_qp, 0, 63),
                                    ("messages_per_nal", self.messages_per_nal, 0, 1 << 16),
                                    ("key_period", self.key_period, 0, 1 << 30),
                                    ("synthesis_batch", self.synthesis_batch, 1, 256),
                                    ("gfv_id", self.gfv_id, 0, 1 << 16),
                                    ("refresh.window", self.refresh.window, 1, 1 << 16)):
            if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
                p.append(f"{name} must be an integer in {lo}..{hi}, got {value!r}")
        if self.precision is not None and (isinstance(self.precision, bool) or not isinstance(self.precision, int)
                                           or not 1 <= self.precision <= 32):
            p.append(f"precision must be an integer 1..32 or null, got {self.precision!r}")
        for name, value, allowed in (("key_format", self.key_format, tuple(KEY_FORMATS)),
                                     ("carriage", self.carriage, CARRIAGES),
                                     ("picture_hash", self.picture_hash, HASH_MODES),
                                     ("parameter_payload", self.parameter_payload, PARAMETER_PAYLOADS),
                                     ("output_rounding", self.output_rounding, OUTPUT_ROUNDING),
                                     ("refresh.metric", self.refresh.metric, REFRESH_METRICS),
                                     ("backend", self.backend, ("x265", "vvenc", "hm", "vtm"))):
            if value not in allowed:
                p.append(f"{name} {value!r} is not one of {', '.join(allowed)}")
        if not isinstance(self.refresh.threshold, (int, float)) or isinstance(self.refresh.threshold, bool) \
                or self.refresh.threshold < 0:
            p.append(f"refresh.threshold must be a number >= 0, got {self.refresh.threshold!r}")
        if self.is_hdac and self.carriage != "per_picture":
            # HDAC's drive pictures are base-layer pictures: each generated picture has its AU
            self.carriage = "per_picture"
        if self.is_hdac and self.refresh.threshold:
            p.append("hdac has no adaptive refresh (its base layer is coded ahead of synthesis): "
                     "set refresh.threshold to 0 and use key_period")
        if self.parameter_payload == "entropy_coded" and self.carriage != "sei_only":
            p.append("parameter_payload entropy_coded codes a segment's pictures in one payload: it needs "
                     "carriage sei_only")
        p += residual_problems(self.residual)
        if self.key_format == "gbr444" and self.backend == "vvenc":
            p.append("key_format gbr444 needs an RGB-capable base layer (x265, hm or vtm), not vvenc")
        p += self.reference.problems(self.family)
        p += self.prediction.problems(self.family)
        if self.is_multi_reference:
            if self.carriage != "sei_only":
                p.append(f"{self.family} codes key pictures only: carriage must be sei_only")
            if self.key_period:
                p.append(f"{self.family} places key pictures by reference.interval: key_period must be 0")
            if self.refresh.threshold:
                p.append(f"{self.family} has no adaptive refresh: set refresh.threshold to 0")
        if p:
            raise CodecSettingsError(p, source)
        return self


def residual_problems(r: ResidualSettings) -> List[str]:
    p = []
    if isinstance(r.rate_level, bool) or not isinstance(r.rate_level, int) or not 0 <= r.rate_level < 64:
        p.append(f"residual.rate_level must be an integer 0..63, got {r.rate_level!r}")
    if isinstance(r.rd_lambda, bool) or not isinstance(r.rd_lambda, (int, float)) or not 0 <= r.rd_lambda < 1e12:
        p.append(f"residual.rd_lambda must be a number >= 0, got {r.rd_lambda!r}")
    if r.prediction_window is not None and (isinstance(r.prediction_window, bool)
                                            or not isinstance(r.prediction_window, int)
                                            or not 0 <= r.prediction_window <= 1 << 16):
        p.append(f"residual.prediction_window must be an integer 0..65536 or null, got {r.prediction_window!r}")
    if not isinstance(r.skip_messages, bool):
        p.append(f"residual.skip_messages must be true or false, got {r.skip_messages!r}")
    allowed = ("skip", "spatial", "temporal")
    if not isinstance(r.modes, (list, tuple)) or any(m not in allowed for m in r.modes):
        p.append(f"residual.modes must be a list of {', '.join(allowed)}, got {r.modes!r}")
    return p


def _set_dotted(data: Dict[str, Any], dotted: str, value: Any) -> None:
    keys = dotted.split(".")
    cur = data
    for k in keys[:-1]:
        nxt = cur.get(k)
        if not isinstance(nxt, dict):
            nxt = {}
            cur[k] = nxt
        cur = nxt
    cur[keys[-1]] = value


def apply_overrides(options: Mapping[str, Any], overrides: List[str]) -> Dict[str, Any]:
    """``key=value`` strings (value parsed as a YAML scalar) applied to a copy of ``options``."""
    data = _deep_copy(options)
    for item in overrides:
        if "=" not in item:
            raise CodecSettingsError([f"--set {item!r} is not of the form key=value"], "command line")
        key, text = item.split("=", 1)
        key = key.strip()
        if not key or any(not part for part in key.split(".")):
            raise CodecSettingsError([f"--set {item!r} has an empty key"], "command line")
        _set_dotted(data, key, parse_yaml_text(text, f"--set {key}") if text.strip() else None)
    return data


def _deep_copy(value):
    if isinstance(value, Mapping):
        return {k: _deep_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_deep_copy(v) for v in value]
    return value


def settings_from_options(options: Mapping[str, Any], source: str = "codec settings",
                          family: Optional[str] = None) -> GfvcSettings:
    """GfvcSettings from a mapping (a codec YAML's ``options``), unknown keys reported."""
    known = {f.name for f in dataclasses.fields(GfvcSettings)}
    data = dict(options)
    if family is not None:
        if data.get("family", family) != family:
            raise CodecSettingsError([f"family {data['family']!r} does not match codec {family!r}"], source)
        data["family"] = family
    problems = [f"unknown setting {k!r}" for k in data if k not in known]
    nested = {}
    for name, cls in (("refresh", RefreshSettings), ("reference", ReferenceSettings),
                      ("residual", ResidualSettings), ("prediction", PredictionSettings)):
        value = data.pop(name, None) or {}
        if not isinstance(value, Mapping):
            fields = ", ".join(f.name for f in dataclasses.fields(cls))
            problems.append(f"{name} must be a mapping ({fields})")
            value = {}
        sub_known = {f.name for f in dataclasses.fields(cls)}
        problems += [f"unknown setting '{name}.{k}'" for k in value if k not in sub_known]
        nested[name] = (cls, dict(value))
    if problems:
        raise CodecSettingsError(problems, source)
    settings = GfvcSettings(**{k: v for k, v in data.items() if k in known},
                            **{name: cls(**value) for name, (cls, value) in nested.items()})
    for name in ("model_config", "checkpoint"):
        value = getattr(settings, name)
        if value is not None:
            setattr(settings, name, str(value))
    return settings.validate(source)


def read_codec_file(path: str | Path) -> tuple[str, Dict[str, Any], list]:
    """(codec name, options, rate points) of a codec YAML (``cfg/codec/*.yaml``)."""
    data = load_yaml_file(path, "codec configuration")
    if not isinstance(data, Mapping) or "codec" not in data:
        raise CodecSettingsError(["must be a mapping with 'codec', 'options' and 'rate_points'"], str(path))
    options = data.get("options") or {}
    if not isinstance(options, Mapping):
        raise CodecSettingsError(["'options' must be a mapping"], str(path))
    base = Path(path).resolve().parent
    options = dict(options)
    for name in ("model_config", "checkpoint"):
        value = options.get(name)
        if isinstance(value, str) and value and not Path(value).is_absolute():
            # relative paths in a codec file are relative to the repository root when they
            # start with cfg/ or checkpoints/, else to the file's folder
            options[name] = str(_resolve_relative(base, value))
    return str(data["codec"]), options, list(data.get("rate_points") or [])


def _resolve_relative(base: Path, value: str) -> Path:
    for root in [base] + list(base.parents):
        candidate = root / value
        if candidate.exists():
            return candidate
    return base / value
