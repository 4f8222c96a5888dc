#!/usr/bin/env bash
# Trains the weights shipped in sslr_cli/weights/ (tiny-srn, tiny-mlp) and measures their Table 1
# (docs/weights.md). The demo scale of `sslr reproduce`: the tiny preset, 1500 optimizer steps each,
# one thread per run, no held-out split (best.pt = the last weights), seed 0.
#
#   bash scripts/train_released_weights.sh [WORK_DIR]    (default build/released-weights)
#
# then commit the two .safetensors files it copies into sslr_cli/weights/.
set -euo pipefail
WORK=${1:-build/released-weights}
SSLR=${SSLR:-sslr}
export OMP_NUM_THREADS=1
mkdir -p "$WORK/data"
$SSLR gen-data circles "$WORK/data/circles-train.h5" --n 64000 --seed 0 --force -q >/dev/null
for k in 1 2 3 4 5; do
  $SSLR gen-data circles "$WORK/data/circles-$k.h5" --n 250 --count "$k" --seed "$((1000 + k))" --force -q >/dev/null
done
for g in srn mlp; do
  $SSLR train "$WORK/data/circles-train.h5" --preset tiny --generator "$g" --seed 0 --max-steps 1500 \
    --val-fraction 0 --out "$WORK/tiny-$g" --force -q
  $SSLR export "$WORK/tiny-$g" --to "sslr_cli/weights/tiny-$g.safetensors" --force
done
data=()
for k in 1 2 3 4 5; do data+=(--data "$WORK/data/circles-$k.h5"); done
$SSLR reconstruct tiny-srn tiny-mlp "${data[@]}" --out-dir "$WORK" --force
