"""Markdown table of a sweep log (sweep.py): Table 1 rates at chosen steps per configuration.

    python studies/cpu-presets/sweep_table.py studies/cpu-presets/results/gpu-sweep-*.jsonl --steps 1000,2000,4000
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("logs", nargs="+", type=Path)
    ap.add_argument("--steps", default="1000,2000,3000,4000,6000")
    ap.add_argument("--threshold", default="0.1", choices=["0.1", "0.5"])
    args = ap.parse_args()
    steps = [int(s) for s in args.steps.split(",")]
    key = "rates" if args.threshold == "0.1" else "rates_0.5"
    rows: dict[str, dict[int, dict]] = {}
    for log in args.logs:
        for line in log.read_text().splitlines():
            rec = json.loads(line)
            if "step" in rec:
                rows.setdefault(rec["name"], {})[rec["step"]] = rec
    print(f"| configuration | settings | step | MSE/pixel | Table 1 @{args.threshold}, 1..5 circles (%) |")
    print("|---|---|---|---|---|")
    for name, by_step in rows.items():
        for s in steps:
            if s in by_step:
                rec = by_step[s]
                rates = " / ".join(f"{rec[key][str(k)]:.1f}" for k in range(1, 6))
                settings = f"{rec['preset']} {' '.join(rec['sets'])}".strip()
                print(f"| {name} | {settings} | {s} | {rec['mse']:.4f} | {rates} |")


if __name__ == "__main__":
    main()
