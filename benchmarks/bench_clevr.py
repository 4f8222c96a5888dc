"""Speed of the CLEVR-style renderer (`sslr gen-data clevr`), printed as a table.

Not a test: nothing here asserts a time. Every figure is measured in this run on this machine.

    python benchmarks/bench_clevr.py                  # 200 images at 128px, plus the write
    python benchmarks/bench_clevr.py --n 500 --size 64
    python benchmarks/bench_clevr.py --step           # also one clevr-small training step (batch 16)
    python benchmarks/bench_clevr.py --step --threads 1   # the step on one thread (a busy machine)
    python benchmarks/bench_clevr.py --n 100 --size 64 --step --preset clevr-tiny --threads 1
                                                      # clevr-tiny's step: single-thread CPU seconds

    python benchmarks/bench_clevr.py --n 200 --size 64 --apparent-size studies/table2-cpu/results/apparent-size-64.json
                                                      # objects' size in frame against CLEVR's

``--apparent-size`` compares the rendered objects' amodal boxes, as fractions of the image's width
and height, with the box heuristic the authors use for real CLEVR scene files (larchen/clevr-vqa,
``clevr_import.heuristic_box``: fitted to CLEVR's 480x320 Blender renders) applied to the same
objects: median per shape and size, and their ratio (1 = CLEVR's apparent size).

The step is timed in CPU seconds of this process (``time.process_time()``), which a busy machine
inflates far less than the wall clock; with ``--threads 1`` that is the single-thread step time a
--max-steps budget is sized by (steps = minutes x 60 / seconds per step).
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


def apparent_size(n: int, size: int, seed: int) -> list[dict]:
    """Median object box width/height as a fraction of the frame: rendered vs CLEVR's heuristic."""
    import numpy as np

    from sslr_cli.data.clevr import CAMERA, CLEVR_FIELDS, SHAPES, SIZE_NAMES, ClevrSpec, generate_clevr
    from sslr_cli.data.clevr_import import heuristic_box

    scenes = generate_clevr(n, ClevrSpec(size=size), seed=seed)
    valid = ~np.isnan(scenes["objects"][..., 0])
    rows, boxes = scenes["objects"][valid], scenes["boxes"][valid]
    col = {name: CLEVR_FIELDS.index(name) for name in CLEVR_FIELDS}
    _, right, _ = CAMERA.basis()  # CLEVR's scene files: directions.right
    heuristic = []
    for r in rows:  # in CLEVR's 480x320 frame; pixel_coords scaled from the square render
        obj = {"pixel_coords": [r[col["px"]] / size * 480, r[col["py"]] / size * 320, 0.0],
               "3d_coords": [r[col["x"]], r[col["y"]], r[col["z"]]], "shape": SHAPES[int(r[col["shape"]])]}
        heuristic.append(heuristic_box(obj, (float(right[0]), float(right[1]))))
    heuristic = np.asarray(heuristic)
    ours_w, ours_h = (boxes[:, 2] - boxes[:, 0]) / size, (boxes[:, 3] - boxes[:, 1]) / size
    clevr_w, clevr_h = (heuristic[:, 2] - heuristic[:, 0]) / 480, (heuristic[:, 3] - heuristic[:, 1]) / 320
    out = []
    for shape in range(len(SHAPES)):
        for s in range(len(SIZE_NAMES)):
            m = (rows[:, col["shape"]] == shape) & (rows[:, col["size"]] == s)
            out.append({"shape": SHAPES[shape], "size": SIZE_NAMES[s], "objects": int(m.sum()),
                        "width": float(np.median(ours_w[m])), "height": float(np.median(ours_h[m])),
                        "clevr_width": float(np.median(clevr_w[m])), "clevr_height": float(np.median(clevr_h[m])),
                        "width_ratio": float(np.median(ours_w[m] / clevr_w[m])),
                        "height_ratio": float(np.median(ours_h[m] / clevr_h[m]))})
    return out


def bench_step(preset: str = "clevr-small", steps: int = 5) -> dict:
    """CPU seconds per training step of a CLEVR preset (SRN and MLP, its batch and precision) on
    rendered scenes of the preset's size: the median of ``steps`` steps after one warm-up step."""
    import statistics

    import torch

    from sslr_cli.config import get_preset
    from sslr_cli.data.clevr import ClevrSpec, generate_clevr
    from sslr_cli.engine.device import autocast
    from sslr_cli.engine.tasks import get_task

    base = get_preset(preset)
    scenes = generate_clevr(base.train.batch_size, ClevrSpec(size=base.model.image_size), seed=0)
    data = {k: torch.from_numpy(scenes[k]) for k in ("images", "foreground")}
    out = {"preset": preset, "batch": base.train.batch_size, "size": base.model.image_size,
           "precision": base.train.precision}
    for generator in ("srn", "mlp"):
        cfg = base.with_overrides(model=dict(generator=generator))
        torch.manual_seed(0)
        task = get_task("reconstruct")
        model = task.build_model(cfg).train()
        opt = torch.optim.Adam(model.parameters(), cfg.train.lr)
        times = []
        for _ in range(steps + 1):  # the first step warms allocators and is not counted
            t0 = time.process_time()
            with autocast(torch.device("cpu"), cfg.train.precision):
                loss = task.loss(model, data, cfg, cfg.model.inner_steps)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            times.append(time.process_time() - t0)
        out[generator] = statistics.median(times[1:])
    out["threads"] = torch.get_num_threads()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=200, help="images to render")
    parser.add_argument("--size", type=int, default=128, help="image side in pixels")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--step", action="store_true", help="also time a training step of --preset (CPU seconds)")
    parser.add_argument("--preset", default="clevr-small", help="the CLEVR preset whose step --step times")
    parser.add_argument("--threads", type=int, default=0, help="torch threads for --step (0 = torch's default)")
    parser.add_argument("--apparent-size", metavar="JSON", default=None,
                        help="also compare object sizes in frame with CLEVR's (written to JSON)")
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
    if args.apparent_size:
        import json

        rows = apparent_size(args.n, args.size, args.seed)
        table = Table(title=f"Object boxes as fractions of the frame, {args.size}x{args.size}: rendered vs CLEVR's heuristic")
        for c in ("shape", "size", "objects", "width", "CLEVR width", "height", "CLEVR height", "w ratio", "h ratio"):
            table.add_column(c, justify="right")
        for r in rows:
            table.add_row(r["shape"], r["size"], str(r["objects"]), f"{r['width']:.3f}", f"{r['clevr_width']:.3f}",
                          f"{r['height']:.3f}", f"{r['clevr_height']:.3f}", f"{r['width_ratio']:.2f}", f"{r['height_ratio']:.2f}")
        console.print(table)
        Path(args.apparent_size).write_text(json.dumps({"size": args.size, "images": args.n, "seed": args.seed,
                                                        "rows": rows}, indent=1) + "\n")
    if args.step:
        s = bench_step(args.preset)
        table = Table(title=f"{s['preset']} training step, batch {s['batch']}, {s['size']}x{s['size']}, "
                            f"{s['precision']} ({s['threads']} threads, CPU seconds)")
        table.add_column("generator")
        table.add_column("CPU s / step", justify="right")
        for g in ("srn", "mlp"):
            table.add_row(g, f"{s[g]:.2f}")
        console.print(table)


if __name__ == "__main__":
    main()
