#!/usr/bin/env bash
# Table 3 past the match-tiny preset's 3000 steps: naive CNN, SSLR-MLP and SSLR-SRN at the
# match-tiny width, three seeds, STEPS steps each with a checkpoint every EVERY steps; then `sslr match` on the
# 4000 test pairs at every kept step, so the test-set curve has three seeds per point.
#   studies/table3-cpu/table3_long.sh [train|table]...   (default: both)
# One training process at a time, one thread. DATA holds iso-train.h5 (64000 pairs) and iso-test.h5 (4000
# pairs, another seed), e.g. the data folder of `sslr reproduce OUT --scale tiny`. Writes
# studies/table3-cpu/results/long-stepN.json; runs go to BENCH.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PYTHONPATH=$PWD OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
B=${BENCH:-bench-out/table3-long}
DATA=${DATA:-bench-out/tiny-reproduction/data}
STEPS=${STEPS:-9000}
EVERY=${EVERY:-3000}
SEEDS=${SEEDS:-0 1 2}
sslr() { python -m sslr_cli "$@"; }
phases=${*:-train table}
for phase in $phases; do case $phase in
train)  # seed by seed, so that an early stop leaves whole seeds
  for seed in $SEEDS; do for g in srn cnn mlp; do
    [ -f "$B/$g/seed-$seed/last.pt" ] && continue
    sslr train "$DATA/iso-train.h5" --task match --preset match-tiny --generator $g --seed $seed \
      --max-steps "$STEPS" --keep-every "$EVERY" --out "$B/$g/seed-$seed" -q --json > /dev/null
  done; done ;;
table)
  for ((step = EVERY; step <= STEPS; step += EVERY)); do
    ckpts=(); for f in "$B"/{cnn,mlp,srn}/seed-*/step-$(printf %06d $step).pt; do [ -f "$f" ] && ckpts+=("$f"); done
    [ ${#ckpts[@]} -gt 0 ] || continue
    sslr match "${ckpts[@]}" --data "$DATA/iso-test.h5" --json > "studies/table3-cpu/results/long-step$step.json"
  done ;;
*) echo "unknown phase $phase" >&2; exit 2 ;;
esac; done
