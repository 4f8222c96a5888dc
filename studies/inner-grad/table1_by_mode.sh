#!/usr/bin/env bash
# Table 1 by --inner-grad at `tiny`, each mode's own 10 CPU minutes at one thread (steps = 2652 x
# unrolled's step time / the mode's, from `bench.py --only inner-grad --inner-grad-presets tiny
# --inner-grad-modes unrolled,implicit,truncated:3 --inner-grad-r 10 --reps 21 --inner-grad-interleave` with the
# FSPool kernel: truncated:3 0.910, implicit 0.889). Rows go to studies/inner-grad/results/table1-by-mode.jsonl;
# unrolled's three seeds are studies/tiny-seeds/tiny_seeds.sh's. Run one line per core, from any folder.
set -euo pipefail
cd "$(dirname "$0")/../.."
DATA=${DATA:-bench-out/claim-data}
OUT=${OUT:-bench-out/claim-runs}
LOG=${LOG:-studies/inner-grad/results/table1-by-mode.jsonl}
export OMP_NUM_THREADS=1
python studies/cpu-presets/claim.py --preset tiny --generators srn --set inner_grad=implicit --steps srn=3014 --every-steps 1507 \
  --tag tiny-implicit-kernel --data "$DATA" --out "$OUT" --log "$LOG"
for seed in 0 1 2; do
  tag=tiny-truncated3-kernel$([ "$seed" = 0 ] || echo "-seed$seed")
  python studies/cpu-presets/claim.py --preset tiny --generators srn --set inner_grad=truncated:3 --set seed=$seed \
    --steps srn=2914 --every-steps 1457 --tag "$tag" --data "$DATA" --out "$OUT" --log "$LOG"
done
