"""Speed of the CLEVR-style renderer (`sslr gen-data clevr`), printed as a table.

Not a test: nothing here asserts a time. Every figure is measured in this run on this machine.

    python benchmarks/bench_clevr.py                  # 200 images at 128px, plus the write
    python benchmarks/bench_clevr.py --n 500 --size 64
    python benchmarks/bench_clevr.py --step           # also one clevr-small training step (batch 16)
    python benchmarks/bench_clevr.py --step --threads 1   # the step on one thread (a busy machine)
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

console = Console()


def bench_render(n: int, size: int, seed: int) -> dict:
    from sslr_cli.data.clevr import ClevrSpec, generate_clevr
    from sslr_cli.data.store import write_scenes

    spec = ClevrSpec(size=size)
    generate_clevr(2, spec, seed=seed + 1)  # warm the per-size ray cache and numpy
    t0 = time.perf_counter()
    scenes = generate_clevr(n, spec, seed=seed)
    render_s = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        t1 = time.perf_counter()
        write_scenes(Path(tmp) / "clevr.h5", scenes)
        write_s = time.perf_counter() - t1
    rate = n / render_s
    return {"images": n, "size": size, "render_s": render_s, "write_s": write_s, "images_per_s": rate,
            "minutes_for_10000": 10000 / rate / 60, "objects": int(scenes["counts"].sum())}


def bench_step(batch: int = 16, steps: int = 3) -> dict:
    """Seconds per training step of the clevr-small preset (SRN and MLP) on rendered 128px scenes."""
    import torch

    from sslr_cli.config import get_preset
    from sslr_cli.data.clevr import ClevrSpec, generate_clevr
    from sslr_cli.engine.tasks import get_task

    scenes = generate_clevr(batch, ClevrSpec(size=128), seed=0)
    data = {k: torch.from_numpy(scenes[k]) for k in ("images", "foreground")}
    out = {}
    for generator in ("srn", "mlp"):
        cfg = get_preset("clevr-small").with_overrides(model=dict(generator=generator))
        torch.manual_seed(0)
        task = get_task("reconstruct")
        model = task.build_model(cfg).train()
        opt = torch.optim.Adam(model.parameters(), cfg.train.lr)
        times = []
        for _ in range(steps + 1):  # the first step warms allocators and is not counted
            t0 = time.perf_counter()
            loss = task.loss(model, data, cfg, cfg.model.inner_steps)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            times.append(time.perf_counter() - t0)
        out[generator] = min(times[1:])
    out["threads"] = torch.get_num_threads()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=200, help="images to render")
    parser.add_argument("--size", type=int, default=128, help="image side in pixels")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--step", action="store_true", help="also time a clevr-small training step at batch 16")
    parser.add_argument("--threads", type=int, default=0, help="torch threads for --step (0 = torch's default)")
    args = parser.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)

    r = bench_render(args.n, args.size, args.seed)
    table = Table(title=f"CLEVR-style renderer ({r['size']}x{r['size']}, one process)")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("images rendered", f"{r['images']} ({r['objects']} objects)")
    table.add_row("render time", f"{r['render_s']:.2f} s")
    table.add_row("images / s (render)", f"{r['images_per_s']:.1f}")
    table.add_row("HDF5 write time", f"{r['write_s']:.2f} s")
    table.add_row("minutes for 10000 images", f"{r['minutes_for_10000']:.1f}")
    console.print(table)
    if args.step:
        s = bench_step()
        table = Table(title=f"clevr-small training step, batch 16, 128x128 ({s['threads']} threads)")
        table.add_column("generator")
        table.add_column("s / step", justify="right")
        for g in ("srn", "mlp"):
            table.add_row(g, f"{s[g]:.2f}")
        console.print(table)


if __name__ == "__main__":
    main()
