#!/usr/bin/env bash
# The spread of the `tiny` preset's 10-minute Table 1 over seeds, with a curve. For each seed, SRN
# and MLP side by side (studies/cpu-presets/claim.py: one process and one thread each) for the step counts the
# 10-minute row of studies/cpu-presets took on one thread (SRN 2652, MLP 3225), Table 1 on the 1000 test images per count
# every 663 steps and at the end. Appends to studies/tiny-seeds/results/tiny-three-seeds.jsonl.
# DATA: the claim.py data folder (made on first use); OUT: its run folder.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PYTHONPATH=$PWD OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
DATA=${DATA:-bench-out/claim-data}
OUT=${OUT:-bench-out/claim-runs}
for seed in ${SEEDS:-0 1 2}; do
  python studies/cpu-presets/claim.py --preset tiny --steps srn=2652,mlp=3225 --every-steps 663 --set seed=$seed \
    --tag tiny-seed$seed --data "$DATA" --out "$OUT" --log studies/tiny-seeds/results/tiny-three-seeds.jsonl
done
