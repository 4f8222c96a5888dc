"""CPU time of one graph-free SRN inner step: through autograd vs H_agg's own value-and-gradient.

The graph-free steps are the first r - 1 of ``--inner-grad implicit`` (and the first r - K of
``truncated:K``); ``ElementwiseAggregator.squared_error`` runs them without autograd. Both ways run the same
refiner (r = 41 with ``truncated:1``: 40 graph-free steps and one unrolled) from the same S0 and z at a
preset's H_agg shapes, batch 32, in one process, taking turns, one thread; the figure is the minimum over
the repetitions of the refinement's ``time.process_time`` / 40 (the one unrolled step included, alike in both).

    python benchmarks/inner_step.py [--presets tiny,small] [--reps 7] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch

from sslr_cli.config import get_preset
from sslr_cli.models.aggregator import ElementwiseAggregator
from sslr_cli.models.generators import SetRefiner

STEPS = 41


def measure(preset: str, precision: str, reps: int) -> dict:
    m = get_preset(preset).model
    torch.manual_seed(0)
    agg = ElementwiseAggregator(m.element_dim, m.embed_dim, m.agg_hidden, m.fspool_pieces)
    s0, z = torch.randn(32, m.set_size, m.element_dim), torch.randn(32, m.embed_dim)
    fast = SetRefiner(agg, STEPS, m.inner_lr, m.inner_momentum, "truncated:1").train()
    slow = SetRefiner(agg, STEPS, m.inner_lr, m.inner_momentum, "truncated:1").train()
    times = {"autograd": [], "fast": []}
    sets = {}
    bf16 = precision == "bf16"
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        if bf16:  # as H_set and H_embed hand them over under autocast
            s0, z = s0.bfloat16(), z.bfloat16()
        for _ in range(reps + 1):  # the first round warms up
            for name, refiner in (("autograd", slow), ("fast", fast)):
                agg.squared_error = None if name == "autograd" else ElementwiseAggregator.squared_error.__get__(agg)
                t = time.process_time()
                sets[name] = refiner(s0, z).set
                times[name].append(time.process_time() - t)
    del agg.squared_error
    ms = {k: 1e3 * min(v[1:]) / (STEPS - 1) for k, v in times.items()}
    return {"preset": preset, "precision": precision, "batch": 32, "ms_per_step_autograd": ms["autograd"],
            "ms_per_step_fast": ms["fast"], "speedup": ms["autograd"] / ms["fast"],
            "same_set": bool(torch.equal(sets["autograd"], sets["fast"]))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--presets", default="tiny,small")
    ap.add_argument("--precisions", default="bf16,fp32")
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    torch.set_num_threads(1)
    rows = []
    for preset in args.presets.split(","):
        for precision in args.precisions.split(","):
            row = measure(preset, precision, args.reps)
            rows.append(row)
            print(f"{preset:6s} {precision:5s} autograd {row['ms_per_step_autograd']:.3f} ms/step  fast "
                  f"{row['ms_per_step_fast']:.3f} ms/step  x{row['speedup']:.2f}  same S_r: {row['same_set']}")
    if args.out:
        Path(args.out).write_text(json.dumps({"cpu_cores": os.cpu_count(), "threads": 1, "load_average": os.getloadavg(),
                                              "time": "min over reps of time.process_time per refinement / 40 steps",
                                              "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
