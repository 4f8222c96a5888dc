"""Where a matcher's relative error comes from: Table 3's errors by fifth of the target distance
(``sslr match --breakdown``).

The relative error divides by the target, so pairs whose circles barely moved weigh most; the per-pair L2
error weighs the large moves most. The pairs are sorted by target and split into ``bins`` equal parts; for
each: its target range, relative error %, share of the whole relative error (summed over the pairs with a
non-zero target), per-pair L2, and the mean prediction and target. ``mean_by_model`` averages the parts over
the runs (seeds) of one model.

numpy is imported inside the functions: the CLI imports this module without loading it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from sslr_cli.errors import SSLRError

BINS = 5


@dataclass
class TargetPart:
    """One fifth (``part`` 1 = the smallest targets) of the pairs, sorted by target."""

    part: int
    pairs: int
    target_min: float
    target_max: float
    relative_error: float  # %, over the part's pairs with a non-zero target
    share_of_relative_error: float  # this part's summed relative error / all pairs' (0..1)
    mse: float  # per-pair L2
    mean_prediction: float
    mean_target: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def breakdown(predictions, targets, bins: int = BINS) -> list[TargetPart]:
    """``predictions`` against ``targets`` (1-D, same length), by ``bins`` parts of the sorted targets."""
    import numpy as np

    pred = np.asarray(predictions, dtype=np.float64).ravel()
    target = np.asarray(targets, dtype=np.float64).ravel()
    if pred.shape != target.shape or pred.size < bins:
        raise SSLRError(f"--breakdown: needs at least {bins} pairs and a prediction for each, got {pred.size} "
                        f"predictions for {target.size} pairs")
    order = np.argsort(target, kind="stable")
    positive = target > 0
    total = float((np.abs(pred[positive] - target[positive]) / target[positive]).sum())
    parts = []
    for i, idx in enumerate(np.array_split(order, bins)):
        t, p = target[idx], pred[idx]
        nz = t > 0
        rel = np.abs(p[nz] - t[nz]) / t[nz]
        parts.append(TargetPart(
            part=i + 1, pairs=int(idx.size), target_min=float(t.min()), target_max=float(t.max()),
            relative_error=float(100 * rel.mean()) if rel.size else float("nan"),
            share_of_relative_error=float(rel.sum() / total) if total else float("nan"),
            mse=float(((p - t) ** 2).mean()), mean_prediction=float(p.mean()), mean_target=float(t.mean())))
    return parts


def mean_by_model(runs: list[tuple[str, list[TargetPart]]]) -> dict[str, list[TargetPart]]:
    """{model: its parts averaged over its runs}, from (model, parts) of each run; target ranges and pair
    counts are those of the first run (every run is evaluated on the same pairs)."""
    import numpy as np

    grouped: dict[str, list[list[TargetPart]]] = {}
    for model, parts in runs:
        grouped.setdefault(model, []).append(parts)
    out = {}
    for model, many in grouped.items():
        first = many[0]
        out[model] = [TargetPart(
            part=p.part, pairs=p.pairs, target_min=p.target_min, target_max=p.target_max,
            relative_error=float(np.mean([m[i].relative_error for m in many])),
            share_of_relative_error=float(np.mean([m[i].share_of_relative_error for m in many])),
            mse=float(np.mean([m[i].mse for m in many])),
            mean_prediction=float(np.mean([m[i].mean_prediction for m in many])), mean_target=p.mean_target)
            for i, p in enumerate(first)]
    return out
