#!/usr/bin/env bash
# Table 2 at CPU scale for an hour of SRN (clevr-tiny, 64x64): the data of clevr_tiny.sh
# (it makes them), SRN and MLP trained to 6200 steps each (about one single-thread CPU hour of SRN at 0.58 s/step; MLP's
# 6200 steps are ~22 CPU minutes), a checkpoint kept every 1550 steps, and `sslr iou` on the 500 test scenes at
# every kept step. One thread per training; run the two trainings side by side on a 2-core machine:
#   PHASE=train GEN=srn bash studies/table2-cpu/table2_hour.sh &  PHASE=train GEN=mlp bash studies/table2-cpu/table2_hour.sh
#   PHASE=iou bash studies/table2-cpu/table2_hour.sh
# Results: studies/table2-cpu/results/hour-{srn,mlp}-stepNNNNNN.json. Resumes: a stage whose output exists is skipped.
set -euo pipefail
cd "$(dirname "$0")/../.."
B=${B:-bench-out/clevr-tiny}
R=${R:-studies/table2-cpu/results}
STEPS=${STEPS:-6200}
EVERY=${EVERY:-1550}
export OMP_NUM_THREADS=1
sslr() { python -m sslr_cli "$@"; }
case "${PHASE:-all}" in
  train|all)
    for gen in ${GEN:-srn mlp}; do
      [ -e "$B/$gen-$STEPS/last.pt" ] || sslr train "$B/clevr64-train.h5" --preset clevr-tiny --generator "$gen" \
          --out "$B/$gen-$STEPS" --max-steps "$STEPS" --epochs 1000 --keep-every "$EVERY" --device cpu --quiet
    done ;;&
  iou|all)
    for gen in srn mlp; do
      for ckpt in "$B/$gen-$STEPS"/step-*.pt; do
        [ -e "$ckpt" ] || continue
        out="$R/hour-$gen-$(basename "$ckpt" .pt | tr -d -).json"
        if [ ! -e "$out" ]; then
          sslr iou "$ckpt" --data "$B/clevr64-test.h5" --device cpu --json > "$out.tmp"
          mv "$out.tmp" "$out"
        fi
      done
    done ;;
esac
