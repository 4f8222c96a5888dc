# Table 1 of the step-2000 checkpoint with claim.py's own evaluate(), logged like a claim.py line.
import json, os, sys, time
from pathlib import Path
sys.path.insert(0, "benchmarks")
import torch
torch.set_num_threads(1)
from claim import evaluate
run = Path("/work/bench/i15-slot/tiny-slot-lr2e-3-cos-slot")
evals = {k: Path(f"/work/bench/claim-data/k{k}-1000.h5") for k in range(1, 6)}
t0 = time.process_time()
msg = {"generator": "slot", **evaluate(run, evals)}
msg.update({"tag": "tiny-slot-lr2e-3-cos", "preset": "tiny",
            "overrides": {"lr": 0.002, "lr_schedule": "cosine", "warmup_steps": 200, "schedule_steps": 2800},
            "threads": 1, "cpu_cores": os.cpu_count(),
            "note": "claim.py (before main's fix) did not stop a fresh run at --every-steps; last.pt of the epoch end (step 2000) evaluated by this script",
            "eval_cpu_s": round(time.process_time() - t0, 1)})
with open("benchmarks/results/issue15-slot-tiny.jsonl", "a") as f:
    f.write(json.dumps(msg) + "\n")
print(json.dumps(msg))
