"""Page faults in a CPU training step: glibc malloc's defaults against keeping freed memory.

glibc gives large freed blocks back to the system (munmap, or trimming the heap's top), so the next step's
tensors of the same sizes fault in fresh zeroed pages: system time. Each setting runs a fresh process (its
environment is read at start; ``mallopt`` cannot go back to the dynamic default), rounds take every setting in
turn; per process: user and system CPU seconds per step over ``--steps`` steps after three warm-ups (one
thread, the preset as `sslr train` builds it, random images), and minor page faults per step.

    python studies/cpu-step/malloc_settings.py --presets tiny,small --rounds 5 --out studies/cpu-step/results/malloc-settings.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHILD = r"""
import json, os, resource, sys
sys.path.insert(0, "studies/cpu-step")
import torch
import levers  # one thread; build/step as `sslr train`
how, preset, steps = sys.argv[1], sys.argv[2], int(sys.argv[3])
if how == "sslr":
    from sslr_cli.engine.memory import keep_freed_memory
    keep_freed_memory()
cfg, model, opt = levers.build(preset, cfg_gen := "srn")
batch = {"images": torch.randint(0, 256, (32, 64, 64, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))}
from sslr_cli.engine.device import flush_denormals
with flush_denormals(torch.device("cpu")):
    for _ in range(3):
        levers.step(cfg, model, opt, batch)
    t0, f0 = os.times(), resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(steps):
        levers.step(cfg, model, opt, batch)
    t1, f1 = os.times(), resource.getrusage(resource.RUSAGE_SELF).ru_minflt
print(json.dumps({"user_s": (t1.user - t0.user) / steps, "sys_s": (t1.system - t0.system) / steps,
                  "faults": (f1 - f0) / steps, "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""
SETTINGS = {
    "default": {},
    "env-trim": {"MALLOC_TRIM_THRESHOLD_": str(2**30)},
    "env-trim+mmap": {"MALLOC_TRIM_THRESHOLD_": str(2**30), "MALLOC_MMAP_THRESHOLD_": str(2**25)},
    "sslr": {},  # engine.memory.keep_freed_memory() in the process
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--presets", default="tiny,small")
    ap.add_argument("--settings", default=",".join(SETTINGS))
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    names = args.settings.split(",")
    runs: dict = {p: {n: [] for n in names} for p in args.presets.split(",")}
    for k in range(args.rounds):
        for preset in runs:
            for name in names:
                env = {**os.environ, **SETTINGS[name], "PYTHONPATH": str(ROOT)}
                proc = subprocess.run([sys.executable, "-c", CHILD, name, preset, str(args.steps)], capture_output=True,
                                      text=True, cwd=ROOT, env=env)
                if proc.returncode != 0:
                    raise SystemExit(f"{name}: {proc.stderr.strip().splitlines()[-1]}")
                m = json.loads(proc.stdout.strip().splitlines()[-1])
                runs[preset][name].append(m)
                print(f"round {k + 1} {preset} {name:14s} user {1e3 * m['user_s']:6.1f} ms  sys {1e3 * m['sys_s']:5.1f} ms  "
                      f"{m['faults']:7.0f} faults/step  peak RSS {m['rss_mb']:.0f} MB", flush=True)
    summary = {}
    for preset, by in runs.items():
        for name, ms in by.items():
            med = lambda key: sorted(x[key] for x in ms)[len(ms) // 2]  # noqa: E731
            summary[f"{preset}/{name}"] = {"user_s": med("user_s"), "sys_s": med("sys_s"), "cpu_s": med("user_s") + med("sys_s"),
                                           "faults": med("faults"), "rss_mb": med("rss_mb")}
            print(f"{preset} {name:14s} median user+sys {1e3 * (med('user_s') + med('sys_s')):.1f} ms (sys {1e3 * med('sys_s'):.1f}), "
                  f"{med('faults'):.0f} faults/step, peak RSS {med('rss_mb'):.0f} MB")
    if args.out:
        Path(args.out).write_text(json.dumps({"threads": 1, "steps_per_process": args.steps, "settings": SETTINGS,
                                              "median_over_rounds": summary, "runs": runs}, indent=1) + "\n")


if __name__ == "__main__":
    main()
