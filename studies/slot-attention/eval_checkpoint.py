"""Table 1 of one run's last.pt with claim.py's own ``evaluate``, appended as a claim.py log line.

How the step-2000 row of this study was measured: claim.py (at the time) did not stop a fresh run at
``--every-steps``, so the epoch-end checkpoint (step 2000) was evaluated by this script instead.

    python studies/slot-attention/eval_checkpoint.py bench-out/slot-attention/tiny-slot-lr2e-3-cos-slot \
        --data bench-out/claim-data --tag tiny-slot-lr2e-3-cos \
        --set lr=0.002 --set lr_schedule=cosine --set warmup_steps=200 --set schedule_steps=2800 \
        --log studies/slot-attention/results/slot-tiny-step2000.jsonl

``--data`` is claim.py's data folder (its ``k1-1000.h5`` .. ``k5-1000.h5`` test files); ``--set`` only records
the run's overrides in the log line, as claim.py does.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cpu-presets"))  # claim.py
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", type=Path, help="run directory whose last.pt is evaluated")
    ap.add_argument("--data", type=Path, required=True, help="claim.py's data folder (k1-N.h5 .. k5-N.h5)")
    ap.add_argument("--n-eval", type=int, default=1000, help="images per circle count in the test files' names")
    ap.add_argument("--generator", default="slot")
    ap.add_argument("--tag", required=True)
    ap.add_argument("--preset", default="tiny")
    ap.add_argument("--set", action="append", default=[], help="the run's overrides KEY=VALUE, recorded in the line")
    ap.add_argument("--note", default="last.pt of the epoch end evaluated by eval_checkpoint.py")
    ap.add_argument("--log", type=Path, required=True, help="append the JSON line to this file")
    args = ap.parse_args()

    import torch

    from claim import evaluate, parse_sets

    torch.set_num_threads(1)
    model_over, train_over = parse_sets(args.set)
    evals = {k: args.data / f"k{k}-{args.n_eval}.h5" for k in range(1, 6)}
    t0 = time.process_time()
    msg = {"generator": args.generator, **evaluate(args.run, evals)}
    msg.update({"tag": args.tag, "preset": args.preset, "overrides": {**model_over, **train_over}, "threads": 1,
                "cpu_cores": os.cpu_count(), "note": args.note, "eval_cpu_s": round(time.process_time() - t0, 1)})
    args.log.parent.mkdir(parents=True, exist_ok=True)
    with open(args.log, "a") as f:
        f.write(json.dumps(msg) + "\n")
    print(json.dumps(msg))


if __name__ == "__main__":
    main()
