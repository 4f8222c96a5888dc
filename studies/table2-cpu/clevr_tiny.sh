#!/usr/bin/env bash
# Table 2 at CPU scale (clevr-tiny, 64x64), 620 steps. Every command that made
# studies/table2-cpu/results/clevr-tiny-*-620.json, in order, from the repository root. One thread throughout (OMP_NUM_THREADS=1).
# Budgets are optimizer steps sized by single-thread CPU step time (benchmarks/bench_clevr.py
# --step --preset clevr-tiny --threads 1: SRN 0.58 s, MLP 0.21 s on the 2-core CPU):
# 6 CPU minutes = 620 SRN steps; MLP gets the same 620 steps (2.2 CPU minutes). Planned were 15
# CPU minutes each, and MLP's equal-time 1715 steps; the shared machine gave one process 7-25 % of
# a core (SRN's 620 steps took 35 minutes of wall clock), so neither fitted in the time there was.
set -euo pipefail
cd "$(dirname "$0")/../.."
B=${B:-bench-out/clevr-tiny}
R=${R:-studies/table2-cpu/results}
export OMP_NUM_THREADS=1
mkdir -p "$B"
sslr() { python -m sslr_cli "$@"; }
step() {  # the stage runs only if its output is missing, so the script resumes after an interruption
  local out=$1; shift
  [ -e "$out" ] || "$@"
}
step "$B/clevr64-test.h5"  sslr gen-data clevr "$B/clevr64-test.h5" --n 500 --size 64 --seed 2 -q
step "$B/clevr64-train.h5" sslr gen-data clevr "$B/clevr64-train.h5" --n 6000 --size 64 --seed 1 -q
step "$B/srn/last.pt" sslr train "$B/clevr64-train.h5" --preset clevr-tiny --generator srn --out "$B/srn" \
    --max-steps 620 --epochs 1000 --device cpu --quiet
step "$B/mlp-620/last.pt" sslr train "$B/clevr64-train.h5" --preset clevr-tiny --generator mlp --out "$B/mlp-620" \
    --max-steps 620 --epochs 1000 --device cpu --quiet
for run in srn mlp-620; do
  step "$R/clevr-tiny-${run%-620}-620.json" bash -c "python -m sslr_cli iou '$B/$run/last.pt' --data '$B/clevr64-test.h5' \
      --device cpu --json > '$R/clevr-tiny-${run%-620}-620.json'"
done
