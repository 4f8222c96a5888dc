"""How long `sslr` takes to answer `--help`, `train --help`, `--version` and a wrong option (median of N fresh
processes). `--tree DIR` times another checkout of sslr (for example an older commit in a git worktree) with the
same Python, for a before/after comparison in one run.

    python benchmarks/cli_start.py [--reps 7] [--tree OTHER_CHECKOUT]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CASES = (("sslr --help", ["--help"]), ("sslr train --help", ["train", "--help"]),
         ("sslr --version", ["--version"]), ("a wrong option", ["train", "--no-such-option"]))


def time_start(tree: Path, argv: list[str], reps: int) -> float:
    env = {**os.environ, "PYTHONPATH": str(tree), "COLUMNS": "100"}
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "sslr_cli", *argv], env=env, cwd=tree, capture_output=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--tree", type=Path, default=None, help="another sslr checkout to time beside this one")
    args = ap.parse_args()
    trees = [("this checkout", ROOT)] + ([("--tree", args.tree.resolve())] if args.tree else [])
    header = "| command | " + " | ".join(f"{name} (s)" for name, _ in trees) + (" | ratio |" if args.tree else "")
    print(header)
    print("|---" * (len(trees) + 1 + bool(args.tree)) + "|")
    for label, argv in CASES:
        # interleaved per case, so that a change in the machine's load touches both columns alike
        seconds = [time_start(tree, argv, args.reps) for _, tree in trees]
        row = f"| `{label}` | " + " | ".join(f"{s:.2f}" for s in seconds)
        print(row + (f" | {seconds[1] / seconds[0]:.1f}x |" if args.tree else " |"))


if __name__ == "__main__":
    main()
