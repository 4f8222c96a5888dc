"""Experiment tracking: the lines of ``metrics.jsonl`` mirrored to TensorBoard.

``metrics.jsonl`` stays the source of truth; a tracker is a copy of it in a tool people already use:

- live, ``sslr train --log tensorboard``: ``TrackingHook`` sends every line the run
  writes (step lines: loss, learning rate, r, step time; epoch lines: train / validation loss; eval lines
  of ``--eval-every``: the learning-curve Table 1 at thresholds 0.1 and 0.5, MSE, ARI, FG-ARI) and, at
  each evaluation, a figure of a few held-out reconstructions;
- afterwards, ``sslr export tensorboard RUN...`` (``export_run``) replays a finished run's metrics.jsonl.

The same ``scalars`` turns a line into tags and values for both, so a live run and an exported one show
the same curves. Each tool is an optional extra (``pip install 'sslr-cli[tensorboard]'``); without it
``open_tracker`` fails with one line that says how to install it.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Iterable

from sslr_cli.errors import SSLRError

TRACKERS = ("tensorboard",)  # name -> the module its package provides: TRACKER_MODULES
TRACKER_MODULES = {"tensorboard": "tensorboard"}
TB_FOLDER = "tensorboard"  # RUN/tensorboard: the events of `sslr train --log tensorboard`
FIGURE_IMAGES = 4  # held-out images in the figure logged at each evaluation


def install_hint(tool: str) -> str:
    return f"pip install 'sslr-cli[{tool}]'"


def check_tracker(name: str) -> None:
    """Fail (one line) on an unknown tracker or one whose package is not installed, before any training."""
    import importlib.util

    if name not in TRACKERS:
        raise SSLRError(f"--log {name!r}: choose one of {', '.join(TRACKERS)}")
    module = TRACKER_MODULES[name]
    if importlib.util.find_spec(module) is None:
        raise SSLRError(f"--log {name}: the {module} package is not installed; install it with: {install_hint(name)}")


# ---------------------------------------------------------------------------------------------------------
# A metrics line as scalars
# ---------------------------------------------------------------------------------------------------------


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


class Scalars:
    """Turns metrics lines, in order, into (step, {tag: value}); remembers the previous step line for the
    step time (seconds of training per optimizer step between two logged step lines)."""

    def __init__(self) -> None:
        self._last: tuple[int, float] | None = None  # (step, elapsed_s) of the previous step line

    def __call__(self, record: dict[str, Any]) -> tuple[int, dict[str, float]]:
        kind, step = record.get("kind"), int(record.get("step", 0))
        out: dict[str, float] = {}
        if kind == "step":
            for key in ("loss", "lr", "r", "elapsed_s"):
                out[f"train/{key}"] = record.get(key)
            elapsed = record.get("elapsed_s")
            if self._last is not None and _finite(elapsed) and step > self._last[0]:
                out["train/step_s"] = (elapsed - self._last[1]) / (step - self._last[0])
            if _finite(elapsed):
                self._last = (step, float(elapsed))
        elif kind == "epoch":
            for key in ("train_loss", "val_loss", "epoch_s", "r"):
                out[f"epoch/{key}"] = record.get(key)
            out["epoch/epoch"] = record.get("epoch")
        elif kind == "eval":
            for threshold, key in (("0.1", "rates"), ("0.5", "rates_0.5")):
                for count, rate in sorted((record.get(key) or {}).items(), key=lambda kv: int(kv[0])):
                    out[f"table1_t{threshold}/{int(count)}_objects"] = rate
            for key in ("mse", "ari", "fg_ari", "eval_s"):
                out[f"eval/{key}"] = record.get(key)
        return step, {k: float(v) for k, v in out.items() if _finite(v)}


# ---------------------------------------------------------------------------------------------------------
# Writers
# ---------------------------------------------------------------------------------------------------------


class TensorBoardWriter:
    """Scalars and images into a TensorBoard event folder (torch's SummaryWriter, which needs ``tensorboard``)."""

    def __init__(self, folder: Path, purge_step: int | None = None) -> None:
        check_tracker("tensorboard")
        from torch.utils.tensorboard import SummaryWriter

        self.folder = folder
        self.writer = SummaryWriter(log_dir=str(folder), purge_step=purge_step)

    def scalars(self, step: int, values: dict[str, float]) -> None:
        for tag, value in values.items():
            self.writer.add_scalar(tag, value, global_step=step)

    def text(self, tag: str, text: str, step: int = 0) -> None:
        self.writer.add_text(tag, text, global_step=step)

    def image(self, tag: str, rgb, step: int) -> None:  # uint8 (H, W, 3)
        self.writer.add_image(tag, rgb, global_step=step, dataformats="HWC")

    def close(self) -> None:
        self.writer.flush()
        self.writer.close()


def open_tracker(name: str, run_dir: Path, purge_step: int | None = None):
    """The writer of tracker ``name`` for a run directory (a new tool: a writer class and an entry here)."""
    check_tracker(name)
    return TensorBoardWriter(run_dir / TB_FOLDER, purge_step)


# ---------------------------------------------------------------------------------------------------------
# Live: a hook of the training loop
# ---------------------------------------------------------------------------------------------------------


def figure_rgb(fig) -> "Any":
    """A matplotlib Figure as a uint8 (H, W, 3) array (Agg canvas)."""
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def _make_hook_class():
    from sslr_cli.engine.hooks import TrainHook

    class TrackingHook(TrainHook):
        """Mirrors each line the run logs to metrics.jsonl (``loop.run_dir.history``) to the trackers, right
        after the step or epoch that wrote it; at each eval line, a figure of held-out reconstructions."""

        def __init__(self, names: Iterable[str]) -> None:
            self.names = list(names)
            self.writers: list = []
            self.seen = 0
            self.scalars = Scalars()
            self.opened = False

        def _open(self, loop, first_step: int) -> None:
            self.opened = True
            if not loop.run_dir.writer:  # DDP: rank 0 alone writes
                return
            path = loop.run_dir.path
            self.writers = [open_tracker(n, path, purge_step=first_step) for n in self.names]
            for w in self.writers:
                w.text("config", "```\n" + json.dumps(loop.cfg.to_dict(), indent=2) + "\n```", first_step)

        def _mirror(self, loop) -> None:
            history = loop.run_dir.history
            for record in history[self.seen:]:
                step, values = self.scalars(record)
                for w in self.writers:
                    if values:
                        w.scalars(step, values)
                if record.get("kind") == "eval" and self.writers:
                    self._figure(loop, step)
            self.seen = len(history)

        def _figure(self, loop, step: int) -> None:
            images = _heldout_images(loop)
            if images is None:
                return
            import torch

            from sslr_cli.experiments.disentanglement import decompose
            from sslr_cli.experiments.figures import reconstruction_figure

            model = loop.state.model
            was_training = model.training
            devices = [loop.device] if loop.device.type == "cuda" else []
            with torch.random.fork_rng(devices=devices):  # the run trains the same with or without the figure
                dec = decompose(model, images, 0.1, loop.device)
            model.train(was_training)
            rgb = figure_rgb(reconstruction_figure(images.numpy(), [(loop.cfg.model.generator.upper(), dec)]))
            for w in self.writers:
                w.image("reconstructions", rgb, step)

        def after_step(self, loop, record: dict[str, Any]) -> None:
            if not self.opened:
                self._open(loop, int(record["step"]))
            self._mirror(loop)

        def after_epoch(self, loop, record: dict[str, Any]) -> None:
            if not self.opened:
                self._open(loop, int(record["step"]))
            self._mirror(loop)
            last = loop.stopped != "finished" or record["epoch"] + 1 >= loop.cfg.train.epochs
            if last:
                self.close()

        def close(self) -> None:
            for w in self.writers:
                w.close()
            self.writers = []

    return TrackingHook


def _heldout_images(loop):
    """``FIGURE_IMAGES`` images of the run's held-out set (``--eval-every``), spread over its object counts."""
    for hook in loop.hooks:
        heldout = getattr(hook, "heldout", None)
        if heldout is not None and len(heldout):
            import torch

            n = len(heldout)
            pick = torch.linspace(0, n - 1, min(FIGURE_IMAGES, n)).round().long()
            return heldout.images[pick]
    return None


def tracking_hooks(names: list[str] | None) -> list:
    """The hooks ``sslr train --log NAME`` asks for (checked first: one line if a package is missing)."""
    names = list(dict.fromkeys(names or []))
    for name in names:
        check_tracker(name)
    return [_make_hook_class()(names)] if names else []


# ---------------------------------------------------------------------------------------------------------
# Afterwards: a finished run's metrics.jsonl
# ---------------------------------------------------------------------------------------------------------


def find_runs(paths: list[Path]) -> list[tuple[Path, str]]:
    """(run directory, name) for the runs (folders with a metrics.jsonl) in ``paths``: each path is one (named
    by its folder), or a folder holding some at any depth (an ``sslr reproduce`` output folder; each named by
    its path below it, e.g. ``runs/circles-srn/seed-0``)."""
    runs: dict[Path, str] = {}
    for p in paths:
        p = Path(p)
        if p.is_file() and p.name == "metrics.jsonl":
            p = p.parent
        if not p.exists():
            raise SSLRError(f"{p}: no such run directory")
        if (p / "metrics.jsonl").is_file():
            runs.setdefault(p, p.resolve().name)
            continue
        found = sorted(m.parent for m in p.rglob("metrics.jsonl") if TB_FOLDER not in m.relative_to(p).parts)
        if not found:
            raise SSLRError(f"{p}: no metrics.jsonl in it or below it (not a run directory)")
        for run in found:
            runs.setdefault(run, run.relative_to(p).as_posix())
    return list(runs.items())


def read_metrics(run: Path) -> list[dict[str, Any]]:
    records = []
    path = run / "metrics.jsonl"
    for i, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            if i == len(path.read_text().splitlines()):  # a half-written last line of a killed run
                break
            raise SSLRError(f"{path}: line {i} is not JSON") from None
        if isinstance(record, dict):
            records.append(record)
    return records


def export_run(run: Path, folder: Path, force: bool = False) -> dict[str, Any]:
    """Replay ``run``'s metrics.jsonl (and config.json as text) into TensorBoard events in ``folder``."""
    if folder.exists() and any(folder.glob("events.out.tfevents.*")):
        if not force:
            raise SSLRError(f"{folder}: already holds TensorBoard events (use --force to replace them)")
        for old in folder.glob("events.out.tfevents.*"):
            old.unlink()
    records = read_metrics(run)
    writer = TensorBoardWriter(folder)
    scalars, points = Scalars(), 0
    try:
        if (run / "config.json").exists():
            writer.text("config", "```\n" + (run / "config.json").read_text() + "\n```", 0)
        for record in records:
            step, values = scalars(record)
            if values:
                writer.scalars(step, values)
                points += len(values)
    finally:
        writer.close()
    return {"run": str(run), "events": str(folder), "lines": len(records), "scalars": points}
