#!/usr/bin/env python3
"""Run the GFVC common test conditions (see doc/ctc.md).

    .venv/bin/python run_ctc.py                 # the built-in CTC on the built-in clips
    .venv/bin/python run_ctc.py -c cfg/ctc/jvet_ah0114.yaml --sequences /data/gfvc_ctc
"""
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "source"))
# this script lives in the gfvc folder: its cfg/ and test_sequences/ give the defaults
os.environ.setdefault("GFVC_ROOT", str(HERE))

from gfvc.ctc.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
