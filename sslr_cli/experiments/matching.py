"""Table 3: the set-matching task, evaluated as the reference code does.

For test pairs with targets Y (sum of squared centre displacements / 64^2) and predictions Y_hat:

- relative error (%) = 100 * mean over pairs of |Y_hat - Y| / Y (pairs with Y = 0 are left out and
  counted; the reference averages per batch, which is the same for full batches);
- L2 error = sum of (Y_hat - Y)^2 over a batch of ``batch_size`` (32) pairs, averaged over the
  batches (the reference's ``all_loss / len(test_loader)``: a per-batch sum, not a per-pair mean);
- MSE = mean over pairs of (Y_hat - Y)^2, the per-pair number (= L2 error / 32 for full batches).

Runs of the same model (same config but the seed) form one row: mean ± sample std (ddof = 1)
over the runs, as the paper reports over three experiments.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from sslr_cli.config import RunConfig
from sslr_cli.data.loader import to_float_images
from sslr_cli.errors import SSLRError

# Paper Table 3: (relative error % mean, std, L2 error mean, std).
PAPER_TABLE3: dict[str, tuple[float, float, float, float]] = {
    "Naive CNNs": (42.64, 1.89, 0.027, 2.58e-4),
    "SSLR-MLP": (37.20, 0.56, 0.021, 7.60e-4),
    "SSLR-SRN": (27.58, 0.73, 0.016, 2.16e-4),
    "SSLR-SRN (r + init)": (23.86, 0.23, 0.014, 1.00e-3),
}


def model_label(cfg: RunConfig) -> str:
    """The Table 3 row a matching run belongs to: its generator, plus "(r)" for the reconstruction
    loss and "init" for weights taken from another checkpoint."""
    from sslr_cli.models.registry import TASK_BASELINES, label

    gen = cfg.model.generator
    base = label(gen)
    if gen in TASK_BASELINES["match"]:
        return base
    tags = (["r"] if float(cfg.extra.get("recon_weight", 0) or 0) > 0 else []) + (["init"] if cfg.extra.get("init") else [])
    return f"{base} ({' + '.join(tags)})" if tags else base


def group_key(cfg: RunConfig) -> str:
    """Everything that defines the model and its training except the seed (and the --init path,
    which may differ per seed): runs with equal keys are seeds of one experiment."""
    d = cfg.to_dict()
    d["train"].pop("seed", None)
    d["extra"] = {k: v for k, v in d["extra"].items() if k != "init"}
    d["extra"]["init"] = bool(cfg.extra.get("init"))
    return json.dumps(d, sort_keys=True)


@dataclass
class MatchEvaluation:
    relative_error: float  # %, mean over pairs with Y > 0 of |Y_hat - Y| / Y
    l2_error: float  # per-batch sum of squared errors, averaged over batches
    mse: float  # per-pair mean squared error
    pairs: int
    batches: int
    batch_size: int
    zero_targets: int  # pairs with Y = 0, left out of the relative error
    predictions: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0))


def match_metrics(predictions: np.ndarray, targets: np.ndarray, batch_size: int = 32) -> MatchEvaluation:
    """The three numbers of ``predictions`` against ``targets`` (batches in the given order)."""
    p = np.asarray(predictions, dtype=np.float64).ravel()
    t = np.asarray(targets, dtype=np.float64).ravel()
    if p.shape != t.shape or p.size == 0:
        raise ValueError(f"need equal, non-empty predictions and targets, got {p.shape} and {t.shape}")
    sq = (p - t) ** 2
    batches = -(-p.size // batch_size)
    nonzero = t != 0
    rel = 100.0 * float(np.mean(np.abs(p[nonzero] - t[nonzero]) / np.abs(t[nonzero]))) if nonzero.any() else float("nan")
    return MatchEvaluation(rel, float(sq.sum() / batches), float(sq.mean()), int(p.size), batches, batch_size,
                           int((~nonzero).sum()), p)


@torch.no_grad()
def predict_distances(model: torch.nn.Module, images_a: torch.Tensor, images_b: torch.Tensor, batch_size: int = 32,
                      device: torch.device | str = "cpu", on_batch: Callable[[int], None] | None = None) -> np.ndarray:
    """Y_hat for uint8 image pairs (N, H, W, 3) with a matching model in eval mode."""
    model.eval()
    out = []
    for start in range(0, images_a.shape[0], batch_size):
        x1 = to_float_images(images_a[start : start + batch_size].to(device))
        x2 = to_float_images(images_b[start : start + batch_size].to(device))
        out.append(model(x1, x2).prediction.float().cpu())
        if on_batch:
            on_batch(x1.shape[0])
    return torch.cat(out).numpy()


@dataclass
class RunResult:
    checkpoint: str
    model: str  # Table 3 row label
    preset: str
    seed: int
    key: str  # group_key of the run's config
    evaluation: MatchEvaluation


@dataclass
class Stat:
    mean: float
    std: float  # sample std over runs (ddof = 1); NaN for a single run

    @classmethod
    def of(cls, values: list[float]) -> "Stat":
        v = np.asarray(values, dtype=np.float64)
        return cls(float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else float("nan"))


@dataclass
class Table3Row:
    model: str  # label, e.g. "SSLR-SRN"
    name: str  # label shown (disambiguated when two groups share a label)
    seeds: list[int]
    checkpoints: list[str]
    relative_error: Stat
    l2_error: Stat
    mse: Stat
    paper: tuple[float, float, float, float] | None


def group_runs(runs: list[RunResult]) -> list[Table3Row]:
    """One row per group of runs that differ only by seed, in the paper's row order."""
    groups: dict[str, list[RunResult]] = {}
    for run in runs:
        groups.setdefault(run.key, []).append(run)
    order = list(PAPER_TABLE3)
    items = sorted(groups.values(), key=lambda g: order.index(g[0].model) if g[0].model in order else len(order))
    label_count: dict[str, int] = {}
    for g in items:
        label_count[g[0].model] = label_count.get(g[0].model, 0) + 1
    rows, seen = [], {}
    for g in items:
        label = g[0].model
        name = label
        if label_count[label] > 1:  # the same model kind trained two ways: say how they differ
            seen[label] = seen.get(label, 0) + 1
            name = f"{label} [{g[0].preset} #{seen[label]}]"
        ev = [r.evaluation for r in g]
        rows.append(Table3Row(label, name, [r.seed for r in g], [r.checkpoint for r in g],
                              Stat.of([e.relative_error for e in ev]), Stat.of([e.l2_error for e in ev]),
                              Stat.of([e.mse for e in ev]), PAPER_TABLE3.get(label)))
    return rows


def evaluate_checkpoint(path: str | Path, pairs: dict[str, torch.Tensor], image_size: int, batch_size: int = 32,
                        device: torch.device | str = "cpu", on_batch: Callable[[int], None] | None = None) -> RunResult:
    """Load one matching checkpoint and evaluate it on ``pairs`` (uint8 images, images_b, float target)."""
    from sslr_cli.engine.checkpoint import checkpoint_r, load_model
    from sslr_cli.models.generator import AtR

    model, cfg, state = load_model(path, device, task="match")
    model = AtR(model, checkpoint_r(cfg, state))  # SSLR-SRN at the r in force at the checkpoint
    if cfg.model.image_size != image_size:
        raise SSLRError(f"{path}: trained on {cfg.model.image_size}px images, the data has {image_size}px")
    pred = predict_distances(model, pairs["images"], pairs["images_b"], batch_size, device, on_batch)
    ev = match_metrics(pred, pairs["target"].numpy(), batch_size)
    return RunResult(str(path), model_label(cfg), cfg.preset, cfg.train.seed, group_key(cfg), ev)
