"""What one mid-epoch checkpoint costs at each preset: CPU time of writing last.pt, and its size.

    OMP_NUM_THREADS=1 python studies/speed/checkpoint_cost.py --out studies/speed/results/checkpoint-cost.json

The payload is the one the training loop writes (model, Adam state after a step, RNG, counters),
written the way the loop writes it (``save_checkpoint``: temporary file, then a rename). Time is the
single-thread process CPU time (user + system, ``time.process_time``), median of ``--repeats``
writes to a folder on the local disk (``--dir``, default a temporary folder there).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch


def payload(preset: str, generator: str) -> dict:
    from sslr_cli.config import get_preset
    from sslr_cli.engine.tasks import get_task
    from sslr_cli.engine.train import make_optimizer

    cfg = get_preset(preset).with_overrides(model=dict(generator=generator))
    model = get_task(cfg.train.task).build_model(cfg)
    optimizer = make_optimizer(model, cfg)
    for p in model.parameters():  # one step, so that Adam holds its two moments per parameter
        p.grad = torch.zeros_like(p)
    optimizer.step()
    return {"config": cfg.to_dict(), "model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": 0,
            "batch": 1, "step": 1, "best_val": 1.0, "elapsed": 1.0, "rng": torch.get_rng_state(), "metrics": {},
            "scaler": {}, "epoch_loss": (1.0, 1), "metrics_lines": 1}


def main() -> None:
    from sslr_cli.engine.checkpoint import save_checkpoint

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--presets", default="tiny,small,paper")
    ap.add_argument("--generator", default="srn")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--dir", type=Path, default=None, help="Where to write (default: a temporary folder).")
    ap.add_argument("--out", type=Path, default=None, help="JSON file for the rows.")
    args = ap.parse_args()
    torch.set_num_threads(1)
    rows = []
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        for preset in args.presets.split(","):
            state = payload(preset, args.generator)
            path = Path(tmp) / f"{preset}.pt"
            times = []
            for _ in range(args.repeats):
                t0 = time.process_time()
                save_checkpoint(path, state)
                times.append(time.process_time() - t0)
            params = sum(v.numel() for v in state["model"].values())
            rows.append({"preset": preset, "generator": args.generator, "parameters_and_buffers": params,
                         "bytes": path.stat().st_size, "cpu_seconds_median": round(statistics.median(times), 4),
                         "cpu_seconds_max": round(max(times), 4), "repeats": args.repeats, "threads": 1})
            print(json.dumps(rows[-1]))
    if args.out:
        args.out.write_text(json.dumps({"rows": rows, "torch": torch.__version__,
                                        "machine": "2-core shared CPU (process CPU time, 1 thread)"}, indent=2) + "\n")


if __name__ == "__main__":
    main()
