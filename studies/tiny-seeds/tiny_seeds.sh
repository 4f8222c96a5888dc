#!/usr/bin/env bash
# Issue 12: the spread of the `tiny` preset's 10-minute Table 1 over seeds, with a curve. For each seed, SRN
# and MLP side by side (benchmarks/claim.py: one process and one thread each) for the step counts the
# README's 10-minute row took on one thread (SRN 2652, MLP 3225), Table 1 on the 1000 test images per count
# every 663 steps and at the end. Appends to benchmarks/results/issue12-tiny-seeds.jsonl.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH=$PWD OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
DATA=${DATA:-/work/bench/claim-data}
OUT=${OUT:-/work/bench/claim-runs}
for seed in ${SEEDS:-0 1 2}; do
  python benchmarks/claim.py --preset tiny --steps srn=2652,mlp=3225 --every-steps 663 --set seed=$seed \
    --tag tiny-seed$seed --data "$DATA" --out "$OUT" --log benchmarks/results/issue12-tiny-seeds.jsonl
done
