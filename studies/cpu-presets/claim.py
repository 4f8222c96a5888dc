"""Does SSLR-SRN disentangle more circles than SSLR-MLP on this machine, within a time budget?

The harness behind the `tiny` / `small` presets: trains an SRN and an MLP with the same settings side by
side (one process each, one thread each, so the two share the 2 cores fairly), stops every
`--every` minutes of training to measure Table 1 (App. A.2, threshold 0.1 and 0.5) on fresh images with
exactly 1..5 circles, and resumes exactly. Prints a table and appends one JSON line per measurement to
`--log`, so the curve of rates against training time can be plotted.

    python studies/cpu-presets/claim.py --preset tiny --minutes 10 --every 2.5
    python studies/cpu-presets/claim.py --preset tiny --set lr=2e-3 --set set_size=12 --tag lr2e-3-s12
    python studies/cpu-presets/claim.py --tag lr2e-3-s12 --resume --minutes 10     # 10 more minutes of the same runs
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sys
import time
from dataclasses import fields
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root: runs from a checkout without install too


def parse_sets(items: list[str]) -> tuple[dict, dict]:
    """``--set FIELD=VALUE`` (or ``SECTION.FIELD=VALUE``, as `sslr train --set`) -> (model fields, train fields),
    read and typed by the project's KEY=VALUE parser (``sslr_cli/config/parsing.py``)."""
    from sslr_cli.config import ModelConfig, TrainConfig, convert_option, parse_key_values
    from sslr_cli.errors import SSLRError

    types = {"model": {f.name: f.type for f in fields(ModelConfig)}, "train": {f.name: f.type for f in fields(TrainConfig)}}
    parsed: dict[str, dict] = {"model": {}, "train": {}}
    try:
        for key, value in parse_key_values(items, "--set").items():
            section, _, name = key.rpartition(".")
            section = section or next((s for s, known in types.items() if name in known), "")
            if name not in types.get(section, {}):
                raise SSLRError(f"--set {key}: not a ModelConfig or TrainConfig field")
            parsed[section][name] = convert_option("--set", key, value, types[section][name])
    except SSLRError as exc:
        raise SystemExit(f"Error: {exc}") from None
    return parsed["model"], parsed["train"]


def parse_steps(text: str) -> dict[str, int]:
    """``--steps srn=12000,mlp=13500`` -> {"srn": 12000, "mlp": 13500}, read by the same KEY=VALUE parser."""
    from sslr_cli.config import convert_option, parse_key_values
    from sslr_cli.errors import SSLRError

    try:
        return {k: convert_option("--steps", k, v, "int") for k, v in parse_key_values(text.split(","), "--steps").items()}
    except SSLRError as exc:
        raise SystemExit(f"Error: {exc}") from None


def ensure_data(folder: Path, n_train: int, n_eval: int) -> tuple[Path, dict[int, Path]]:
    from sslr_cli.data.circles import CircleSpec, generate_circles
    from sslr_cli.data.store import write_scenes

    folder.mkdir(parents=True, exist_ok=True)
    train = folder / f"train-{n_train}.h5"
    if not train.exists():
        write_scenes(train, generate_circles(n_train, seed=0))
    evals = {}
    for k in range(1, 6):
        p = folder / f"k{k}-{n_eval}.h5"
        if not p.exists():
            write_scenes(p, generate_circles(n_eval, CircleSpec(min_count=k, max_count=k), seed=1000 + k))
        evals[k] = p
    return train, evals


def table1(model, images: dict, device="cpu") -> dict:
    """Table 1 (threshold 0.1 and 0.5) and the mean MSE of ``model`` on {circle count: uint8 images}."""
    from sslr_cli.experiments.disentanglement import measure_disentanglement

    rates, rates05, mse = {}, {}, []
    for k, x in images.items():
        res = measure_disentanglement(model, x, np.full(x.shape[0], k), 0.1, (0.5,), batch_size=250, device=device)
        rates[k], rates05[k] = res.rates[k], res.extra_thresholds[0.5][k]
        mse.append(res.mse)
    return {"rates": rates, "rates_0.5": rates05, "mse": float(np.mean(mse))}


def load_eval_images(evals: dict[int, Path]) -> dict:
    import torch

    from sslr_cli.data.store import open_scenes

    return {k: torch.from_numpy(open_scenes(p).load(["images"])["images"]) for k, p in evals.items()}


def evaluate(run_dir: Path, evals: dict[int, Path]) -> dict:
    from sslr_cli.engine.checkpoint import load_model

    model, cfg, state = load_model(run_dir / "last.pt", "cpu")
    return {"step": state["step"], "minutes": state["elapsed"] / 60, **table1(model, load_eval_images(evals))}


def worker(generator: str, args, model_over: dict, train_over: dict, train_path: Path, evals, queue) -> None:
    import torch

    torch.set_num_threads(1)
    from sslr_cli.config import get_preset
    from sslr_cli.engine.train import train

    base = get_preset(args.preset)
    cfg = base.with_overrides(model={**model_over, "generator": generator},
                              train={**train_over, "max_minutes": args.every, "epochs": 10_000, "val_fraction": 0.0})
    run = Path(args.out) / f"{args.tag}-{generator}"
    first = not args.resume
    if args.steps:  # a step budget: the same run whatever else shares the machine (and a fixed lr schedule)
        total = args.steps[generator]
        cfg = cfg.with_overrides(train={"max_minutes": 0.0, "schedule_steps": cfg.train.schedule_steps or total})
        milestones = sorted({min(total, m) for m in range(args.every_steps, total + args.every_steps, args.every_steps)})
        for m in milestones:
            # a fresh run takes its budget from cfg (resume_overrides apply only when resuming)
            train(train_path, run, cfg.with_overrides(train={"max_steps": m}) if first else cfg,
                  resume=not first, force=first, device="cpu",
                  resume_overrides={"max_minutes": 0.0, "max_steps": m, "epochs": 10_000})
            first = False
            queue.put({"generator": generator, **evaluate(run, evals)})
        queue.put({"generator": generator, "done": True})
        return
    done = 0.0
    while done < args.minutes - 1e-6:
        train(train_path, run, cfg, resume=not first, force=first, device="cpu",
              resume_overrides={"max_minutes": min(args.every, args.minutes - done), "epochs": 10_000})
        first = False
        done += min(args.every, args.minutes - done)
        queue.put({"generator": generator, **evaluate(run, evals)})
    queue.put({"generator": generator, "done": True})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="tiny")
    ap.add_argument("--minutes", type=float, default=10.0, help="training minutes per model")
    ap.add_argument("--every", type=float, default=2.5, help="measure every this many training minutes")
    ap.add_argument("--set", action="append", default=[], help="override a config field, e.g. lr=2e-3")
    ap.add_argument("--tag", default=None)
    ap.add_argument("--n-train", type=int, default=64000)
    ap.add_argument("--n-eval", type=int, default=1000, help="images per circle count (the paper: 1000)")
    ap.add_argument("--data", default="bench-out/claim-data")
    ap.add_argument("--out", default="bench-out/claim-runs")
    ap.add_argument("--log", default="bench-out/claim.jsonl")
    ap.add_argument("--generators", default="srn,mlp")
    ap.add_argument("--resume", action="store_true", help="continue the runs of --tag for --minutes more")
    ap.add_argument("--steps", default=None,
                    help="step budgets instead of minutes, e.g. srn=12000,mlp=13500 (the lr schedule spans them)")
    ap.add_argument("--every-steps", type=int, default=2000, help="with --steps: measure every this many steps")
    args = ap.parse_args()
    if args.steps:
        args.steps = parse_steps(args.steps)
    args.tag = args.tag or args.preset
    model_over, train_over = parse_sets(args.set)
    train_path, evals = ensure_data(Path(args.data), args.n_train, args.n_eval)
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    gens = args.generators.split(",")
    procs = [ctx.Process(target=worker, args=(g, args, model_over, train_over, train_path, evals, queue)) for g in gens]
    t0 = time.time()
    for p in procs:
        p.start()
    finished = 0
    Path(args.log).parent.mkdir(parents=True, exist_ok=True)
    with open(args.log, "a") as log:
        while finished < len(procs):
            msg = queue.get()
            if msg.get("done"):
                finished += 1
                continue
            msg.update({"tag": args.tag, "preset": args.preset, "overrides": {**model_over, **train_over},
                        "threads": 1, "cpu_cores": os.cpu_count(), "wall_s": round(time.time() - t0, 1)})
            log.write(json.dumps(msg) + "\n")
            log.flush()
            r = msg["rates"]
            r5 = msg["rates_0.5"]
            print(f"{args.tag:>18} {msg['generator']} {msg['minutes']:5.1f} min step {msg['step']:6d} mse {msg['mse']:.4f} "
                  f"| @0.1 {' '.join(f'{r[k]:5.1f}' for k in sorted(r))} | @0.5 {' '.join(f'{r5[k]:5.1f}' for k in sorted(r5))}",
                  flush=True)
    for p in procs:
        p.join()


if __name__ == "__main__":
    main()
