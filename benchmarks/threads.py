"""Training speed by CPU thread setting, on an idle machine and beside a busy process.

A tiny SRN training step (the `tiny` preset as `sslr train` builds it: batch 32, bf16, truncated:3, r = 10,
flush-to-zero on) in a fresh process per (candidate, condition); images/s from wall time over about
``--seconds`` of steps after one warm-up step. Candidates differ in environment (OMP_NUM_THREADS,
OMP_WAIT_POLICY, GOMP_SPINCOUNT, SSLR_THREADS) or in what the child sets; "sslr-default" is
``engine.threads.configure_threads(None)``, the policy a command applies when given no --threads.
Conditions: "idle" (nothing else started), "busy" (a Python busy loop, unpinned, started first and
killed after). Rounds take every (candidate, condition) in turn, so a change in the machine's load hits all
alike; the figure is the median over rounds.

    python benchmarks/threads.py [--candidates torch,1,sslr-default] [--rounds 3] [--seconds 3] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

STEP_SCRIPT = r"""
import json, os, sys, time
import torch
from sslr_cli.engine.threads import configure_threads
how, seconds = sys.argv[1], float(sys.argv[2])
if how == "sslr-default":
    configure_threads(None)
elif how.isdigit():
    torch.set_num_threads(int(how))
from sslr_cli.config import get_preset
from sslr_cli.engine.device import autocast, flush_denormals, seed_everything
from sslr_cli.engine.state import make_optimizer, optimizer_step
from sslr_cli.engine.tasks import get_task

cfg = get_preset("tiny")
task = get_task("reconstruct")
seed_everything(0)
model = task.build_model(cfg).train()
opt = make_optimizer(model, cfg)
batch = {"images": torch.randint(0, 256, (cfg.train.batch_size, 64, 64, 3), dtype=torch.uint8)}
dev = torch.device("cpu")
r = cfg.model.inner_steps

def step():
    with autocast(dev, cfg.train.precision):
        loss = task.loss(model, batch, cfg, r)
    optimizer_step(loss, opt)

with flush_denormals(dev):
    t = time.perf_counter(); step(); warm = time.perf_counter() - t  # warm-up
    times, start = [], time.perf_counter()
    # a collapsed setting (seconds per step) is timed by its warm-up step alone: a lower bound on its speed
    while warm < seconds and (not times or (time.perf_counter() - start < seconds and len(times) < 200)):
        t = time.perf_counter(); step(); times.append(time.perf_counter() - t)
times = sorted(times) or [warm]
print(json.dumps({"threads": torch.get_num_threads(), "steps": len(times) if warm < seconds else 0,
                  "median_s": times[len(times) // 2], "images_per_s": cfg.train.batch_size / times[len(times) // 2]}))
"""

# name -> (what the child sets: "torch" | "N" | "sslr-default", extra environment)
CANDIDATES: dict[str, tuple[str, dict[str, str]]] = {
    "torch": ("torch", {}),  # torch's own default (one thread per core of the affinity mask)
    "1": ("1", {"OMP_NUM_THREADS": "1"}),
    "2": ("2", {}),
    "2-passive": ("2", {"OMP_WAIT_POLICY": "PASSIVE"}),
    "2-spin1000": ("2", {"GOMP_SPINCOUNT": "1000"}),
    "2-dynamic": ("2", {"OMP_DYNAMIC": "true"}),  # finished no step in minutes on 2 cores (studies/cpu-step)
    "sslr-default": ("sslr-default", {}),
}
BUSY = "while True: pass"


def busy_jiffies() -> int:
    """Jiffies all CPUs spent busy since boot (/proc/stat: everything but idle and iowait)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return sum(fields) - fields[3] - fields[4]


def run_step(name: str, seconds: float) -> dict:
    """One fresh process timing the step; also the cores the rest of the machine kept busy meanwhile."""
    how, extra = CANDIDATES[name]
    env = {**os.environ, **extra}
    env.pop("SSLR_THREADS", None)
    if name != "1":
        env.pop("OMP_NUM_THREADS", None)
    tick = os.sysconf("SC_CLK_TCK")
    j0, c0, t0 = busy_jiffies(), os.times(), time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", STEP_SCRIPT, how, str(seconds)], capture_output=True, text=True,
                          cwd=ROOT, env=env)
    j1, c1, wall = busy_jiffies(), os.times(), time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{name}: {proc.stderr.strip().splitlines()[-1]}")
    own = (c1.children_user + c1.children_system) - (c0.children_user + c0.children_system)
    return {**json.loads(proc.stdout.strip().splitlines()[-1]), "others_cores": ((j1 - j0) / tick - own) / wall}


def measure(candidates: list[str], conditions: list[str], rounds: int, seconds: float, log=print) -> dict:
    """{candidate: {condition: {"images_per_s": median over rounds, "rounds": [...], "threads": n}}}."""
    out: dict = {c: {cond: {"rounds": []} for cond in conditions} for c in candidates}
    for k in range(rounds):
        for cond in conditions:
            busy = subprocess.Popen([sys.executable, "-c", BUSY]) if cond == "busy" else None
            try:
                if busy is not None:
                    time.sleep(0.5)
                for c in candidates:
                    m = run_step(c, seconds)
                    out[c][cond]["rounds"].append(m["images_per_s"])
                    out[c][cond]["threads"] = m["threads"]
                    out[c][cond].setdefault("others_cores", []).append(round(m["others_cores"], 2))
                    log(f"  round {k + 1} {cond:4s} {c:13s} {m['threads']} thread(s): {m['images_per_s']:7.1f} images/s "
                        f"({m['steps']} steps; others kept {m['others_cores']:.2f} cores busy)")
            finally:
                if busy is not None:
                    busy.kill()
                    busy.wait()
    for c in candidates:
        for cond in conditions:
            v = sorted(out[c][cond]["rounds"])
            out[c][cond]["images_per_s"] = v[len(v) // 2]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--candidates", default="torch,1,sslr-default")
    ap.add_argument("--conditions", default="idle,busy")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    cands, conds = args.candidates.split(","), args.conditions.split(",")
    for c in cands:
        if c not in CANDIDATES:
            ap.error(f"--candidates: unknown {c!r}; choose from {', '.join(CANDIDATES)}")
    res = measure(cands, conds, args.rounds, args.seconds)
    print(f"{'candidate':14s}" + "".join(f"{c + ' images/s':>18s}" for c in conds))
    for c in cands:
        print(f"{c:14s}" + "".join(f"{res[c][cond]['images_per_s']:18.1f}" for cond in conds))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps({"cpu_cores": os.cpu_count(), "seconds_per_run": args.seconds,
                                              "rounds": args.rounds, "figure": "median over rounds of each run's "
                                              "median step, images/s = 32 / s", "busy": BUSY + " (unpinned)",
                                              "candidates": {c: CANDIDATES[c][1] | {"sets": CANDIDATES[c][0]} for c in cands},
                                              "results": res}, indent=1) + "\n")


if __name__ == "__main__":
    main()
