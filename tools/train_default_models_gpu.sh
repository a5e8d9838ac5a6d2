#!/usr/bin/env bash
# The GPU schedule of gfvc's default models: all five small models trained side by side on one
# GPU for a fixed wall-clock budget each (gfvc-train --time-limit, which stops with a checkpoint),
# then exported as model folders. DAC, MRDAC and RDAC+ continue from the CPU-trained models of
# models/ (--warm-start: every tensor that fits), HDAC starts from the DAC's keypoint detector and
# generator, CFTE from scratch. On the built-in training clips only (never the test clips).
#
#   DATA=folder of the training .rgb clips (gfvc-build-sequences --training, test_sequences/builtin
#        also works: --data builtin reads only the training clips of the manifest)
#   BL=folder with qp42/ qp47/ qp52/ subfolders of the clips' decoded HDAC base layers, coded as the
#      hdac codec codes them (vvenc low delay at that QP, IRAP at QP 22), same file names
#   SECONDS_EACH=training budget per model (default 360); RDAC+ splits it 70/30 between its
#      residual and refinement stages
#   PY=python with gfvc importable (default .venv/bin/python); RUNS=output folder (default runs/gpu)
# Usage: DATA=... BL=... bash tools/train_default_models_gpu.sh
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
RUNS=${RUNS:-runs/gpu}
S=${SECONDS_EACH:-360}
W=${NUM_WORKERS:-2}
T="$PY -m gfvc.train.cli"
mkdir -p "$RUNS"
common=(--data "$DATA" --num-workers "$W" --checkpoint-every 200 --num-repeats 100 --epochs 1000 --resume)
$T --config cfg/train/dac_small.yaml "${common[@]}" --out "$RUNS/dac_small" --batch-size 16 \
    --warm-start models/dac_small/checkpoint.pth.tar --time-limit "$S" > "$RUNS/dac_small.log" 2>&1 &
$T --config cfg/train/mrdac_small.yaml "${common[@]}" --out "$RUNS/mrdac_small" --batch-size 8 \
    --warm-start models/mrdac_small/checkpoint.pth.tar --time-limit "$S" > "$RUNS/mrdac_small.log" 2>&1 &
$T --config cfg/train/hdac_small.yaml "${common[@]}" --out "$RUNS/hdac_small" --batch-size 16 \
    --base-layer 42="$BL/qp42" --base-layer 47="$BL/qp47" --base-layer 52="$BL/qp52" \
    --warm-start models/dac_small/checkpoint.pth.tar --time-limit "$S" > "$RUNS/hdac_small.log" 2>&1 &
$T --config cfg/train/cfte_small.yaml "${common[@]}" --out "$RUNS/cfte_small" --batch-size 16 \
    --time-limit "$S" > "$RUNS/cfte_small.log" 2>&1 &
( $T --config cfg/train/rdac_plus_small.yaml --stage residual "${common[@]}" --out "$RUNS/rdac_plus_small_residual" \
      --batch-size 8 --warm-start models/rdac_plus_small/checkpoint.pth.tar --time-limit $((S * 7 / 10)) \
      > "$RUNS/rdac_plus_small_residual.log" 2>&1
  $T --config cfg/train/rdac_plus_small.yaml --stage refinement "${common[@]}" --out "$RUNS/rdac_plus_small_refinement" \
      --batch-size 8 --init "$RUNS/rdac_plus_small_residual/checkpoint.pth.tar" --time-limit $((S * 3 / 10)) \
      > "$RUNS/rdac_plus_small_refinement.log" 2>&1 ) &
wait
for m in dac_small mrdac_small hdac_small cfte_small rdac_plus_small_refinement; do
    $PY -m gfvc.train.export "$RUNS/$m" "$RUNS/export/${m%_refinement}" || echo "export of $m failed"
done
