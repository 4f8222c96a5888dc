"""Table 3 against training steps, from the `sslr match --json` files of table3_long.sh.

Each file holds one step (the runs' step-NNNNNN.pt checkpoints, every seed); this prints relative error and
per-pair L2 as mean ± std over the seeds at every step, says whether each gap of the paper's ordering
(CNN > MLP > SRN in relative error) is larger than the seeds' spread, and draws the curve.

    python studies/table3-cpu/table3_curve.py studies/table3-cpu/results/long-step*.json --figure studies/table3-cpu/curve.png
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ORDER = ("Naive CNNs", "SSLR-MLP", "SSLR-SRN", "SSLR-SRN (r + init)")


def load(paths: list[str]) -> dict[str, dict[int, dict]]:
    """{model label: {step: row of `sslr match --json`}}."""
    out: dict[str, dict[int, dict]] = {}
    for p in paths:
        data = json.loads(Path(p).read_text())
        for row in data["rows"]:
            steps = {int(m.group(1)) for c in row["checkpoints"] if (m := re.search(r"step-(\d+)\.pt$", c))}
            if len(steps) != 1:
                sys.exit(f"{p}: row {row['model']!r} mixes checkpoints of steps {sorted(steps)}")
            out.setdefault(row["label"], {})[steps.pop()] = row
    return out


def pm(stat: dict, digits: int) -> str:
    std = stat.get("std")
    return f"{stat['mean']:.{digits}f}" + ("" if std is None or std != std else f" ± {std:.{digits}f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("files", nargs="+")
    ap.add_argument("--figure", default=None)
    args = ap.parse_args()
    curves = load(args.files)
    models = [m for m in ORDER if m in curves] + [m for m in curves if m not in ORDER]
    steps = sorted({s for c in curves.values() for s in c})
    print("| model | " + " | ".join(f"{s} steps: rel. error % / L2 per pair" for s in steps) + " |")
    print("|---|" + "---|" * len(steps))
    for m in models:
        cells = [f"{pm(curves[m][s]['relative_error'], 1)} / {pm(curves[m][s]['mse'], 4)}" if s in curves[m] else "—"
                 for s in steps]
        print(f"| {m} (seeds {curves[m][steps[-1]]['seeds'] if steps[-1] in curves[m] else '?'}) | " + " | ".join(cells) + " |")
    print()
    for better, worse in (("SSLR-MLP", "Naive CNNs"), ("SSLR-SRN", "SSLR-MLP"), ("SSLR-SRN", "Naive CNNs")):
        if better not in curves or worse not in curves:
            continue
        for s in steps:
            if s in curves[better] and s in curves[worse]:
                a, b = curves[better][s]["relative_error"], curves[worse][s]["relative_error"]
                gap, spread = b["mean"] - a["mean"], max(a["std"] or 0.0, b["std"] or 0.0)
                verdict = "holds" if gap > 0 else "reversed"
                print(f"{s:6d} steps: {better} < {worse}: {a['mean']:.2f} vs {b['mean']:.2f} ({verdict}; gap {abs(gap):.2f} "
                      f"{'>' if abs(gap) > spread else '<='} larger seed std {spread:.2f})")
    if args.figure:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), layout="constrained")
        for m in models:
            pts = sorted(curves[m].items())
            xs = [s for s, _ in pts]
            for ax, key in zip(axes, ("relative_error", "mse")):
                ax.errorbar(xs, [r[key]["mean"] for _, r in pts], yerr=[r[key]["std"] or 0.0 for _, r in pts], marker="o",
                            capsize=3, label=m)
        # the paper's numbers as `sslr match` reports them beside each row (L2: the per-pair scale they fit)
        paper = {m: row["paper"] for m in models for row in curves[m].values() if row.get("paper")}
        for ax, key, name in zip(axes, ("relative_error", "l2_error"),
                                 ("relative error % (test pairs)", "L2 error per pair (test pairs)")):
            for j, m in enumerate(m for m in models if m in paper):
                ax.axhline(paper[m][key]["mean"], color=f"C{models.index(m)}", linestyle="--", linewidth=1,
                           label="paper (dashed)" if key == "relative_error" and j == 0 else None)
            ax.set_xlabel("optimizer steps (batch 32)")
            ax.set_ylabel(name)
            ax.grid(alpha=0.3)
        axes[0].legend(fontsize=8)
        fig.suptitle("Table 3 at the match-tiny width: mean ± std over seeds")
        Path(args.figure).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(args.figure, dpi=110)
        print(f"figure: {args.figure}")


if __name__ == "__main__":
    main()
