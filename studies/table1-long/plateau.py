"""Has a long run stopped improving? The study's plateau rule, applied to each run's Table 1 points.

    python studies/table1-long/plateau.py RESULTS_DIR [--window 20000] [--tolerance 1.0]

Reads the "eval" lines of each run's metrics.jsonl on the 5000-step grid (threshold 0.1, 1..5 circles) and
prints, at the run's latest grid point T:

- per count, the best rate and its step, and the gain of the last window: the best of the points in
  (T - window, T] minus the best of the points up to T - window (the issue's "no improvement for 20000 steps",
  read strictly: a new best by any margin counts as improvement);
- the mean over the five counts, averaged over the points of the last window and over the window before it,
  and their difference. At a constant learning rate of 1e-2 single points move by up to 4 points within a few
  hundred steps (the weights' noise), so a strict best-so-far rule can be broken by noise alone; the windowed
  mean is the trend. The run has plateaued when that difference is at most ``--tolerance`` points.

The rule was written down before the points it judges were measured (the CPU recipe's run was at 43500 steps).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from sslr_cli.experiments.curves import load_curve

GRID = 5000


def grid_points(run: Path) -> list[tuple[int, list[float]]]:
    """(step, rates of 1..5 circles at threshold 0.1) of the run's evaluations on the grid, one per step."""
    (curve,) = load_curve(run)
    return [(p.step, [p.rates[k] for k in sorted(p.rates)]) for p in curve.points if p.step % GRID == 0]


def judge(points: list[tuple[int, list[float]]], window: int, tolerance: float) -> list[str]:
    last = points[-1][0]
    before = [p for p in points if p[0] <= last - window]
    recent = [p for p in points if p[0] > last - window]
    earlier = [p for p in before if p[0] > last - 2 * window]
    if not before or not earlier:
        return [f"latest point {last}: fewer than {2 * window} steps of points, no judgement yet"]
    lines = [f"latest point {last}; last window ({last - window}, {last}], the window before "
             f"({last - 2 * window}, {last - window}]",
             "| circles | best (step) | best in the last window | best before it | gain |",
             "|---|---|---|---|---|"]
    strict = True
    for k in range(len(points[0][1])):
        best_step, best = max(((s, r[k]) for s, r in points), key=lambda x: (x[1], -x[0]))
        new = max(r[k] for _, r in recent)
        old = max(r[k] for _, r in before)
        strict &= new <= old
        lines.append(f"| {k + 1} | {best:.1f} ({best_step}) | {new:.1f} | {old:.1f} | {new - old:+.1f} |")
    mean = lambda ps: sum(sum(r) / len(r) for _, r in ps) / len(ps)  # noqa: E731
    gain = mean(recent) - mean(earlier)
    lines.append(f"strict rule (no new best at any count in the last window): {'met' if strict else 'not met'}")
    lines.append(f"mean over 1..5 circles: {mean(earlier):.2f} in the window before, {mean(recent):.2f} in the last "
                 f"(gain {gain:+.2f}; plateau when at most {tolerance:g}): {'PLATEAU' if gain <= tolerance else 'still rising'}")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results", type=Path, help="folder with a folder per run holding its metrics.jsonl")
    ap.add_argument("--window", type=int, default=20_000, help="steps without improvement that make a plateau")
    ap.add_argument("--tolerance", type=float, default=1.0, help="points the windowed mean may gain on a plateau")
    args = ap.parse_args()
    for run in sorted(p for p in args.results.iterdir() if (p / "metrics.jsonl").exists()):
        points = grid_points(run)
        if not points:
            continue
        print(f"## {run.name}")
        print("\n".join(judge(points, args.window, args.tolerance)))
        print()


if __name__ == "__main__":
    main()
