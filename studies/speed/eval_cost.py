"""What one learning-curve measurement (``sslr train --eval-every``) costs: CPU time of ``curves.measure``
(Table 1 at 0.1 and 0.5, MSE, ARI) on N held-out images per circle count 1..5, per preset and generator.

    OMP_NUM_THREADS=1 python studies/speed/eval_cost.py --preset tiny --per-count 200 \
        --out studies/speed/results/eval-cost-tiny.json

Time is the single-thread process CPU time (user + system, ``time.process_time``) of one measurement,
made on freshly initialised weights (the forward pass, the SRN's refinement included, costs the same
trained or not; the per-element statistics may differ a little). Making the images is not counted: a
run loads them once (``--eval-data``) and measures many times. ``seconds_at_1000_per_count`` scales to the
1000 images per count of the tiny/small scales of ``sslr reproduce``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="tiny")
    ap.add_argument("--generators", default="srn,mlp")
    ap.add_argument("--per-count", type=int, default=200)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    torch.set_num_threads(1)
    from sslr_cli.config import get_preset
    from sslr_cli.engine.tasks import get_task
    from sslr_cli.experiments.curves import generated_heldout, measure

    from sslr_cli.experiments import disentanglement  # noqa: F401  (imports sklearn: once per process, not timed)

    rows = []
    for gen in args.generators.split(","):
        cfg = get_preset(args.preset).with_overrides(model=dict(generator=gen))
        torch.manual_seed(0)
        model = get_task(cfg.train.task).build_model(cfg)
        heldout = generated_heldout(args.per_count, cfg.model.image_size)
        t0 = time.process_time()
        measure(model, heldout)
        cpu = time.process_time() - t0
        rows.append({"preset": args.preset, "generator": gen, "images": len(heldout), "cpu_seconds": round(cpu, 2),
                     "seconds_at_1000_per_count": round(cpu * 1000 / args.per_count, 1), "threads": 1})
        print(json.dumps(rows[-1]), flush=True)
    if args.out:
        args.out.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
