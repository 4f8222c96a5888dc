#!/usr/bin/env bash
# One prepared GPU run of the preset sweep (and the paper preset's GPU step times): what was run, in order,
# from the repository root.
#   OUT=some/folder BUDGET_S=540 bash studies/cpu-presets/gpu_sweep.sh                          # first run
#   OUT=some/folder BUDGET_S=300 BENCH=0 SWEEP=studies/cpu-presets/sweeps/learning-rates.txt bash studies/cpu-presets/gpu_sweep.sh
# Everything it measures lands in $OUT: gpu.txt, bench_gpu.json, sweep.jsonl, sweep.log (data and runs in $OUT too).
set -u
OUT=${OUT:-bench-out/gpu}; BUDGET_S=${BUDGET_S:-540}; BENCH=${BENCH:-1}; SWEEP=${SWEEP:-studies/cpu-presets/sweeps/settings.txt}
mkdir -p "$OUT"; export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
{ nvidia-smi -L; python3 -c 'import torch; print("torch", torch.__version__, torch.cuda.get_device_name())'
  lscpu | grep -E 'Model name|^CPU\(s\)'; } 2>&1 | tee "$OUT/gpu.txt"
# 1. paper-preset step timings, batch 64, fp32 and bf16
[ "$BENCH" = 1 ] && timeout 90 python3 studies/speed/bench_gpu.py --batch-sizes 64 --precisions fp32,bf16 --steps 10 --json \
  > "$OUT/bench_gpu.json" 2> "$OUT/bench_gpu.err"; echo "bench_gpu rc=$? at ${SECONDS}s" | tee -a "$OUT/gpu.txt"
# 2. MPS lets the sweep's many small processes share the GPU without context switches; off if it fails
export CUDA_MPS_PIPE_DIRECTORY="$OUT/mps" CUDA_MPS_LOG_DIRECTORY="$OUT/mps-log"
mkdir -p $CUDA_MPS_PIPE_DIRECTORY $CUDA_MPS_LOG_DIRECTORY
if nvidia-cuda-mps-control -d 2>>"$OUT/gpu.txt" && timeout 30 python3 -c 'import torch; print(torch.ones(8, device="cuda").sum().item())'; then
  echo "MPS on at ${SECONDS}s" | tee -a "$OUT/gpu.txt"
else
  echo quit | nvidia-cuda-mps-control 2>/dev/null; unset CUDA_MPS_PIPE_DIRECTORY CUDA_MPS_LOG_DIRECTORY
  echo "MPS off at ${SECONDS}s" | tee -a "$OUT/gpu.txt"
fi
# 3. the sweep, until the budget's end
left=$(( BUDGET_S - SECONDS - 40 ))
python3 studies/cpu-presets/sweep.py "$SWEEP" --device cuda --deadline-min "$(python3 -c "print($left/60 - 0.4)")" \
  --data "$OUT/data" --runs "$OUT/runs" --log "$OUT/sweep.jsonl" 2>&1 | tee "$OUT/sweep.log" | grep -v Warning
echo "done at ${SECONDS}s" | tee -a "$OUT/gpu.txt"
