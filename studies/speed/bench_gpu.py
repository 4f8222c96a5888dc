"""GPU training-step benchmark: images/s and peak memory of the `paper` preset on one CUDA device.

Not a test: nothing here asserts a time. Every figure is measured in this run on this machine.
Without CUDA it prints a message and exits with status 0 (so `make bench` on a CPU machine is fine).

    python studies/speed/bench_gpu.py                          # MLP and SRN (r = 10, 20), batch 32/64, fp32/bf16
    python studies/speed/bench_gpu.py --precisions fp32,bf16,fp16 --compile --json

A step is the training loop's step (engine/train.py): uint8 batch on the host -> pinned -> GPU
(non-blocking), autocast, the reconstruction loss, backward (through SRN's inner loop), Adam; fp16
with a GradScaler. Images/s = batch / median step time over ``--steps`` timed steps after
``--warmup`` steps; peak memory = ``torch.cuda.max_memory_allocated`` over the timed steps (the
caching allocator reserves more: ``max_memory_reserved`` is shown too).
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root: runs from a checkout without install too


def measure(preset: str, generator: str, r: int, batch: int, precision: str, steps: int, warmup: int,
            compile_model_flag: bool) -> dict:
    from sslr_cli.config import get_preset
    from sslr_cli.data.circles import generate_circles
    from sslr_cli.engine.device import autocast
    from sslr_cli.engine.tasks import get_task
    from sslr_cli.engine.state import optimizer_step

    dev = torch.device("cuda")
    base = get_preset(preset)
    cfg = replace(base, model=replace(base.model, generator=generator, inner_steps=r),
                  train=replace(base.train, batch_size=batch, precision=precision, compile=compile_model_flag))
    task = get_task("reconstruct")
    torch.manual_seed(0)
    images = torch.from_numpy(generate_circles(batch, seed=0)["images"])  # uint8 (B, H, W, 3), as the loader gives
    model = task.build_model(cfg).to(dev).train()
    if compile_model_flag:
        from sslr_cli.engine.compile import compile_model

        compile_model(model)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.train.lr)
    scaler = torch.amp.GradScaler("cuda") if precision == "fp16" else None

    def step() -> float:
        batch_t = {"images": images.pin_memory().to(dev, non_blocking=True)}
        with autocast(dev, precision):
            loss = task.loss(model, batch_t, cfg, r)
        optimizer_step(loss, optimizer, scaler)
        return float(loss.detach())  # the loop reads the loss every step: a host sync, as here

    for _ in range(warmup):
        step()
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    median = statistics.median(times)
    return {"preset": preset, "generator": generator, "r": r if generator == "srn" else None, "batch": batch,
            "precision": precision, "compile": compile_model_flag, "median_step_s": median, "best_step_s": min(times),
            "images_per_s": batch / median, "peak_allocated_gib": torch.cuda.max_memory_allocated() / 2**30,
            "peak_reserved_gib": torch.cuda.max_memory_reserved() / 2**30}


def configs(generators: list[str], rs: list[int], batches: list[int], precisions: list[str]):
    for generator in generators:
        for r in (rs if generator == "srn" else [0]):
            for batch in batches:
                for precision in precisions:
                    yield generator, r, batch, precision


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="paper")
    ap.add_argument("--generators", default="mlp,srn")
    ap.add_argument("--inner-steps", default="10,20", help="r values for SRN")
    ap.add_argument("--batch-sizes", default="32,64")
    ap.add_argument("--precisions", default="fp32,bf16", help="fp32, bf16, fp16")
    ap.add_argument("--steps", type=int, default=10, help="timed steps per configuration")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--compile", action="store_true", help="torch.compile outside the inner loop (--compile)")
    ap.add_argument("--json", action="store_true", help="print the rows as JSON")
    args = ap.parse_args()

    if not torch.cuda.is_available():
        print("bench_gpu: no CUDA device here (torch.cuda.is_available() is False); nothing measured. "
              "Run it on a GPU machine.", file=sys.stderr)
        return 0
    from rich.console import Console
    from rich.table import Table

    console = Console(stderr=args.json)
    name = torch.cuda.get_device_name()
    console.print(f"[bold]sslr bench_gpu[/bold]: {name}, torch {torch.__version__}, CUDA {torch.version.cuda}")
    torch.backends.cudnn.benchmark = True  # fixed shapes: let cuDNN pick its fastest algorithms
    rows = []
    for generator, r, batch, precision in configs(args.generators.split(","), [int(x) for x in args.inner_steps.split(",")],
                                                  [int(x) for x in args.batch_sizes.split(",")], args.precisions.split(",")):
        label = f"{args.preset}/{generator}{f'/r={r}' if generator == 'srn' else ''}/batch {batch}/{precision}"
        try:
            row = measure(args.preset, generator, r, batch, precision, args.steps, args.warmup, args.compile)
            console.print(f"  {label}: {row['images_per_s']:.0f} images/s, peak {row['peak_allocated_gib']:.2f} GiB",
                          highlight=False)
        except torch.cuda.OutOfMemoryError:
            row = {"preset": args.preset, "generator": generator, "r": r if generator == "srn" else None,
                   "batch": batch, "precision": precision, "compile": args.compile, "error": "out of memory"}
            console.print(f"  {label}: out of memory", highlight=False)
        rows.append(row)
        gc.collect()
        torch.cuda.empty_cache()
    if args.json:
        print(json.dumps({"device": name, "torch": torch.__version__, "rows": rows}, indent=2))
        return 0
    table = Table(title=f"Training step on {name} (median of {args.steps} steps{', compiled' if args.compile else ''})")
    for col in ("preset", "generator", "r", "batch", "precision", "ms/step", "images/s", "peak alloc GiB", "peak reserved GiB"):
        table.add_column(col, justify="right")
    for row in rows:
        r = "-" if row["r"] is None else str(row["r"])
        if "error" in row:
            table.add_row(row["preset"], row["generator"], r, str(row["batch"]), row["precision"], row["error"], "", "", "")
            continue
        table.add_row(row["preset"], row["generator"], r, str(row["batch"]), row["precision"],
                      f"{1000 * row['median_step_s']:.1f}", f"{row['images_per_s']:.0f}",
                      f"{row['peak_allocated_gib']:.2f}", f"{row['peak_reserved_gib']:.2f}")
    console.print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
