"""gfvc.ctc: the common-test-condition runner (run_ctc.py, gfvc-ctc).

A run is a grid of cells (sequence x codec x rate point). Modules, in the order a run uses them:

- ``config``: the YAML configuration and command-line overrides;
- ``sequences``, ``plan``: checking everything and listing the cells with their digests
  (``digest``);
- ``executors``, ``cell``: computing cells (serial, local processes, Ray);
- ``store``: the run folder, one atomically written record per finished cell;
- ``runner``, ``tables``, ``timing``, ``progress``: resuming, assembling the tables and report,
  reporting time per stage;
- ``cli``: the command line. See doc/ctc.md.
"""
from .config import CtcConfig, load_config
from .errors import ConfigError, CtcError
from .plan import Plan, build_plan
from .runner import RunSummary, run_plan

__all__ = ["CtcConfig", "load_config", "ConfigError", "CtcError", "Plan", "build_plan", "RunSummary", "run_plan"]
