"""The configuration of a CTC run: a YAML file under cfg/ctc/ plus command-line overrides.

Schema (every key optional except ``codecs``; see doc/ctc.md)::

    name: builtin                 # names the default output folder runs/ctc/<name>
    sequences:
      builtin: true               # the built-in clips (test_sequences/builtin_manifest.yaml), or
      folder: /data/gfvc_ctc      # a folder of JVET-named files, checked against `list`
      list: ../../test_sequences/jvet_ah0114.yaml   # default: that file of the gfvc folder
      include: [VOXCELEB_001]     # a subset of the sequences, by name
      frames: 32                  # frames per sequence (default: the count the list gives)
    codecs:
      - name: hevc_anchor         # a name in gfvc.codec.registry
        label: hevc_anchor        # the codec column of the tables (default: name)
        rate_points: [32, 37, 42, 47]   # default: the codec's default_rate_points
        options: {}               # keyword options of the codec's factory
    metrics: [psnr_y, ssim]
    metric_options: {lpips_vgg: {weights: /path/vgg.pth}}
    bdrate: {anchors: [vvc_anchor], tests: [hevc_anchor]}
    output: null                  # default: runs/ctc/<name> under the working folder
    keep_decoded: false
    executor: local               # local | ray | serial
    workers: null                 # default: one per core
    ray_address: null             # ray executor: null starts a local Ray, "auto" or host:port joins a cluster
    plugins: []                   # Python modules imported first (driver and workers) to register codecs
    stored_anchors: [anchors/builtin/vvc_anchor]   # result stores of anchors used without coding them

Relative paths in a file are relative to that file's folder, except the project's own data:
the model files of codec options (``model_config``, ``checkpoint``) and ``stored_anchors`` are
relative to the gfvc folder (:func:`project_root`, where models/ and anchors/ live), so a
configuration names ``models/dac_small/model.yaml`` whatever the working folder.

Other relative paths given on the command line are relative to the working folder. The defaults (cfg/ctc/builtin.yaml, the
built-in clips, test_sequences/jvet_ah0114.yaml) are found in the gfvc folder: $GFVC_ROOT, or
the working folder or one above it (:func:`project_root`).

Codec labels, the run's name and rate points become path components of the run folder
(``decoded/<label>/<rate point>/``, ``runs/ctc/<name>``): they are checked to be letters,
digits and ``. _ + -`` without a leading dot before anything uses them.
"""
from __future__ import annotations

import copy
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import GfvcError
from ..files import load_yaml_file
from .errors import ConfigError, CtcError

EXECUTORS = ("local", "ray", "serial")

#: the environment variable naming the gfvc folder (the one holding cfg/ and test_sequences/)
ROOT_ENV = "GFVC_ROOT"
#: paths inside the gfvc folder that the defaults use
DEFAULT_CONFIG_REL = Path("cfg") / "ctc" / "builtin.yaml"
BUILTIN_MANIFEST_REL = Path("test_sequences") / "builtin_manifest.yaml"
DEFAULT_LIST_REL = Path("test_sequences") / "jvet_ah0114.yaml"

#: a name that becomes one path component of the run folder (codec labels, the run's name,
#: rate points): letters, digits and . _ + -, no leading dot, at most 100 characters
_SAFE_COMPONENT = re.compile(r"[A-Za-z0-9_+-][A-Za-z0-9._+-]{0,99}")


def project_root() -> Path:
    """The gfvc folder (holding cfg/ctc/builtin.yaml and test_sequences/): $GFVC_ROOT when set,
    else the working folder or the nearest folder above it that is one. Found from the outside,
    never from where the package is installed, so an installed gfvc finds the user's checkout
    (run_ctc.py sets GFVC_ROOT to its own folder). CtcError when there is none."""
    env = os.environ.get(ROOT_ENV)
    if env:
        root = Path(os.path.expanduser(env))
        if not (root / DEFAULT_CONFIG_REL).is_file():
            raise CtcError(f"{ROOT_ENV}={env} is not a gfvc folder (it has no {DEFAULT_CONFIG_REL})")
        return root.absolute()
    cwd = Path.cwd()
    for d in (cwd, *cwd.parents):
        if (d / DEFAULT_CONFIG_REL).is_file() and (d / "test_sequences").is_dir():
            return d
    raise CtcError(f"cannot find the gfvc folder ({DEFAULT_CONFIG_REL} and test_sequences/) in {cwd} or above "
                   f"it: run in the gfvc checkout, set {ROOT_ENV}=/path/to/gfvc, or give -c CONFIG")


def default_config() -> Path:
    return project_root() / DEFAULT_CONFIG_REL


def builtin_manifest() -> Path:
    return project_root() / BUILTIN_MANIFEST_REL


def default_sequence_list() -> Path:
    return project_root() / DEFAULT_LIST_REL


def path_component_problem(value: Any) -> str | None:
    """None when ``value`` (as text) can be one component of a path inside the run folder."""
    text = str(value)
    if _SAFE_COMPONENT.fullmatch(text):
        return None
    if not text:
        return "is empty"
    if text.startswith("."):
        return f"{text!r} starts with a dot"
    if len(text) > 100:
        return "is longer than 100 characters"
    bad = sorted({c for c in text if not _SAFE_COMPONENT.fullmatch("a" + c)})
    return f"{text!r} holds {', '.join(repr(c) for c in bad[:5])} (allowed: letters, digits, . _ + -)"

_TOP_KEYS = {"name", "sequences", "codecs", "metrics", "metric_options", "bdrate", "output",
             "keep_decoded", "executor", "workers", "ray_address", "plugins", "stored_anchors"}
_SEQ_KEYS = {"builtin", "folder", "list", "include", "frames"}
_CODEC_KEYS = {"name", "label", "rate_points", "options"}
_BDRATE_KEYS = {"anchors", "tests"}
#: codec options that name model files: a relative path is relative to the gfvc folder
MODEL_PATH_OPTIONS = ("model_config", "checkpoint")


@dataclass(frozen=True)
class CodecSpec:
    """One codec column of the run: a registry name, its options, and its rate points."""

    name: str
    label: str
    options: dict[str, Any]
    rate_points: list[Any] | None  # None: the codec's default_rate_points
    #: the options as the configuration wrote them (``options`` has model paths made absolute);
    #: None when they are the same
    given_options: dict[str, Any] | None = None

    @property
    def written_options(self) -> dict[str, Any]:
        return self.options if self.given_options is None else self.given_options


@dataclass(frozen=True)
class SequenceSelection:
    builtin: bool
    folder: Path | None
    list_file: Path | None
    include: list[str] | None
    frames: int | None


@dataclass(frozen=True)
class CtcConfig:
    name: str
    sequences: SequenceSelection
    codecs: list[CodecSpec]
    metrics: list[str]
    metric_options: dict[str, dict[str, Any]]
    bdrate_anchors: list[str]
    bdrate_tests: list[str] | None
    output: Path
    keep_decoded: bool
    executor: str
    workers: int
    ray_address: str | None
    plugins: list[str] = field(default_factory=list)  # modules that register extra codecs/metrics
    source: Path | None = None  # the YAML file this came from
    stored_anchors: list[Any] = field(default_factory=list)  # gfvc.ctc.anchors.StoredAnchor, loaded
    raw: dict[str, Any] = field(default_factory=dict, repr=False)


def load_yaml(path: Path) -> dict[str, Any]:
    """Read a config file (a regular file, bounded, UTF-8, no YAML aliases: gfvc.files); a
    missing, unreadable or malformed file is a ConfigError naming it."""
    try:
        data = load_yaml_file(path, "configuration file")
    except GfvcError as e:
        raise ConfigError([f"cannot read the configuration file: {e}"]) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError([f"{path}: the top level must be a mapping of keys to values"])
    return data


def _resolve(base: Path, value: Any) -> Path:
    p = Path(os.path.expanduser(str(value)))
    return p if p.is_absolute() else (base / p)


def merge_overrides(raw: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Apply command-line overrides (already in file-schema form, paths absolute) onto ``raw``.

    ``sequences`` is merged key by key; choosing a folder on the command line switches off
    ``builtin`` and vice versa. Everything else replaces the file's value.
    """
    out = copy.deepcopy(raw)
    for key, value in overrides.items():
        if key == "sequences":
            seq = dict(out.get("sequences") or {}) if isinstance(out.get("sequences"), dict) else {}
            if "folder" in value:
                seq.pop("builtin", None)
            if value.get("builtin"):
                seq.pop("folder", None)
            seq.update(value)
            out["sequences"] = seq
        else:
            out[key] = value
    return out


def _str_list(value: Any, where: str, problems: list[str]) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = [v for v in (s.strip() for s in value.split(",")) if v]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        problems.append(f"{where}: expected a list of names, got {value!r}")
        return None
    return list(value)


def parse_config(raw: dict[str, Any], base: Path, source: Path | None = None,
                 cwd: Path | None = None, cli: dict[str, str] | None = None) -> tuple[CtcConfig, list[str]]:
    """Check the shape of a configuration and build a CtcConfig, with the list of problems found.

    ``cli`` maps the keys the command line set (``sequences.frames``, ``workers``, ...) to the
    option that set them (``--frames``, ``-j``): a problem with such a value names the option,
    not the file. Whether codecs, sequences, metrics exist is checked later by the planner,
    which adds its problems to these so that the user sees all of them at once."""
    problems: list[str] = []
    where = str(source) if source else "configuration"
    cwd = Path.cwd() if cwd is None else cwd
    cli = cli or {}

    def at(key: str) -> str:
        """Who gave ``key``: '--frames on the command line' or '<file>: sequences.frames'."""
        opt = cli.get(key)
        return f"{opt} on the command line" if opt else f"{where}: {key}"

    for k in sorted(set(raw) - _TOP_KEYS):
        problems.append(f"{where}: unknown key {k!r} (known: {', '.join(sorted(_TOP_KEYS))})")

    name = raw.get("name", source.stem if source else "ctc")
    if not isinstance(name, str) or path_component_problem(name):
        why = path_component_problem(name) if isinstance(name, str) else f"{name!r} is not a string"
        problems.append(f"{where}: name (the default run folder's name) {why}")
        name = "ctc"

    # sequences
    seq_raw = raw.get("sequences", {"builtin": True})
    if not isinstance(seq_raw, dict):
        problems.append(f"{where}: sequences must be a mapping (builtin/folder/list/include/frames)")
        seq_raw = {"builtin": True}
    for k in sorted(set(seq_raw) - _SEQ_KEYS):
        problems.append(f"{where}: unknown key sequences.{k} (known: {', '.join(sorted(_SEQ_KEYS))})")
    folder = seq_raw.get("folder")
    # a config that has a `folder` key (even empty) is about a user's folder, not the built-in clips
    builtin = bool(seq_raw.get("builtin", "folder" not in seq_raw))
    if builtin and folder is not None:
        problems.append(f"{where}: sequences: give either builtin: true or a folder, not both")
    if not builtin and folder is None:
        problems.append(f"{where}: sequences: no sequence folder given (--sequences FOLDER, or "
                        f"sequences.folder in the file; or builtin: true)")
    list_file = seq_raw.get("list")
    if not builtin and folder is not None and list_file is None:
        try:
            list_file = default_sequence_list()
        except CtcError as e:
            problems.append(f"no sequence list given (--sequence-list or sequences.list) and {e}")
    for key in ("folder", "list"):
        value = seq_raw.get(key)
        if value is not None and (not isinstance(value, (str, os.PathLike)) or not str(value)):
            problems.append(f"{at('sequences.' + key)} must be a path, got {value!r}")
            if key == "folder":
                folder = None
            else:
                list_file = None
    frames = seq_raw.get("frames")
    if frames is not None and (isinstance(frames, bool) or not isinstance(frames, int) or frames <= 0):
        problems.append(f"{at('sequences.frames')} must be a positive whole number, got {frames!r}")
        frames = None
    include = _str_list(seq_raw.get("include"), at("sequences.include"), problems)
    if include is not None and not include:
        hint = "" if "sequences.include" in cli else " (leave it out, or null, for all)"
        problems.append(f"{at('sequences.include')} names no sequence{hint}")
        include = None
    selection = SequenceSelection(
        builtin=builtin,
        folder=_resolve(base, folder) if folder is not None else None,
        list_file=_resolve(base, list_file) if list_file is not None else None,
        include=include,
        frames=frames,
    )

    # codecs
    codecs: list[CodecSpec] = []
    codecs_raw = raw.get("codecs")
    if not codecs_raw:
        problems.append(f"{at('codecs')}: name at least one codec")
        codecs_raw = []
    if not isinstance(codecs_raw, list):
        problems.append(f"{at('codecs')} must be a list of {{name, rate_points, options}} entries")
        codecs_raw = []
    for i, entry in enumerate(codecs_raw):
        if isinstance(entry, str):
            entry = {"name": entry}
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            problems.append(f"{where}: codecs[{i}] must be a codec name or a mapping with a 'name'")
            continue
        for k in sorted(set(entry) - _CODEC_KEYS):
            problems.append(f"{where}: codecs[{i}] ({entry['name']}): unknown key {k!r}")
        rp_at = at("codecs.rate_points") if "codecs.rate_points" in cli else f"{where}: codec {entry['name']}: rate_points"
        rps = entry.get("rate_points")
        if rps is not None and (not isinstance(rps, list) or not rps):
            problems.append(f"{rp_at} must be a non-empty list, got {rps!r}")
            rps = None
        elif rps is not None and len({repr(r) for r in rps}) != len(rps):
            problems.append(f"{rp_at} repeat a value: {rps!r}")
        for rp in rps or []:
            # a rate point names a folder of decoded pictures: decoded/<label>/<rate point>/
            why = ("is not a number or a string" if isinstance(rp, bool) or not isinstance(rp, (int, float, str))
                   else path_component_problem(rate_point_label(rp)))
            if why:
                problems.append(f"{rp_at}: rate point {rp!r} {why}")
                rps = None
                break
        options = entry.get("options") or {}
        if not isinstance(options, dict):
            problems.append(f"{where}: codec {entry['name']}: options must be a mapping")
            options = {}
        label = entry.get("label", entry["name"])
        # the label is a column of the tables, a sheet cell of the XLSX report and a folder
        # (decoded/<label>/): checked here, before it is used as any of them
        why = path_component_problem(label) if isinstance(label, str) else f"{label!r} is not a string"
        if why:
            what = "label" if "label" in entry else "name (the default label)"
            problems.append(f"{at('codecs') if 'codecs' in cli else where}: codecs[{i}]: the {what} {why}")
            continue
        resolved = _resolve_model_paths(options, f"{where}: codec {label}", problems)
        codecs.append(CodecSpec(name=entry["name"], label=label, options=resolved,
                                rate_points=list(rps) if rps is not None else None,
                                given_options=dict(options) if resolved != options else None))
    labels = [c.label for c in codecs]
    for lab in sorted({x for x in labels if labels.count(x) > 1}):
        problems.append(f"{where}: codec {lab!r} appears twice; give the entries distinct labels")

    metrics = _str_list(raw.get("metrics", []), at("metrics"), problems) or []
    for m in sorted({x for x in metrics if metrics.count(x) > 1}):
        problems.append(f"{at('metrics')}: metric {m!r} is listed twice")
    if not metrics:
        problems.append(f"{at('metrics')}: name at least one metric")
    metric_options = raw.get("metric_options") or {}
    if not isinstance(metric_options, dict) or not all(isinstance(v, dict) for v in metric_options.values()):
        problems.append(f"{where}: metric_options must map a metric name to a mapping of options")
        metric_options = {}

    bd = raw.get("bdrate") or {}
    if not isinstance(bd, dict):
        problems.append(f"{where}: bdrate must be a mapping with anchors and tests")
        bd = {}
    for k in sorted(set(bd) - _BDRATE_KEYS):
        problems.append(f"{where}: unknown key bdrate.{k} (known: anchors, tests)")
    anchors = _str_list(bd.get("anchors"), at("bdrate.anchors"), problems) or []
    tests = _str_list(bd.get("tests"), at("bdrate.tests"), problems)
    stored = _stored_anchors(raw.get("stored_anchors"), at("stored_anchors"), labels, problems)
    stored_labels = [c for a in stored for c in a.codecs]
    for what, names in (("anchors", anchors), ("tests", tests or [])):
        for n in names:
            if codecs and n not in labels and n not in stored_labels:
                known = ", ".join(labels) + (f"; stored anchors: {', '.join(stored_labels)}" if stored_labels else "")
                problems.append(f"{at('bdrate.' + what)} names {n!r}, which is not a codec of this run ({known})")

    if codecs and (anchors or tests):
        effective_tests = tests if tests is not None else [x for x in labels if x not in anchors]
        if not anchors:
            problems.append(f"{where}: bdrate: tests are given but no anchors")
        elif not [t for t in effective_tests if t not in anchors]:
            problems.append(f"{where}: bdrate: no test codec to compare with the anchors "
                            f"{', '.join(anchors)} (the run's codecs: {', '.join(labels)})")

    output = raw.get("output")
    if output is not None and not isinstance(output, (str, os.PathLike)):
        problems.append(f"{at('output')} must be a path, got {output!r}")
        output = None
    output_path = _resolve(base, output) if output else (cwd / "runs" / "ctc" / name)

    executor = raw.get("executor", "local")
    if executor not in EXECUTORS:
        problems.append(f"{at('executor')} must be one of {', '.join(EXECUTORS)}, got {executor!r}")
    workers = raw.get("workers")
    if workers is None:
        workers = os.cpu_count() or 1
    elif isinstance(workers, bool) or not isinstance(workers, int) or workers <= 0:
        problems.append(f"{at('workers')} must be a positive whole number, got {workers!r}")
        workers = 1
    keep_decoded = raw.get("keep_decoded", False)
    if not isinstance(keep_decoded, bool):
        problems.append(f"{at('keep_decoded')} must be true or false, got {keep_decoded!r}")
    ray_address = raw.get("ray_address")
    if ray_address is not None and not isinstance(ray_address, str):
        problems.append(f"{at('ray_address')} must be a string ('auto' or host:port)")

    plugins = _str_list(raw.get("plugins"), at("plugins"), problems) or []
    return CtcConfig(name=name, sequences=selection, codecs=codecs, metrics=metrics,
                     metric_options={k: dict(v) for k, v in metric_options.items()},
                     bdrate_anchors=anchors, bdrate_tests=tests, output=output_path,
                     keep_decoded=bool(keep_decoded), executor=executor, workers=workers,
                     ray_address=ray_address, plugins=plugins, source=source, raw=raw,
                     stored_anchors=stored), problems


def _resolve_model_paths(options: dict[str, Any], where: str, problems: list[str]) -> dict[str, Any]:
    """``options`` with the relative model paths (MODEL_PATH_OPTIONS) made absolute against the
    gfvc folder; whether the files exist is checked when the codec is built (gfvc.ctc.plan)."""
    out = dict(options)
    for key in MODEL_PATH_OPTIONS:
        value = out.get(key)
        if not isinstance(value, str) or not value:
            continue
        if Path(os.path.expanduser(value)).is_absolute():
            out[key] = os.path.expanduser(value)
            continue
        try:
            out[key] = str(project_root() / value)
        except CtcError as e:
            problems.append(f"{where}: {key} {value!r} is relative to the gfvc folder, and {e}")
    return out


def _stored_anchors(value: Any, where: str, run_labels: list[str], problems: list[str]) -> list[Any]:
    """Load the stored anchors (result stores; relative paths against the gfvc folder)."""
    from .anchors import load_stored_anchor

    paths = _str_list(value, where, problems) or []
    out = []
    for text in paths:
        path = Path(os.path.expanduser(text))
        if not path.is_absolute():
            try:
                path = project_root() / path
            except CtcError as e:
                problems.append(f"{where}: {text!r} is relative to the gfvc folder, and {e}")
                continue
        try:
            anchor = load_stored_anchor(path)
        except GfvcError as e:
            problems.append(f"{where}: {str(e).splitlines()[0]}")
            continue
        # a codec that the run codes itself is taken from the run (e.g. --codecs dac,vvc_anchor)
        anchor.codecs = [c for c in anchor.codecs if c not in run_labels]
        for codec in anchor.codecs:
            if any(codec in a.codecs for a in out):
                problems.append(f"{where}: codec {codec!r} is in two stored anchors")
        if anchor.codecs:
            out.append(anchor)
    return out


#: run_ctc.py --quick: a short smoke run of a configuration (doc/ctc.md)
QUICK_SEQUENCES = 2
QUICK_FRAMES = 8
QUICK_RATE_POINTS = 2
QUICK_METRICS = ("psnr_y", "psnr_rgb", "ssim")


def quick_config(raw: dict[str, Any]) -> dict[str, Any]:
    """The smoke-run form of a configuration: the first QUICK_SEQUENCES sequences of its
    ``include`` (all when it has none), QUICK_FRAMES frames, each codec at its lowest-rate and
    highest-rate configured point (its first and last; codecs without configured points keep
    their defaults), the cheap metrics, no stored anchors and no BD-rate report (BD-rate needs
    four points), into its own run folder (``<name>-quick``). Command-line options apply on top."""
    out = copy.deepcopy(raw)
    seq = dict(out.get("sequences") or {}) if isinstance(out.get("sequences"), dict) else {"builtin": True}
    if isinstance(seq.get("include"), list):
        seq["include"] = seq["include"][:QUICK_SEQUENCES]
    frames = seq.get("frames")
    seq["frames"] = min(frames, QUICK_FRAMES) if isinstance(frames, int) and not isinstance(frames, bool) \
        and frames > 0 else QUICK_FRAMES
    out["sequences"] = seq
    codecs = []
    for entry in out.get("codecs") or []:
        if isinstance(entry, dict) and isinstance(entry.get("rate_points"), list) \
                and len(entry["rate_points"]) > QUICK_RATE_POINTS:
            rps = entry["rate_points"]
            entry = dict(entry, rate_points=[rps[0], rps[-1]])
        codecs.append(entry)
    out["codecs"] = codecs
    out["metrics"] = list(QUICK_METRICS)
    out["metric_options"] = {}
    out["stored_anchors"] = []
    out["bdrate"] = {"anchors": [], "tests": None}
    name = out.get("name")
    out["name"] = f"{name}-quick" if isinstance(name, str) else "quick"
    if isinstance(out.get("output"), str) and out["output"]:
        out["output"] = out["output"].rstrip("/") + "-quick"
    return out


def rate_point_label(rp: Any) -> str:
    """A rate point as the name of its folder of decoded pictures."""
    return str(rp).replace("/", "_").replace(" ", "")


def load_config(path: Path | None = None, overrides: dict[str, Any] | None = None,
                cwd: Path | None = None) -> tuple[CtcConfig, list[str]]:
    """Read a YAML file (default cfg/ctc/builtin.yaml), apply overrides; -> (config, problems)."""
    path = Path(path) if path is not None else default_config()
    raw = merge_overrides(load_yaml(path), overrides or {})
    return parse_config(raw, base=path.resolve().parent, source=path, cwd=cwd)
