"""Install tests/standins/jvet_standin.py as the HM/VTM apps (GFVC_{HM,VTM}_{ENCODER,DECODER})."""
from __future__ import annotations

import json
import stat
import sys
from pathlib import Path

STANDIN = Path(__file__).parent / "jvet_standin.py"
SRC = Path(__file__).resolve().parents[2] / "source"


def _wrapper(tmp: Path, role: str) -> str:
    path = tmp / role
    path.write_text(f'#!/bin/sh\nPYTHONPATH="{SRC}:$PYTHONPATH" exec "{sys.executable}" "{STANDIN}" {role} "$@"\n')
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return str(path)


def install_jvet_standins(tmp_path: Path, monkeypatch):
    """Point the HM/VTM environment variables at the stand-in; returns a function that lists
    what the apps received (one dict per run, in order)."""
    log = tmp_path / "standin.log"
    monkeypatch.setenv("GFVC_STANDIN_LOG", str(log))
    for fam in ("hm", "vtm"):
        monkeypatch.setenv(f"GFVC_{fam.upper()}_ENCODER", _wrapper(tmp_path, f"{fam}-encoder"))
        monkeypatch.setenv(f"GFVC_{fam.upper()}_DECODER", _wrapper(tmp_path, f"{fam}-decoder"))

    def received():
        return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []

    return received
