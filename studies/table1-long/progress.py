"""The progress table of the long runs: steps so far, seconds per step lately, and the time left to 100000 steps.

    python studies/table1-long/progress.py RUNS_DIR [--window 2000] [--r20-factor X] [--stopped RUN]
    python studies/table1-long/progress.py RUNS_DIR --losses     # mean training / validation loss per 5000 steps

Reads each run's metrics.jsonl (its "step" lines: ``elapsed_s`` is the run's own wall time of training,
evaluations left out, so the rate is that of the core sharing at the time). The seconds per step are those of the
last ``--window`` logged steps; a paper-recipe SRN still at r = 10 is charged ``--r20-factor`` times that per
step after its switch to r = 20, where that factor is known; without it, the r = 10 rate, and the line says the
hours are a lower bound.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

TOTAL = 100_000


def steps_of(run: Path) -> list[dict]:
    lines = (json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines() if x.strip())
    return [x for x in lines if x.get("kind") == "step"]


def losses(runs: Path, bucket: int = 5000) -> None:
    """Mean training loss (the logged steps) and validation loss (the epoch ends) per ``bucket`` steps of each run:
    whether a run still learns to reconstruct, apart from what Table 1 says."""
    for run in sorted(p for p in runs.iterdir() if (p / "metrics.jsonl").exists()):
        lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines() if x.strip()]
        for kind, key, name in (("step", "loss", "training"), ("epoch", "val_loss", "validation")):
            buckets: dict[int, list[float]] = {}
            for x in lines:
                if x.get("kind") == kind and x.get(key) is not None:
                    buckets.setdefault(x["step"] // bucket, []).append(x[key])
            means = " / ".join(f"{sum(v) / len(v):.0f}" for _, v in sorted(buckets.items()))
            print(f"{run.name}, {name} loss per {bucket} steps: {means}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", type=Path)
    ap.add_argument("--window", type=int, default=2000, help="logged steps the rate is taken over")
    ap.add_argument("--switch", type=int, default=20_000, help="step where r becomes 20 (paper recipe runs)")
    ap.add_argument("--r20-factor", type=float, default=None, help="step cost at r = 20 over r = 10, if known")
    ap.add_argument("--stopped", action="append", default=[], metavar="RUN",
                    help="a run stopped for good (at a plateau): no hours left are charged to it")
    ap.add_argument("--losses", action="store_true", help="print the mean losses per 5000 steps instead")
    args = ap.parse_args()
    if args.losses:
        losses(args.runs)
        return
    print("| run | steps so far | r now | wall seconds per step (last %d steps) | hours left to %d steps at that rate |"
          % (args.window, TOTAL))
    print("|---|---|---|---|---|")
    for run in sorted(p for p in args.runs.iterdir() if (p / "metrics.jsonl").exists()):
        steps = steps_of(run)
        if len(steps) < 2:
            continue
        last = steps[-1]
        first = next(x for x in steps if x["step"] >= last["step"] - args.window)
        if last["step"] == first["step"]:
            continue
        per = (last["elapsed_s"] - first["elapsed_s"]) / (last["step"] - first["step"])
        left = TOTAL - last["step"]
        config = json.loads((run / "config.json").read_text())
        late = config["train"]["late_epoch"] >= 0 and config["model"]["generator"] == "srn"
        note = ""
        if late and last["r"] != config["train"]["late_inner_steps"]:
            before = max(0, min(left, args.switch - last["step"]))
            factor = args.r20_factor or 1.0
            hours = (before * per + (left - before) * per * factor) / 3600
            note = "" if args.r20_factor else " (r = 20 charged at the r = 10 rate: a lower bound)"
        else:
            hours = left * per / 3600
        left_text = "stopped here (plateau)" if run.name in args.stopped else f"{hours:.1f}{note}"
        print(f"| {run.name} | {last['step']} | {last['r']} | {per:.3f} | {left_text} |")


if __name__ == "__main__":
    main()
