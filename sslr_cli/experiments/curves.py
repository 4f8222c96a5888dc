"""Learning curves: Table 1 (App. A.2) measured while training, on a fixed held-out set, and read back.

While training (``sslr train --eval-every N``): every N optimizer steps and at the end, the model is
measured on held-out images with exactly 1..5 circles -- the % of images completely disentangled at
threshold 0.1 (the paper's) and 0.5, the reconstruction MSE and the ARI / foreground-ARI of the
responsibility segmentation, i.e. ``measure_disentanglement`` as ``sslr reconstruct`` calls it -- and
one ``{"kind": "eval", ...}`` line goes to metrics.jsonl. The measurement runs between optimizer
steps, outside the step timer: it counts towards neither ``elapsed_s`` nor ``--max-minutes``, and the
training RNG is restored afterwards, so a run with evaluation trains exactly as one without.

The held-out set is made in memory from fixed seeds by the dataset kind's ``DatasetKind.heldout``
(``data/registry.py``; circles, count k: ``generate_circles(n, count k, seed=1000 + k)``, the files
``studies/cpu-presets/claim.py`` makes), so every run with the same ``--eval-images`` is measured on the
same images and their curves compare; ``--eval-data`` takes files of that kind instead.

Afterwards (``sslr reconstruct --curve RUN...``): ``load_curve`` reads the eval lines of a run's
metrics.jsonl, or a ``claim.py`` / ``sweep.py`` log (studies/cpu-presets) (JSON lines with
generator/tag or name, step, minutes, rates), into ``Curve`` objects for a figure and a table.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sslr_cli.config import RunConfig
from sslr_cli.models.generator import AtR
from sslr_cli.engine.hooks import RunStart, TrainHook
from sslr_cli.errors import SSLRError

EVAL_COUNTS = (1, 2, 3, 4, 5)
EVAL_SEED = 1000  # count k is drawn with seed EVAL_SEED + k
SECONDARY_THRESHOLD = 0.5
EVAL_BATCH = 100  # images per forward pass (as `sslr reconstruct`)


# ---------------------------------------------------------------------------------------------------------
# The held-out set and one measurement
# ---------------------------------------------------------------------------------------------------------


@dataclass
class HeldOut:
    """Held-out images (uint8 N x H x W x 3) with their counts and instance masks."""

    images: torch.Tensor
    counts: np.ndarray
    masks: np.ndarray
    source: str

    def __len__(self) -> int:
        return len(self.counts)


def generated_heldout(n_per_count: int, image_size: int = 64, kind: str = "circles") -> HeldOut:
    """``n_per_count`` images with exactly k objects for k = 1..5, from the fixed seeds 1000 + k (the kind's
    ``DatasetKind.heldout``)."""
    from sslr_cli.data.registry import DATASETS

    draw = DATASETS[kind].heldout
    parts = [draw(n_per_count, k, EVAL_SEED + k, image_size) for k in EVAL_COUNTS]
    return HeldOut(torch.from_numpy(np.ascontiguousarray(np.concatenate([p["images"] for p in parts]))),
                   np.concatenate([p["counts"] for p in parts]).astype(np.int64),
                   np.concatenate([p["masks"] for p in parts]),
                   f"generated: {n_per_count} images per count 1..5, seeds {EVAL_SEED}+k")


def heldout_from_files(paths: tuple[str, ...] | list[str], image_size: int, kind: str = "circles") -> HeldOut:
    """Held-out images from files of ``kind`` (with counts and masks), concatenated."""
    from sslr_cli.data.store import open_scenes

    parts = []
    for p in paths:
        f = open_scenes(p, (kind,))
        if f.image_size != image_size:
            raise SSLRError(f"--eval-data {p}: images are {f.image_size}px, the model's {image_size}px")
        if not {"counts", "masks"} <= set(f.names):
            raise SSLRError(f"--eval-data {p}: needs counts and masks (a 'sslr gen-data circles' file)")
        parts.append(f.load(["images", "counts", "masks"]))
    if not parts or sum(len(p["counts"]) for p in parts) == 0:
        raise SSLRError(f"--eval-data {', '.join(map(str, paths))}: no images")
    return HeldOut(torch.from_numpy(np.ascontiguousarray(np.concatenate([p["images"] for p in parts]))),
                   np.concatenate([p["counts"] for p in parts]).astype(np.int64),
                   np.concatenate([p["masks"] for p in parts]), ", ".join(map(str, paths)))


def heldout_for(cfg: RunConfig, data: str | Path) -> HeldOut:
    """The held-out set of a run, after checking that Table 1 means something for it: a reconstruction run on
    a kind with held-out scenes (``DatasetKind.heldout``)."""
    from sslr_cli.data.registry import DATASETS, with_heldout
    from sslr_cli.data.store import open_scenes

    runs = f"--eval-every: measures Table 1 of {' or '.join(with_heldout())} reconstruction runs"
    if cfg.train.task != "reconstruct":
        raise SSLRError(f"{runs}; this run is --task {cfg.train.task}")
    kind = open_scenes(data).kind
    if DATASETS[kind].heldout is None:
        raise SSLRError(f"{runs}; {data} holds {kind} scenes")
    if cfg.train.eval_data:
        return heldout_from_files(cfg.train.eval_data, cfg.model.image_size, kind)
    return generated_heldout(cfg.train.eval_images, cfg.model.image_size, kind)


def measure(model: torch.nn.Module, heldout: HeldOut, r: int | None = None, device: torch.device | str = "cpu",
            batch_size: int = EVAL_BATCH):
    """``measure_disentanglement`` of ``model`` at r (passed on every call; default: the model's config's) on
    ``heldout``, thresholds 0.1 and 0.5."""
    from sslr_cli.experiments.disentanglement import measure_disentanglement

    return measure_disentanglement(model if r is None else AtR(model, r), heldout.images, heldout.counts, 0.1, (SECONDARY_THRESHOLD,),
                                       batch_size=batch_size, device=device, masks=heldout.masks)


def eval_record(result) -> dict[str, Any]:
    """The measurement fields of an eval line (JSON: count keys become strings)."""
    return {"threshold": result.threshold, "rates": result.rates,
            "rates_0.5": result.extra_thresholds[SECONDARY_THRESHOLD], "mse": result.mse, "ari": result.ari,
            "fg_ari": result.fg_ari, "images": result.images}


class TrainingEvaluator(TrainHook):
    """The train loop's hook for ``--eval-every`` and ``--keep-every``: Table 1 every ``eval_every`` steps and
    at the end; ``step-NNNNNN.pt`` every ``keep_every`` steps (inert when the run sets neither). Hooks run
    between optimizer steps, so their time is not training time. Pass it down: ``train(hooks=[TrainingEvaluator()])``."""

    serves = ("eval_every", "keep_every")

    def __init__(self) -> None:
        self.every = self.keep_every = 0
        self.heldout: HeldOut | None = None

    def setup(self, start: RunStart) -> None:
        cfg = start.cfg
        self.every = cfg.train.eval_every
        self.keep_every = cfg.train.keep_every
        self.device = start.device
        self.is_main = start.is_main
        # Built (and so checked) before any step, on every rank so that all fail alike; only rank 0 measures.
        self.heldout = heldout_for(cfg, start.data) if self.every else None
        self.last_eval = start.start_step  # a resumed run was measured up to here already

    def after_step(self, loop, record: dict[str, Any]) -> None:
        step = record["step"]
        if self.keep_every and step % self.keep_every == 0:
            loop.run_dir.save(f"step-{step:06d}.pt", loop._checkpoint())
        if self.every and step % self.every == 0:
            self._evaluate(loop, step, record["epoch"], record["r"])

    def after_epoch(self, loop, record: dict[str, Any]) -> None:
        """The final measurement, after the last epoch or a stop, unless this step was measured already."""
        last = loop.stopped != "finished" or record["epoch"] + 1 >= loop.cfg.train.epochs
        if self.every and last and record["step"] != self.last_eval:
            self._evaluate(loop, record["step"], record["epoch"], record["r"])

    def _evaluate(self, loop, step: int, epoch: int, r: int) -> None:
        self.last_eval = step
        if self.heldout is None or not self.is_main:
            return
        model = loop.state.model
        t0 = time.perf_counter()
        was_training = model.training
        devices = [self.device] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):  # the training run stays the same with or without evaluation
            result = measure(model, self.heldout, r, self.device)
        model.train(was_training)
        loop.run_dir.log({"kind": "eval", "epoch": epoch, "step": step, "r": r, "elapsed_s": round(loop.state.elapsed, 3),
                          "eval_s": round(time.perf_counter() - t0, 3), **eval_record(result)})


# ---------------------------------------------------------------------------------------------------------
# Reading curves back
# ---------------------------------------------------------------------------------------------------------


@dataclass
class CurvePoint:
    step: int
    minutes: float
    rates: dict[int, float]  # threshold 0.1
    rates_05: dict[int, float]  # threshold 0.5 (empty when the log has none)
    mse: float = math.nan
    ari: float = math.nan
    r: int | None = None

    def rates_at(self, threshold: float) -> dict[int, float]:
        return self.rates if threshold == 0.1 else self.rates_05


@dataclass
class Curve:
    label: str
    source: str
    generator: str | None = None
    points: list[CurvePoint] = field(default_factory=list)
    batch_size: int | None = None  # a run directory's (config.json), so that steps can be read as images seen


def _counts(d: dict | None) -> dict[int, float]:
    return {int(k): float(v) for k, v in (d or {}).items()}


def _num(v) -> float:
    return math.nan if v is None else float(v)


def _read_jsonl(path: Path) -> list[dict]:
    records = []
    try:
        text = path.read_text()
    except OSError as exc:
        raise SSLRError(f"{path}: cannot read ({exc.strerror})") from None
    for i, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            raise SSLRError(f"{path}: line {i} is not JSON") from None
        if isinstance(rec, dict):
            records.append(rec)
    return records


def _dedupe(points: list[CurvePoint]) -> list[CurvePoint]:
    """Sorted by step; of several measurements at one step (a resumed run) the last one."""
    return sorted({p.step: p for p in points}.values(), key=lambda p: p.step)


def load_curve(path: str | Path) -> list[Curve]:
    """The curves in a run directory / its metrics.jsonl (one curve) or a claim.py / sweep.py log (one per run in it)."""
    path = Path(path)
    if path.is_dir():
        if not (path / "metrics.jsonl").exists():
            raise SSLRError(f"{path}: no metrics.jsonl (not a run directory)")
        path = path / "metrics.jsonl"
    elif not path.exists():
        raise SSLRError(f"{path}: no such run directory or file")
    records = _read_jsonl(path)
    evals = [r for r in records if r.get("kind") == "eval"]
    if evals:
        run_dir = path.parent
        generator = batch_size = None
        if (run_dir / "config.json").exists():
            try:
                config = json.loads((run_dir / "config.json").read_text())
                generator = config["model"]["generator"]
                batch_size = int(config["train"]["batch_size"])
            except (ValueError, KeyError, TypeError):
                pass
        label = f"{generator.upper()} {run_dir.resolve().name}" if generator else run_dir.resolve().name
        points = [CurvePoint(int(r["step"]), float(r["elapsed_s"]) / 60.0, _counts(r.get("rates")),
                             _counts(r.get("rates_0.5")), _num(r.get("mse")), _num(r.get("ari")), r.get("r"))
                  for r in evals]
        return [Curve(label, str(path), generator, _dedupe(points), batch_size)]
    # claim.py (generator, tag, minutes) or sweep.py (name, train_minutes) logs (studies/cpu-presets)
    groups: dict[str, Curve] = {}
    for r in records:
        if "rates" not in r or "step" not in r or "kind" in r:
            continue
        minutes = r.get("minutes", r.get("train_minutes"))
        if minutes is None:
            continue
        gen = r.get("generator")
        label = r.get("name") or " ".join(x for x in ((gen or "").upper(), str(r.get("tag") or path.stem)) if x)
        curve = groups.setdefault(label, Curve(label, str(path), gen))
        curve.points.append(CurvePoint(int(r["step"]), float(minutes), _counts(r["rates"]), _counts(r.get("rates_0.5")),
                                       _num(r.get("mse")), _num(r.get("ari")), r.get("r")))
    if not groups:
        raise SSLRError(f"{path}: no eval lines (train with 'sslr train --eval-every N') and no benchmark measurements")
    for c in groups.values():
        c.points = _dedupe(c.points)
    return list(groups.values())


def load_curves(paths: list[str | Path]) -> list[Curve]:
    """``load_curve`` of every path; labels made unique with "#2", "#3"."""
    if not paths:
        raise SSLRError("RUN: give at least one run directory or log file")
    curves: list[Curve] = []
    seen: dict[str, int] = {}
    for p in paths:
        for c in load_curve(p):
            seen[c.label] = seen.get(c.label, 0) + 1
            if seen[c.label] > 1:
                c.label = f"{c.label} #{seen[c.label]}"
            curves.append(c)
    return curves


def curve_counts(curves: list[Curve]) -> list[int]:
    return sorted({k for c in curves for p in c.points for k in p.rates})


def curve_figure(curves: list[Curve], threshold: float = 0.1, paper: dict[str, dict[int, float]] | None = None):
    """Rate against steps (top row) and training minutes (bottom row), one panel per circle count, one line per
    run; the paper's numbers (only at threshold 0.1) as dashed horizontal lines (``gid="paper"``). When every run
    has the same batch size, the top row also reads as images seen (a second axis above it)."""
    from matplotlib import colormaps
    from matplotlib.figure import Figure

    counts = curve_counts(curves)
    if not counts:
        raise SSLRError("--curve: the logs hold no rates")
    fig = Figure(figsize=(3.2 * len(counts), 6.4), layout="constrained")
    axes = fig.subplots(2, len(counts), squeeze=False, sharey=True)
    colours = colormaps["tab10" if len(curves) <= 10 else "tab20"]
    paper_styles = {"SSLR-SRN": "--", "SSLR-MLP": ":"}
    batches = {c.batch_size for c in curves}
    batch = next(iter(batches)) if len(batches) == 1 else None  # steps read as images seen only for one batch size
    for row, (xname, xlabel) in enumerate((("step", "optimizer steps"), ("minutes", "training minutes"))):
        for col, k in enumerate(counts):
            ax = axes[row][col]
            for i, c in enumerate(curves):
                pts = [p for p in c.points if k in p.rates_at(threshold)]
                ax.plot([getattr(p, xname) for p in pts], [p.rates_at(threshold)[k] for p in pts], marker="o",
                        markersize=3, color=colours(i % colours.N), label=c.label if row == 0 and col == 0 else None)
            for name, values in (paper or {}).items():
                if k in values:
                    ax.axhline(values[k], color="grey", linestyle=paper_styles.get(name, "-."), linewidth=1, gid="paper",
                               label=f"paper {name}" if row == 0 and col == 0 else None)
            ax.set_xlabel(xlabel)
            ax.set_ylim(0, 100)
            ax.grid(alpha=0.3)
            if row == 0:
                ax.set_title(f"{k} circle{'s' if k != 1 else ''}")
                if batch is not None:
                    images = ax.secondary_xaxis("top", functions=(lambda s: s * batch / 1000,
                                                                  lambda i: i * 1000 / batch))
                    images.set_xlabel(f"thousand images seen (batch {batch})", fontsize="small")
            if col == 0:
                ax.set_ylabel(f"% completely disentangled\n(threshold {threshold:g})")
    fig.legend(loc="outside lower center", ncol=min(4, len(curves) + len(paper or {})), fontsize="small")
    return fig
