"""Table 2 against training steps: the `sslr iou --json` files of table2_hour.sh as a table and a figure.

    python studies/table2-cpu/table2_curve.py studies/table2-cpu/results/hour-*.json [--figure studies/table2-cpu/curve.png]

Each file holds one checkpoint's row (``step-NNNNNN.pt``); rows are grouped by generator and ordered by step.
The paper's Table 2 (MLP / SRN) is drawn as dashed lines.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from sslr_cli.experiments.iou import PAPER_TABLE2

METRICS = (("overall_iou_channels", "overall IoU"), ("per_object_iou_authors", "per-object IoU"),
           ("per_object_iou_elements", "per-object IoU, each element"), ("ari", "ARI"))


def load_rows(paths: list[Path]) -> dict[str, list[tuple[int, dict]]]:
    runs: dict[str, list[tuple[int, dict]]] = {}
    for path in paths:
        for row in json.loads(path.read_text())["checkpoints"]:
            step = int(re.search(r"step-(\d+)", row["checkpoint"]).group(1))
            runs.setdefault(row["generator"], []).append((step, row))
    return {g: sorted(rows, key=lambda r: r[0]) for g, rows in sorted(runs.items())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("files", nargs="+", type=Path)
    ap.add_argument("--figure", type=Path, default=None)
    args = ap.parse_args()
    runs = load_rows(args.files)
    print("| generator | step | " + " | ".join(name for _, name in METRICS) + " | non-empty elements / boxes |")
    print("|---|---:|" + "---:|" * len(METRICS) + "---|")
    for gen, rows in runs.items():
        for step, row in rows:
            cells = " | ".join(f"{row[key]:.3f}" for key, _ in METRICS)
            print(f"| {gen.upper()} | {step} | {cells} | {row['mean_nonempty']:.1f} / {row['mean_boxes']:.1f} |")
    if args.figure:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
        colors = {"mlp": "tab:blue", "srn": "tab:red"}
        for ax, (key, name), paper_key in zip(axes, METRICS[:2], ("overall_iou", "per_object_iou")):
            for gen, rows in runs.items():
                ax.plot([s for s, _ in rows], [r[key] for _, r in rows], "o-", color=colors.get(gen), label=f"{gen.upper()} (ours)")
                paper = PAPER_TABLE2.get(f"SSLR-{gen.upper()}", {}).get(paper_key)
                if paper is not None:
                    ax.axhline(paper, ls="--", color=colors.get(gen), alpha=0.6, label=f"{gen.upper()} (paper)")
            ax.set_xlabel("training steps (batch 32)")
            ax.set_ylabel(name)
            ax.set_ylim(0, 1)
            ax.grid(alpha=0.3)
        axes[0].legend(fontsize=8, loc="lower right")
        fig.suptitle("Table 2 against steps: clevr-tiny (64x64), 500 test scenes")
        fig.tight_layout()
        args.figure.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(args.figure, dpi=110)
        print(f"figure: {args.figure}")


if __name__ == "__main__":
    main()
