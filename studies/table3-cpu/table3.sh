#!/usr/bin/env bash
# Table 3 (set matching) on a CPU with the match-tiny preset, one training process at a time, one thread
# (`sslr reproduce OUT --scale tiny` runs the same four models x three seeds, two at a time; the 3000-step table
# comes from that run). Writes studies/table3-cpu/results/table3-match-tiny.json (TABLE_JSON).
#   studies/table3-cpu/table3.sh [PHASE...]    phases: data init pilot seeds table (default: all, in that order)
# BENCH (default bench-out/table3) holds data and runs; outputs are never overwritten (sslr refuses).
set -euo pipefail
cd "$(dirname "$0")/../.."
export PYTHONPATH=$PWD OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
B=${BENCH:-bench-out/table3}
TABLE_JSON=${TABLE_JSON:-studies/table3-cpu/results/table3-match-tiny.json}
SEEDS=${SEEDS:-0,1,2}
sslr() { python -m sslr_cli "$@"; }
ALT="--extra match_cost=smooth_l1 --extra loc_dim=3 --extra att_dim=3"   # the reference code's matcher
mkdir -p "$B"
phases=${*:-data init pilot seeds table}
for phase in $phases; do case $phase in
data)   # the paper's sizes: 64000 training pairs (5 % held out for validation), 4000 test pairs from another seed
  [ -f "$B/iso-train.h5" ] || sslr gen-data isocircles "$B/iso-train.h5" --n 64000 --seed 1 -q
  [ -f "$B/iso-test.h5" ]  || sslr gen-data isocircles "$B/iso-test.h5" --n 4000 --seed 2 -q
  [ -f "$B/circles-train.h5" ] || sslr gen-data circles "$B/circles-train.h5" --n 64000 --seed 0 -q ;;
init)   # the reconstruction model whose weights start "SSLR-SRN (r + init)": the tiny circles SRN (match-tiny has
        # its widths), 2650 steps as `sslr reproduce --scale tiny` trains it
  sslr train "$B/circles-train.h5" --preset tiny --generator srn --max-steps 2650 --val-fraction 0 --out "$B/init-srn" -q --json ;;
pilot)  # one seed: the Hungarian-cost/embedding variants, and the naive CNN's learning rate
  # (run first, at RMSprop 5e-4 for all models: the set models learnt too little in 1000 steps; match-tiny now
  # has 2e-3 for them and 5e-4 for the CNN, see match_curves.py and this study's README)
  sslr train "$B/iso-train.h5" --task match --preset match-tiny --generator srn $ALT --lr 5e-4 --seed 0 --out "$B/alt-srn-lr5e-4" -q --json
  sslr train "$B/iso-train.h5" --task match --preset match-tiny --generator cnn --lr 5e-4 --seed 0 --out "$B/cnn-lr5e-4" -q --json
  sslr train "$B/iso-train.h5" --task match --preset match-tiny --generator srn $ALT --seed 0 --out "$B/alt-srn" -q --json ;;
seeds)  # Table 3: four models x three seeds
  sslr train "$B/iso-train.h5" --task match --preset match-tiny --generator srn --seeds "$SEEDS" --out "$B/srn" -q --json
  sslr train "$B/iso-train.h5" --task match --preset match-tiny --generator cnn --seeds "$SEEDS" --out "$B/cnn" -q --json
  sslr train "$B/iso-train.h5" --task match --preset match-tiny --generator mlp --seeds "$SEEDS" --out "$B/mlp" -q --json
  sslr train "$B/iso-train.h5" --task match --preset match-tiny --generator srn --recon-weight 1 --init "$B/init-srn/best.pt" \
    --seeds "$SEEDS" --out "$B/srn-ri" -q --json ;;
table)  # every finished run (a directory with best.pt); the pilots as extra rows of the JSON
  runs=(); for d in "$B"/{cnn,mlp,srn,srn-ri}/seed-*; do [ -f "$d/best.pt" ] && runs+=("$d"); done
  more=(); for d in "$B"/alt-srn "$B"/alt-srn-lr5e-4 "$B"/cnn-lr5e-4; do [ -f "$d/best.pt" ] && more+=("$d"); done
  sslr match "${runs[@]}" "${more[@]}" --data "$B/iso-test.h5" --json > "$TABLE_JSON"
  sslr match "${runs[@]}" --data "$B/iso-test.h5" -q ;;
*) echo "unknown phase $phase" >&2; exit 2 ;;
esac; done
