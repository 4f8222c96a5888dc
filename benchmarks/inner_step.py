"""CPU time of one graph-free SRN inner step: through autograd vs H_agg's own value-and-gradient.

The graph-free steps are the first r - 1 of ``--inner-grad implicit`` (and the first r - K of
``truncated:K``); ``ElementwiseAggregator.squared_error`` runs them without autograd, its FSPool part either
as torch ops ("fast, torch ops") or as the compiled kernel of ``models/native`` ("fast, kernel"; bf16 only,
where it could be built). Every way runs the same refiner (r = 41 with ``truncated:1``: 40 graph-free steps
and one unrolled) from the same S0 and z at a preset's H_agg shapes, batch 32, in one process, taking turns,
one thread; the figure is the minimum over the repetitions of the refinement's ``time.process_time`` / 40
(the one unrolled step included, alike in all).

    python benchmarks/inner_step.py [--presets tiny,small] [--reps 7] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import time
from pathlib import Path

import torch

from sslr_cli.config import get_preset
from sslr_cli.models.aggregator import ElementwiseAggregator
from sslr_cli.models.refiner import SetRefiner
from sslr_cli.models.native import sort_pool_kernel, sort_pool_status

STEPS = 41


def measure(preset: str, precision: str, reps: int) -> dict:
    m = get_preset(preset).model
    torch.manual_seed(0)
    agg = ElementwiseAggregator(m.element_dim, m.embed_dim, m.agg_hidden, m.fspool_pieces)
    s0, z = torch.randn(32, m.set_size, m.element_dim), torch.randn(32, m.embed_dim)
    refiner = SetRefiner(agg, m.inner_lr, m.inner_momentum, "truncated:1").train()
    bf16 = precision == "bf16"
    ways = {"autograd": None,
            "fast_torch_ops": functools.partial(ElementwiseAggregator.squared_error, agg, native=False)}
    if bf16 and sort_pool_kernel() is not None:
        ways["fast_kernel"] = functools.partial(ElementwiseAggregator.squared_error, agg, native=True)
    times = {name: [] for name in ways}
    sets = {}
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        if bf16:  # as H_set and H_embed hand them over under autocast
            s0, z = s0.bfloat16(), z.bfloat16()
        for _ in range(reps + 1):  # the first round warms up
            for name, way in ways.items():
                agg.squared_error = way
                t = time.process_time()
                sets[name] = refiner(s0, z, STEPS).set
                times[name].append(time.process_time() - t)
    del agg.squared_error
    row = {"preset": preset, "precision": precision, "batch": 32}
    for name in ways:
        row[f"ms_per_step_{name}"] = 1e3 * min(times[name][1:]) / (STEPS - 1)
        row[f"same_set_{name}"] = bool(torch.equal(sets["autograd"], sets[name]))
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--presets", default="tiny,small")
    ap.add_argument("--precisions", default="bf16,fp32")
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    torch.set_num_threads(1)
    print(f"FSPool kernel: {sort_pool_status()}")
    rows = []
    for preset in args.presets.split(","):
        for precision in args.precisions.split(","):
            row = measure(preset, precision, args.reps)
            rows.append(row)
            ref = row["ms_per_step_autograd"]
            ways = "  ".join(f"{name.replace('_', ' ')} {row[f'ms_per_step_{name}']:.3f} ms (x{ref / row[f'ms_per_step_{name}']:.2f}, "
                             f"same S_r: {row[f'same_set_{name}']})" for name in ("fast_torch_ops", "fast_kernel")
                             if f"ms_per_step_{name}" in row)
            print(f"{preset:6s} {precision:5s} autograd {ref:.3f} ms/step  {ways}")
    if args.out:
        Path(args.out).write_text(json.dumps({"cpu_cores": os.cpu_count(), "threads": 1, "load_average": os.getloadavg(),
                                              "time": "min over reps of time.process_time per refinement / 40 steps",
                                              "kernel": sort_pool_status(), "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
