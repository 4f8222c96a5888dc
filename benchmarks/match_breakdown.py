"""Where a matcher's relative error comes from: Table 3's errors by quintile of the target distance.

The relative error divides by the target, so pairs whose circles barely moved weigh most; the per-pair L2
error weighs the large moves most. This evaluates matching checkpoints on the test pairs and prints both
errors for each fifth of the pairs sorted by target, plus the share of the relative error each fifth
contributes (one row per checkpoint, then the mean over checkpoints of the same model).

    python benchmarks/match_breakdown.py RUN_OR_CKPT... --data iso-test.h5 [--json OUT]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from sslr_cli.experiments.inputs import load_match_pairs
from sslr_cli.experiments.matching import evaluate_checkpoint

BINS = 5


def breakdown(pred: np.ndarray, target: np.ndarray) -> list[dict]:
    order = np.argsort(target, kind="stable")
    rows = []
    total_rel = np.abs(pred[target > 0] - target[target > 0]) / target[target > 0]
    for i, part in enumerate(np.array_split(order, BINS)):
        t, p = target[part], pred[part]
        nz = t > 0
        rel = np.abs(p[nz] - t[nz]) / t[nz]
        rows.append({"quintile": i + 1, "target_min": float(t.min()), "target_max": float(t.max()),
                     "relative_error": float(100 * rel.mean()), "share_of_relative_error": float(rel.sum() / total_rel.sum()),
                     "mse": float(((p - t) ** 2).mean()), "mean_prediction": float(p.mean()), "mean_target": float(t.mean())})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoints", nargs="+")
    ap.add_argument("--data", required=True)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    torch.set_num_threads(1)
    pairs, size = load_match_pairs(Path(args.data))
    target = pairs["target"].numpy().astype(np.float64)
    out, by_model = [], {}
    for ck in args.checkpoints:
        run = evaluate_checkpoint(ck, pairs, size)
        rows = breakdown(run.evaluation.predictions, target)
        out.append({"checkpoint": ck, "model": run.model, "seed": run.seed,
                    "relative_error": run.evaluation.relative_error, "mse": run.evaluation.mse, "quintiles": rows})
        by_model.setdefault(run.model, []).append(rows)
        print(f"{run.model:22s} seed {run.seed}  {ck}")
        print("   " + "  ".join(f"Q{r['quintile']} rel {r['relative_error']:6.1f}% ({100 * r['share_of_relative_error']:4.1f}%) "
                                 f"L2 {r['mse']:.4f}" for r in rows))
    print("\nmean over checkpoints: relative error % by target quintile (share of the total) | per-pair L2")
    print(f"{'target range':22s} " + "  ".join(f"{q['target_min']:.4f}-{q['target_max']:.4f}".center(24) for q in out[0]["quintiles"]))
    for model, runs in by_model.items():
        rel = np.mean([[r["relative_error"] for r in rows] for rows in runs], axis=0)
        share = np.mean([[r["share_of_relative_error"] for r in rows] for rows in runs], axis=0)
        l2 = np.mean([[r["mse"] for r in rows] for rows in runs], axis=0)
        print(f"{model:22s} " + "  ".join(f"{a:6.1f} ({100 * b:4.1f}%) {c:.4f}".center(24) for a, b, c in zip(rel, share, l2)))
    if args.json:
        Path(args.json).write_text(json.dumps({"data": args.data, "pairs": int(target.size), "runs": out}, indent=1) + "\n")


if __name__ == "__main__":
    main()
