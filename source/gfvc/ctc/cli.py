"""gfvc-ctc / run_ctc.py: run the GFVC common test conditions.

With no arguments it runs the built-in CTC (cfg/ctc/builtin.yaml) on the built-in clips and
writes the result table, the BD-rate tables and the plots under runs/ctc/builtin/. Run it
again after a stop (Ctrl-C, kill, a crash, a lost machine): finished cells are kept, the rest
is computed. Exit status: 0 all cells finished, 1 some cells failed, 2 bad configuration.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..errors import GfvcError
from .config import DEFAULT_CONFIG_REL, EXECUTORS
from .errors import ConfigError, CtcError

PROG = "gfvc-ctc"


def _csv(value: str) -> list[str]:
    return [v for v in (s.strip() for s in value.split(",")) if v]


def _rate_point(text: str) -> Any:
    for conv in (int, float):
        try:
            return conv(text)
        except ValueError:
            pass
    return text


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG, description="Run the GFVC common test conditions: sequences x codecs x rate points, "
        "resumable and parallel; writes results, BD-rate tables and plots.",
        epilog="Options override the configuration file. See doc/ctc.md.")
    p.add_argument("-c", "--config", type=Path, default=None,
                   help=f"CTC configuration (YAML; default {DEFAULT_CONFIG_REL} of the gfvc folder: $GFVC_ROOT, "
                   "or the working folder or one above it)")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--sequences", type=Path, metavar="FOLDER",
                     help="code the JVET-named sequences in FOLDER (checked against --sequence-list)")
    src.add_argument("--builtin", action="store_true", help="code the built-in clips")
    p.add_argument("--sequence-list", type=Path, metavar="YAML",
                   help="the CTC list a --sequences folder is checked against (default test_sequences/jvet_ah0114.yaml)")
    p.add_argument("--only", type=_csv, metavar="NAME[,NAME]", help="only these sequences (by NAME)")
    p.add_argument("--frames", type=int, metavar="N", help="code the first N frames of every sequence")
    p.add_argument("--codecs", type=_csv, metavar="NAME[,NAME]",
                   help="only these codecs of the configuration (by label), or registry names not in it")
    p.add_argument("--rate-points", type=lambda s: [_rate_point(x) for x in _csv(s)], metavar="RP[,RP]",
                   help="rate points for every codec (e.g. QPs 22,32,42,52)")
    p.add_argument("--metrics", type=_csv, metavar="NAME[,NAME]", help="metrics to report")
    p.add_argument("--anchors", type=_csv, metavar="CODEC[,CODEC]", help="anchor codecs of the BD-rate tables")
    p.add_argument("--tests", type=_csv, metavar="CODEC[,CODEC]", help="test codecs of the BD-rate tables")
    p.add_argument("-o", "--output", type=Path, metavar="FOLDER", help="run folder (default runs/ctc/<name>)")
    p.add_argument("--keep-decoded", action="store_true", help="keep the decoded pictures (.rgb) of every cell")
    p.add_argument("--executor", choices=EXECUTORS, help="where cells run (default local)")
    p.add_argument("-j", "--workers", type=int, metavar="N", help="parallel cells (default: one per core)")
    p.add_argument("--ray-address", metavar="ADDR",
                   help="ray executor: 'auto' or host:port of a running cluster (default: a local Ray)")
    p.add_argument("--plugin", action="append", metavar="MODULE",
                   help="import MODULE first (driver and workers): it registers extra codecs or metrics")
    p.add_argument("--no-report", action="store_true", help="write the result table but no BD-rate report")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--quick", action="store_true",
                   help="a short smoke run of the configuration: 2 sequences, 8 frames, 2 rate points per "
                   "codec, cheap metrics, no BD-rate report, into runs/ctc/<name>-quick (options apply on top)")
    p.add_argument("--plan", action="store_true",
                   help="check the configuration, list the cells and their state, and do no work")
    return p


def overrides_from_args(args: argparse.Namespace, file_codecs: list[Any]) -> dict[str, Any]:
    """Translate command-line options into the file schema (paths made absolute here, so they
    are relative to the working folder, not to the configuration file)."""
    o: dict[str, Any] = {}
    seq: dict[str, Any] = {}
    if args.sequences is not None:
        seq["folder"] = str(args.sequences.resolve())
    if args.builtin:
        seq["builtin"] = True
    if args.sequence_list is not None:
        seq["list"] = str(args.sequence_list.resolve())
    if args.only is not None:
        seq["include"] = args.only
    if args.frames is not None:
        seq["frames"] = args.frames
    if seq:
        o["sequences"] = seq
    if args.codecs is not None or args.rate_points is not None:
        entries = [e if isinstance(e, dict) else {"name": e} for e in (file_codecs or []) if isinstance(e, (dict, str))]
        if args.codecs is not None:
            by_label = {e.get("label", e.get("name")): e for e in entries}
            entries = [dict(by_label[c]) if c in by_label else {"name": c} for c in args.codecs]
        if args.rate_points is not None:
            entries = [dict(e, rate_points=list(args.rate_points)) for e in entries]
        o["codecs"] = entries
    if args.metrics is not None:
        o["metrics"] = args.metrics
    if args.anchors is not None or args.tests is not None:
        o["bdrate"] = {}
        o["bdrate"]["anchors"] = args.anchors if args.anchors is not None else []
        if args.tests is not None:
            o["bdrate"]["tests"] = args.tests
    if args.output is not None:
        o["output"] = str(args.output.resolve())
    if args.keep_decoded:
        o["keep_decoded"] = True
    if args.executor is not None:
        o["executor"] = args.executor
    if args.workers is not None:
        o["workers"] = args.workers
    if args.ray_address is not None:
        o["ray_address"] = args.ray_address
    if args.plugin:
        o["plugins"] = list(args.plugin)
    return o


#: command-line options -> the configuration keys they set (problems with them name the option)
_CLI_KEYS = (("sequences", "sequences.folder", "--sequences"), ("builtin", "sequences.builtin", "--builtin"),
             ("sequence_list", "sequences.list", "--sequence-list"), ("only", "sequences.include", "--only"),
             ("frames", "sequences.frames", "--frames"), ("codecs", "codecs", "--codecs"),
             ("rate_points", "codecs.rate_points", "--rate-points"), ("metrics", "metrics", "--metrics"),
             ("anchors", "bdrate.anchors", "--anchors"), ("tests", "bdrate.tests", "--tests"),
             ("output", "output", "--output"), ("executor", "executor", "--executor"), ("workers", "workers", "-j"),
             ("ray_address", "ray_address", "--ray-address"), ("plugin", "plugins", "--plugin"))


def cli_sources(args: argparse.Namespace) -> dict[str, str]:
    """Configuration key -> the command-line option that set it (for messages)."""
    given = {attr for attr, _, _ in _CLI_KEYS
             if getattr(args, attr, None) is not None and getattr(args, attr, None) is not False}
    return {key: opt for attr, key, opt in _CLI_KEYS if attr in given}


def _fix_bdrate(o: dict[str, Any], raw: dict[str, Any]) -> None:
    """--codecs may drop a BD-rate anchor or test of the file: keep the pairs still in the run,
    and make no BD-rate report when no pair is left (rather than failing on the file's pairs)."""
    if "codecs" not in o or "bdrate" in o:
        return
    labels = {e.get("label", e["name"]) for e in o["codecs"]}
    bd = raw.get("bdrate") or {}
    if not isinstance(bd, dict):
        return
    # a name that is no codec of the file is a stored anchor's (stored_anchors): it stays
    in_file = {e.get("label", e.get("name")) for e in raw.get("codecs") or [] if isinstance(e, dict)} | \
        {e for e in raw.get("codecs") or [] if isinstance(e, str)}
    anchors = [n for n in bd.get("anchors") or [] if n in labels or n not in in_file]
    tests = bd.get("tests")
    tests = [n for n in tests if n in labels or n not in in_file] if isinstance(tests, list) else None
    remaining = tests if tests is not None else [x for x in labels if x not in anchors]
    if anchors and [t for t in remaining if t not in anchors]:
        o["bdrate"] = {"anchors": anchors, "tests": tests}
    else:
        o["bdrate"] = {"anchors": [], "tests": None}


def _one_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from .config import default_config, load_yaml, merge_overrides, parse_config, quick_config
    from .digest import FileHashCache
    from .plan import build_plan

    try:
        cfg_path = args.config if args.config is not None else default_config()
        raw = load_yaml(cfg_path)
        if args.quick:
            raw = quick_config(raw)
        o = overrides_from_args(args, raw.get("codecs") if isinstance(raw.get("codecs"), list) else [])
        _fix_bdrate(o, raw)
        cfg, problems = parse_config(merge_overrides(raw, o), base=cfg_path.resolve().parent, source=cfg_path,
                                     cli=cli_sources(args))
        hashes = FileHashCache(cfg.output / ".input_hashes.json" if not problems else None)
        plan = build_plan(cfg, problems, hash_cache=hashes)
    except ConfigError as e:
        for problem in e.problems:
            print(f"{PROG}: error: {problem}", file=sys.stderr)
        print(f"{PROG}: {len(e.problems)} problem(s) in the configuration; nothing was run", file=sys.stderr)
        return 2
    except GfvcError as e:  # CtcError, and a file that cannot be read (FileProblem)
        print(f"{PROG}: error: {_one_line(e)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted while planning; nothing was run", file=sys.stderr)
        return 130
    for warning in hashes.warnings:
        print(f"{PROG}: warning: {warning}", file=sys.stderr)

    if args.plan:
        return _print_plan(plan)

    from .runner import run_plan

    try:
        summary = run_plan(plan, progress=not args.no_progress, report=not args.no_report, hash_cache=hashes)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; finished cells are kept, run the same command again to go on", file=sys.stderr)
        return 130
    except CtcError as e:
        print(f"{PROG}: error: {_one_line(e)}", file=sys.stderr)
        return 2
    except GfvcError as e:  # FileProblem: a full disk, a folder that became unwritable
        print(f"{PROG}: error: {_one_line(e)}; finished cells are kept, run the same command again "
              f"to go on", file=sys.stderr)
        return 2
    for f in summary.failed:
        print(f"{PROG}: cell {f.get('sequence')}/{f.get('codec')}/{f.get('rate_point')} failed: {f.get('error')}",
              file=sys.stderr)
    for what, path in summary.written.items():
        print(f"{what}: {path}")
    if summary.failed:
        print(f"{PROG}: {len(summary.failed)} of {summary.cells} cells failed (errors under "
              f"{summary.run_dir / 'failures'}, logs under {summary.run_dir / 'logs'}); "
              f"run the same command again to retry them", file=sys.stderr)
        return 1
    return 0


def _print_plan(plan) -> int:
    from .runner import cell_states
    from .store import RunStore

    store = RunStore(plan.config.output)
    states = cell_states(plan, store) if store.root.is_dir() else None
    for warning in store.warnings:
        print(f"{PROG}: warning: {warning}", file=sys.stderr)
    print(f"{len(plan.tasks)} cells: {len(plan.sequences)} sequences x "
          + " + ".join(f"{c.spec.label} ({len(c.rate_points)} rate points)" for c in plan.codecs))
    for i, t in enumerate(plan.tasks):
        st = states[i].status if states else "todo"
        if states and st == "todo" and states[i].failure:
            st = "failed"
        print(f"  {st:<8} {t.title:<40} {t.digest[:16]}")
    for name, reason in plan.unavailable.items():
        print(f"metric {name} unavailable: {reason}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
