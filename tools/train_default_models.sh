#!/usr/bin/env bash
# How gfvc's default models (models/) were trained: on the built-in training clips only, on CPU.
# DAC from scratch; MRDAC warm-started from the DAC (its keypoint detector and animation generator,
# the aggregation blocks new); RDAC+ = the DAC as its animation stage (warm start), then the paper's
# residual stage and refinement stage. Every step resumes where it stopped (--resume), so the
# script can be rerun after a kill. The --max-iterations of MRDAC and RDAC+ are where the shipped
# runs were stopped for time (their configurations' epochs would go further). Logs: runs/<name>.log; outputs: runs/<name>/.
# Run in the background: nohup bash tools/train_default_models.sh > runs/train_default_models.log 2>&1 &
set -euo pipefail
cd "$(dirname "$0")/.."
T=.venv/bin/gfvc-train
mkdir -p runs
.venv/bin/gfvc-build-sequences --training
finished() { .venv/bin/python -c "import json,sys; sys.exit(0 if json.load(open('$1/checkpoint.json'))['finished'] else 1)" 2>/dev/null; }
finished runs/dac_small || $T --config cfg/train/dac_small.yaml --data builtin --out runs/dac_small --resume > runs/dac_small.log 2>&1
DAC=runs/dac_small/checkpoint.pth.tar
# the two followers run side by side, one core each
OMP_NUM_THREADS=1 $T --config cfg/train/mrdac_small.yaml --data builtin --out runs/mrdac_small \
    --warm-start $DAC --max-iterations 150 --resume > runs/mrdac_small.log 2>&1 &
mrdac=$!
( OMP_NUM_THREADS=1 $T --config cfg/train/rdac_plus_small.yaml --stage residual --data builtin \
      --out runs/rdac_plus_small_residual --warm-start $DAC --max-iterations 95 --resume > runs/rdac_plus_small_residual.log 2>&1 &&
  $T --config cfg/train/rdac_plus_small.yaml --stage refinement --epochs 1 --max-iterations 30 --data builtin \
      --out runs/rdac_plus_small_refinement --init runs/rdac_plus_small_residual/checkpoint.pth.tar --resume \
      > runs/rdac_plus_small_refinement.log 2>&1 ) &
rdac=$!
wait $mrdac
wait $rdac
.venv/bin/gfvc-export-model runs/dac_small models/dac_small
.venv/bin/gfvc-export-model runs/mrdac_small models/mrdac_small
.venv/bin/gfvc-export-model runs/rdac_plus_small_refinement models/rdac_plus_small
