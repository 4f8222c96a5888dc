#!/usr/bin/env bash
# Table 1 at the paper's training length on a CPU: tiny widths, batch 64, the paper's 64000 training images,
# 100000 steps (100 epochs), Table 1 on 1000 held-out images per count every 5000 steps.
#   paper-srn / paper-mlp: the paper's recipe (Adam 3e-4 constant, r = 10 then 20 from epoch 20, unrolled)
#   cpu-srn: the CPU recipe (the tiny preset's Adam 1e-2 constant, --inner-grad truncated:3, r = 10)
# All three share one core (taskset -c CORE), one thread each. Run it again to continue: each run resumes
# from its last.pt (exactly, on the same machine and versions). cpu-srn and paper-mlp met the plateau rule
# (plateau.py; at 60000 and 50000 steps) and were stopped there: they are started only where they have no
# last.pt yet.
#
#   studies/table1-long/run.sh RUNS_DIR [CORE]
set -u
runs=${1:?usage: run.sh RUNS_DIR [CORE]}
core=${2:-1}
mkdir -p "$runs/data" "$runs/logs"
cd "$runs"
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
sslr() { taskset -c "$core" python -m sslr_cli "$@"; }
[ -f data/train.h5 ] || sslr gen-data circles data/train.h5 --n 64000 --seed 0 -q
[ -f data/val.h5 ] || sslr gen-data circles data/val.h5 --n 4000 --seed 1 -q
common=(--preset tiny --batch-size 64 --epochs 100 --max-steps 100000 --val data/val.h5
        --eval-every 5000 --eval-images 1000 --checkpoint-minutes 10 --quiet)
paper=(--lr 3e-4 --lr-schedule constant --inner-grad unrolled --inner-steps 10 --late-inner-steps 20 --late-epoch 20)
cpu=(--lr 1e-2 --lr-schedule constant --inner-grad truncated:3 --inner-steps 10 --late-epoch -1)
start() {  # NAME GENERATOR RECIPE...   (a run with a last.pt continues with the settings it was started with)
  local name=$1 gen=$2; shift 2
  local args=(--generator "$gen" "${common[@]}" "$@")
  [ -f "$name/last.pt" ] && args=(--resume --quiet)
  nohup taskset -c "$core" python -m sslr_cli train data/train.h5 --out "$name" "${args[@]}" >> "logs/$name.log" 2>&1 &
}
start paper-srn srn "${paper[@]}"
[ -f cpu-srn/last.pt ] || start cpu-srn srn "${cpu[@]}"
[ -f paper-mlp/last.pt ] || start paper-mlp mlp "${paper[@]}"
wait
