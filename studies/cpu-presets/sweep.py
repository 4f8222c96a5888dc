"""Table 1 against optimizer steps for many configurations at once (a search harness, not a test).

Where `claim.py` answers "which generator leads after N minutes on *this* CPU", this script answers
"which settings disentangle fastest per optimizer step": it trains every configuration of a sweep
file in its own process (on a GPU when there is one, so that a search over a dozen settings fits in
minutes), measures Table 1 (App. A.2, threshold 0.1 and 0.5) on fresh images with exactly 1..5
circles at each step milestone, and appends one JSON line per measurement to `--log`. Steps convert
to CPU minutes with the step times of `bench.py --only steps`, measured separately.

    python studies/cpu-presets/sweep.py studies/cpu-presets/sweeps/settings.txt --milestones 250,500,1000 --deadline-min 6

A sweep file has one configuration per line: ``NAME PRESET [field=value ...]`` (ModelConfig or
TrainConfig fields, e.g. ``generator=mlp lr=1e-2``); ``#`` starts a comment.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import queue as queue_mod
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root: runs from a checkout without install too
sys.path.insert(0, str(Path(__file__).resolve().parent))

from claim import ensure_data, load_eval_images, parse_sets, table1  # noqa: E402


def read_sweep(path: Path) -> list[tuple[str, str, list[str]]]:
    configs = []
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, preset, *sets = line.split()
            configs.append((name, preset, sets))
    if not configs:
        raise SystemExit(f"{path}: no configurations")
    return configs


def worker(name: str, preset: str, sets: list[str], args, train_path: Path, evals: dict, out: "mp.Queue") -> None:
    import torch

    torch.set_num_threads(args.threads)
    from sslr_cli.config import get_preset
    from sslr_cli.engine.device import resolve_device
    from sslr_cli.engine.train import train

    model_over, train_over = parse_sets(sets)
    milestones = sorted(args.milestones)
    cfg = get_preset(preset).with_overrides(
        model=model_over,
        train={**train_over, "max_steps": milestones[-1], "epochs": 10_000, "val_fraction": 0.0, "log_every": 10_000})
    dev = resolve_device(args.device)
    images = load_eval_images(evals)
    held: dict = {}
    t0 = time.perf_counter()

    def keep(model, _cfg):
        held["model"] = model
        return model

    def on_progress(p: dict) -> None:
        if p["step"] not in milestones:
            return
        t_eval = time.perf_counter()
        result = table1(held["model"], images, dev)
        held["model"].train()
        out.put({"name": name, "preset": preset, "sets": sets, "generator": cfg.model.generator, "step": p["step"],
                 "epoch": p["epoch"], "train_minutes": round(p["elapsed"] / 60, 3),
                 "wall_s": round(time.perf_counter() - t0, 1), "eval_s": round(time.perf_counter() - t_eval, 1),
                 "loss": p["loss"], **result})

    try:
        train(train_path, Path(args.runs) / name, cfg, force=True, device=args.device, on_progress=on_progress,
              wrap_model=keep)
    except Exception as exc:  # one failed configuration must not end the sweep
        out.put({"name": name, "error": f"{type(exc).__name__}: {exc}"})
    out.put({"name": name, "done": True})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("sweep", type=Path, help="sweep file: NAME PRESET [field=value ...] per line")
    ap.add_argument("--milestones", default="250,500,750,1000,1500,2000,2500,3000,4000,5000,6000,8000,10000",
                    help="steps at which Table 1 is measured; the last one ends each run")
    ap.add_argument("--only", default="", help="comma-separated names from the sweep file")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, default=1, help="torch threads per process")
    ap.add_argument("--deadline-min", type=float, default=0.0, help="stop every run after this many wall minutes")
    ap.add_argument("--n-train", type=int, default=64000)
    ap.add_argument("--n-eval", type=int, default=500, help="images per circle count")
    ap.add_argument("--data", default="bench-out/claim-data")
    ap.add_argument("--runs", default="bench-out/sweep-runs")
    ap.add_argument("--log", default="bench-out/sweep.jsonl")
    args = ap.parse_args()
    args.milestones = [int(s) for s in args.milestones.split(",")]
    configs = read_sweep(args.sweep)
    if args.only:
        keep = set(args.only.split(","))
        configs = [c for c in configs if c[0] in keep]
    for _, _, sets in configs:
        parse_sets(sets)  # a typo fails here, before any training
    t_data = time.time()
    train_path, evals = ensure_data(Path(args.data), args.n_train, args.n_eval)
    print(f"data ready in {time.time() - t_data:.1f} s", flush=True)
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    procs = {name: ctx.Process(target=worker, args=(name, preset, sets, args, train_path, evals, out), daemon=True)
             for name, preset, sets in configs}
    t0 = time.time()
    for p in procs.values():
        p.start()
    running = set(procs)
    Path(args.log).parent.mkdir(parents=True, exist_ok=True)
    with open(args.log, "a") as log:
        while running:
            left = args.deadline_min * 60 - (time.time() - t0) if args.deadline_min else 3600.0
            if left <= 0:
                print(f"deadline: stopping {', '.join(sorted(running))}", flush=True)
                break
            try:
                msg = out.get(timeout=min(left, 30.0))
            except queue_mod.Empty:
                continue
            if msg.get("done"):
                running.discard(msg["name"])
                continue
            msg["host_cores"] = os.cpu_count()
            log.write(json.dumps(msg) + "\n")
            log.flush()
            if "error" in msg:
                print(f"{msg['name']:>16} FAILED {msg['error']}", flush=True)
                continue
            r, r5 = msg["rates"], msg["rates_0.5"]
            print(f"{msg['name']:>16} step {msg['step']:6d} wall {msg['wall_s']:6.0f}s mse {msg['mse']:.4f} "
                  f"| @0.1 {' '.join(f'{r[k]:5.1f}' for k in sorted(r))} | @0.5 {' '.join(f'{r5[k]:5.1f}' for k in sorted(r5))}",
                  flush=True)
    for p in procs.values():
        if p.is_alive():
            p.terminate()
    for p in procs.values():
        p.join(timeout=10)


if __name__ == "__main__":
    main()
