"""From a configuration to the list of cells, checking everything before any work starts.

Every problem found (unknown codec or metric, bad codec options, invalid rate point, missing or
short sequence, unwritable output folder or a file where the run needs a folder, missing Ray)
is collected; :func:`build_plan` raises one ConfigError carrying all of them. Then each codec
codes two pictures once (a trial coding: options a codec checks only when it codes, such as an
encoder preset, fail here and not in every cell). Only a configuration without problems reaches the
(possibly long) hashing of input files and the cells.
"""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import __version__
from .cell import CellTask, MetricTask
from ..errors import GfvcError
from .config import CodecSpec, CtcConfig, rate_point_label
from .digest import FileHashCache, digest_of, metric_digest
from .errors import ConfigError
from .sequences import SequenceSpec, resolve_sequences


#: pictures of the trial coding that checks each codec's options before the cells run
PREFLIGHT_FRAMES = 2


@dataclass
class CodecColumn:
    spec: CodecSpec
    settings: dict[str, Any]
    settings_digest: str
    rate_points: list[Any]
    codec: Any = field(default=None, repr=False, compare=False)  # the instance planning built


@dataclass
class Plan:
    config: CtcConfig
    sequences: list[SequenceSpec]
    codecs: list[CodecColumn]
    metrics: list[MetricTask]  # available metrics, in the configured order
    unavailable: dict[str, str]  # metric name -> reason it cannot run here
    metric_info: dict[str, dict[str, Any]]  # name -> higher_is_better, colour_space, weights
    tasks: list[CellTask] = field(default_factory=list)  # table order: sequence, codec, rate point
    #: RD points of the stored anchors (cfg.stored_anchors) for this run's sequences (gfvc.ctc.anchors)
    stored_rows: list[Any] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what the report should say (metrics left out)


#: the folders of a run folder (gfvc.ctc.store) and the files at fixed places in it
RUN_SUBDIRS = ("cells", "failures", "logs", "results", "report", "decoded", "report/pictures")
RUN_FILES = ("run.yaml", "timing.json", ".lock", ".input_hashes.json", "results/results.csv",
             "results/provenance.json", "results/cells.csv", "report/metrics.md", "report/index.html")


def _check_run_paths(cfg: CtcConfig, columns: list[CodecColumn]) -> list[str]:
    """Problems with the paths a run writes inside an existing run folder: a folder that is a
    file (or a file that is a folder) would make the run fail after computing every cell."""
    import stat

    problems = []

    def kind(p: Path) -> int | None:
        try:
            return os.stat(p).st_mode
        except (FileNotFoundError, NotADirectoryError):  # below a file: that file is the problem named
            return None
        except OSError as e:
            problems.append(f"output folder {cfg.output}: {p}: {e.strerror or e}")
            return None

    dirs = [cfg.output / d for d in RUN_SUBDIRS]
    if cfg.keep_decoded:
        for col in columns:
            dirs.append(cfg.output / "decoded" / col.spec.label)
            dirs += [cfg.output / "decoded" / col.spec.label / rate_point_label(rp) for rp in col.rate_points]
    for d in dirs:
        mode = kind(d)
        if mode is None:
            continue
        if not stat.S_ISDIR(mode):
            problems.append(f"output folder {cfg.output}: {d} is not a folder (the run writes into it)")
        elif not os.access(d, os.W_OK | os.X_OK):
            problems.append(f"output folder {cfg.output}: {d} is not writable")
    for f in RUN_FILES:
        mode = kind(cfg.output / f)
        if mode is not None and stat.S_ISDIR(mode):
            problems.append(f"output folder {cfg.output}: {cfg.output / f} is a folder (the run writes this file)")
    return problems


def _check_output(path: Path) -> str | None:
    """None if the run folder can be created/written, else the problem (nothing is created)."""
    p = path
    while not p.exists():
        if p.parent == p:
            break
        p = p.parent
    if not p.is_dir():
        return f"output folder {path}: {p} exists and is not a folder"
    if not os.access(p, os.W_OK | os.X_OK):
        return f"output folder {path}: {p} is not writable"
    # os.access says yes to root everywhere and knows nothing of read-only or pseudo file
    # systems (/proc): make and remove an empty folder to be sure (nothing is left behind).
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".gfvc-write-check-", dir=p))
    except OSError as e:
        return f"output folder {path}: cannot create anything in {p} ({e.strerror or e})"
    return None


def _preflight(spec: CodecSpec, codec, rate_point: Any, seq: SequenceSpec) -> str | None:
    """Code the first pictures of the run's first sequence once, in this process, before any
    cell runs: an option that the codec only checks when it codes (an encoder preset it does
    not know, a missing model file) is then one problem now instead of a failure of every
    cell. None when it codes; else the problem."""
    from ..io import read_sequence

    n = min(PREFLIGHT_FRAMES, seq.frames)
    try:
        frames = read_sequence(seq.path, num_frames=n)
        with tempfile.TemporaryDirectory(prefix="gfvc-ctc-preflight-") as wd:
            result = codec.code(frames, seq.fps, rate_point, Path(wd))
    except Exception as e:  # noqa: BLE001 - whatever fails here would fail every cell
        text = str(e).strip().splitlines()
        detail = text[0] if text else ""
        detail = detail if len(detail) <= 300 else detail[:300] + " ..."
        return (f"codec {spec.label} (options {spec.options!r}) cannot code {n} pictures of {seq.name} at rate "
                f"point {rate_point!r}: {type(e).__name__}: {detail}")
    if not result.bitstream:
        return f"codec {spec.label}: a trial coding of {n} pictures of {seq.name} gave an empty bitstream"
    return None


def _codec_columns(cfg: CtcConfig, problems: list[str]) -> list[CodecColumn]:
    from ..codec.registry import get_codec

    columns = []
    for spec in cfg.codecs:
        missing = _missing_model_file(spec)
        if missing:
            problems.append(missing)
            continue
        try:
            codec = get_codec(spec.name, **spec.options)
        except KeyError as e:
            problems.append(f"codec {spec.label}: {e.args[0] if e.args else e}")
            continue
        except (TypeError, ValueError, GfvcError) as e:
            problems.append(f"codec {spec.label}: bad options {spec.options!r}: {e}")
            continue
        rate_points = spec.rate_points if spec.rate_points is not None else list(codec.default_rate_points)
        if not rate_points:
            problems.append(f"codec {spec.label}: no rate points given and the codec has no default")
        bad = False
        for rp in rate_points:
            try:
                codec.validate_rate_point(rp)
            except (ValueError, TypeError) as e:
                problems.append(f"codec {spec.label}: invalid rate point {rp!r}: {e}")
                bad = True
        try:
            settings = codec.settings()
            sdigest = digest_of(settings)
        except Exception as e:  # noqa: BLE001 - e.g. the encoder binary cannot be found
            problems.append(f"codec {spec.label}: cannot read its settings: {e}")
            continue
        if not bad:
            columns.append(CodecColumn(spec, settings, sdigest, list(rate_points), codec=codec))
    return columns


def _missing_model_file(spec: CodecSpec) -> str | None:
    """One line naming the first model file of a codec's options that is not there."""
    from .config import MODEL_PATH_OPTIONS

    for key in MODEL_PATH_OPTIONS:
        value = spec.options.get(key)
        if isinstance(value, str) and value and not Path(value).is_file():
            given = spec.written_options.get(key)
            shown = value if given == value else f"{given} ({value})"
            why = "is not a file" if Path(value).exists() else "does not exist"
            return f"codec {spec.label}: the {key} file {shown} {why}"
    return None


def _metrics(cfg: CtcConfig, problems: list[str]):
    from ..metrics import get_metric

    tasks, unavailable, info = [], {}, {}
    for name in cfg.metrics:
        options = cfg.metric_options.get(name, {})
        try:
            metric = get_metric(name, **options)
        except Exception as e:  # noqa: BLE001 - MetricError (unknown name, bad option) and friends
            problems.append(f"metric {name}: {str(e).splitlines()[0] if str(e) else type(e).__name__}")
            continue
        ok, reason = metric.availability()
        weights = metric.weights_info() if ok else {}
        info[name] = {"higher_is_better": bool(metric.higher_is_better), "colour_space": metric.colour_space,
                      "version": metric.version, "options": options, "weights": weights, "available": bool(ok),
                      "reason": None if ok else str(reason)}
        if not ok:
            unavailable[name] = str(reason)
            continue
        digest = metric_digest(name, options, weights, __version__, metric.version)
        tasks.append(MetricTask(name=name, options=dict(options), digest=digest))
    for name in cfg.metric_options:
        if name not in cfg.metrics:
            problems.append(f"metric_options names {name!r}, which is not among the run's metrics")
    return tasks, unavailable, info


def build_plan(cfg: CtcConfig, problems: list[str] | None = None, hash_cache: FileHashCache | None = None,
               executor: str | None = None, preflight: bool = True) -> Plan:
    """Check the configuration against the registries and the disk, then list the cells.

    With ``preflight`` (the default) each codec also codes the first pictures of the first
    sequence once (:func:`_preflight`), once everything else is found in order."""
    problems = list(problems or [])
    from .cell import import_plugins

    for module in cfg.plugins:
        try:
            import_plugins([module])
        except Exception as e:  # noqa: BLE001 - any import failure is a configuration problem
            problems.append(f"plugin {module}: cannot be imported ({type(e).__name__}: {e})")
    sequences, seq_problems = resolve_sequences(cfg.sequences)
    problems += seq_problems
    columns = _codec_columns(cfg, problems)
    metrics, unavailable, info = _metrics(cfg, problems)
    out_problem = _check_output(cfg.output)
    if out_problem:
        problems.append(out_problem)
    elif cfg.output.is_dir():
        problems += _check_run_paths(cfg, columns)
    if (executor or cfg.executor) == "ray":
        try:
            import ray  # noqa: F401
        except ImportError as e:
            problems.append(f"executor ray: the ray package cannot be imported ({e})")
    if problems:
        raise ConfigError(problems)
    if preflight and sequences:
        problems += [p for col in columns if col.rate_points and
                     (p := _preflight(col.spec, col.codec, col.rate_points[0], sequences[0]))]
        if problems:
            raise ConfigError(problems)

    plan = Plan(config=cfg, sequences=sequences, codecs=columns, metrics=metrics, unavailable=unavailable,
                metric_info=info)
    cache = hash_cache or FileHashCache(None)
    for seq in sequences:
        sha = cache.sha256(seq.path)
        seq_identity = {"name": seq.name, "file": seq.path.name, "sha256": sha, "frames": seq.frames,
                        "fps": seq.fps, "width": seq.width, "height": seq.height}
        for col in columns:
            for rp in col.rate_points:
                identity = {"gfvc_version": __version__, "sequence": seq_identity,
                            "codec": {"name": col.spec.name, "settings": col.settings}, "rate_point": rp}
                plan.tasks.append(CellTask(
                    digest=digest_of(identity), identity=identity, sequence=seq.name,
                    dataset_class=seq.dataset_class, path=str(seq.path), frames=seq.frames, fps=seq.fps,
                    width=seq.width, height=seq.height, input_sha256=sha, codec_name=col.spec.name,
                    codec_label=col.spec.label, codec_options=dict(col.spec.options),
                    codec_settings_digest=col.settings_digest, rate_point=rp, metrics=tuple(metrics),
                    keep_decoded=cfg.keep_decoded, plugins=tuple(cfg.plugins)))
    seen: dict[str, CellTask] = {}
    for t in plan.tasks:
        if t.digest in seen and seen[t.digest].codec_label != t.codec_label:
            raise ConfigError([f"codecs {seen[t.digest].codec_label} and {t.codec_label} have the same name and "
                               f"settings: they would compute the same cells"])
        seen[t.digest] = t
    if cfg.stored_anchors:
        from .anchors import anchor_rows

        problems = []
        for anchor in cfg.stored_anchors:
            rows, found = anchor_rows(anchor, plan)
            plan.stored_rows += rows
            plan.notes += anchor.notes
            problems += found
        if problems:
            raise ConfigError(problems)
    return plan
