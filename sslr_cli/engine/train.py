"""The training loop. Around it: the run directory (``run_dir.RunDir``: config.json, metrics.jsonl,
last.pt, best.pt), the training state (``state.TrainState``: model, optimizer, scaler, RNG, counters,
one state_dict/load_state_dict) and the data. On CPU the same seed gives the same run, and
``resume=True`` continues so that the losses equal those of an uninterrupted run.

Hooks (``engine.hooks.TrainHook``), passed down by the caller, see the loop after every step and every
epoch; they can log, checkpoint (``loop.save_last()``) or stop the run (``loop.stop(reason)``, saved and
resumable like a budget stop). The loop adds one of its own, ``Preemption`` (signals, last.pt on a clock).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
from torch import nn

from sslr_cli.config import RunConfig
from sslr_cli.data.loader import BatchLoader, scene_tensors
from sslr_cli.data.store import SceneArrays, open_scenes
from sslr_cli.engine.checkpoint import load_model, read_checkpoint
from sslr_cli.engine.device import autocast, configure_precision, flush_denormals, resolve_device, seed_everything
from sslr_cli.engine.hooks import RunStart, TrainHook
from sslr_cli.engine.memory import keep_freed_memory
from sslr_cli.engine.preemption import Preemption
from sslr_cli.engine.run_config import build_run_config, check_run_config
from sslr_cli.engine.run_dir import RunDir
from sslr_cli.engine.state import TrainState, make_optimizer, optimizer_step
from sslr_cli.engine.tasks import Task, get_task
from sslr_cli.errors import SSLRError

__all__ = ["train", "TrainResult", "TrainHook", "TrainLoop", "Distributed", "TrainingDiverged", "evaluate_loss",
           "load_training_data", "load_matching_weights", "load_model", "make_optimizer", "optimizer_step"]



class TrainingDiverged(SSLRError):
    """The loss became NaN or infinite."""


@dataclass
class TrainResult:
    out_dir: Path
    epochs_done: int
    steps: int
    best_val: float
    last_val: float
    train_loss: float
    minutes: float
    images_per_second: float
    stopped: str  # "finished", "time budget", "step budget", "terminated" (SIGTERM), "interrupted" (SIGINT)
    history: list[dict[str, Any]] = field(default_factory=list)
    config: RunConfig | None = None  # the run's config (for --resume: the checkpoint's, not the command line's)


@dataclass
class Distributed:
    """Where this process sits in a data-parallel job (a single process by default)."""

    rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    # The collectives the loop needs; a single process needs none (engine/distributed.py has the DDP ones).
    def on_main(self, fn: Callable[[], Any]) -> Any:
        """``fn()`` run on rank 0 (its result or error reaches every rank)."""
        return fn()

    def mean(self, value: torch.Tensor) -> float:
        """The mean of a per-rank scalar over the ranks (the global-batch loss)."""
        return float(value)

    def any(self, flag: bool) -> bool:
        """Whether any rank says yes (so that every rank stops at the same step)."""
        return flag

    def sum(self, values: list[float]) -> list[float]:
        return values

    def shard(self, n: int) -> tuple[int, int]:
        """This rank's [start, stop) of n evaluation samples."""
        return 0, n


def _split(scenes: SceneArrays, names: tuple[str, ...], fraction: float, seed: int):
    """Hold out ``fraction`` of the samples (a seeded random subset) for validation."""
    tensors = scene_tensors(scenes, names)
    n = len(scenes)
    n_val = int(round(n * fraction))
    if n_val == 0:
        return tensors, None
    if n - n_val < 1:
        raise SSLRError(f"--val-fraction {fraction}: leaves no training images out of {n}")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed + 17))
    val_idx, train_idx = order[:n_val].sort().values, order[n_val:].sort().values
    return ({k: v.index_select(0, train_idx) for k, v in tensors.items()},
            {k: v.index_select(0, val_idx) for k, v in tensors.items()})


def load_training_data(task: Task, cfg: RunConfig, data: str | Path, val: str | Path | None):
    """(train tensors, val tensors or None, image size) for ``task`` from the dataset files."""
    names = task.arrays(cfg)
    scene_file = open_scenes(data, task.kinds)
    missing = [n for n in names if n not in scene_file.names]
    if missing:
        raise SSLRError(f"{data}: has no dataset {missing[0]!r}, needed to train this preset")
    for name in names:  # imported CLEVR flags images without a real target (gen-data clevr --no-foreground)
        if "has_" + name in scene_file.names:
            have = scene_file.load(["has_" + name]).arrays["has_" + name]
            if not have.all():
                raise SSLRError(f"{data}: {int((have == 0).sum())} of {len(have)} images have no {name} "
                                "(imported with --no-foreground); it cannot be a training target")
    scenes = scene_file.load(list(names))
    if val is not None:
        val_file = open_scenes(val, task.kinds)
        if val_file.image_size != scene_file.image_size:
            raise SSLRError(f"--val {val}: images are {val_file.image_size}px, training images {scene_file.image_size}px")
        return scene_tensors(scenes, names), scene_tensors(val_file.load(list(names)), names), scene_file.image_size
    train_t, val_t = _split(scenes, names, cfg.train.val_fraction, cfg.train.seed)
    return train_t, val_t, scene_file.image_size


def evaluate_loss(task: Task, model: nn.Module, tensors: dict[str, torch.Tensor], cfg: RunConfig,
                  device: torch.device, r: int, batch_size: int = 64,
                  dist: Distributed | None = None) -> float:
    """Mean loss over ``tensors`` in evaluation mode at SSLR-SRN's ``r`` (the refinement runs without a graph).

    With ``dist``, each rank evaluates its shard and the sums are combined: every rank gets the same value.
    """
    if dist is not None:
        start, stop = dist.shard(next(iter(tensors.values())).shape[0])
        tensors = {k: v[start:stop] for k, v in tensors.items()}
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    loader = BatchLoader(tensors, batch_size, shuffle=False, drop_last=False)
    with torch.no_grad(), autocast(device, cfg.train.precision):
        for batch in loader.batches():
            batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
            n = next(iter(batch.values())).shape[0]
            total += float(task.loss(model, batch, cfg, r)) * n
            count += n
    model.train(was_training)
    if dist is not None:
        total, count = dist.sum([total, float(count)])
    return total / max(count, 1)


@dataclass
class TrainLoop:
    """One call of ``train``: the loop (``run``) and what hooks may use."""

    cfg: RunConfig
    task: Task
    state: TrainState
    run_dir: RunDir
    net: nn.Module  # the model as trained (DDP-wrapped under torchrun)
    loader: BatchLoader
    val: dict[str, torch.Tensor] | None
    device: torch.device
    dist: Distributed
    hooks: Sequence[TrainHook] = ()
    on_progress: Callable[[dict[str, Any]], None] | None = None
    stopped: str = "finished"  # "finished", "time budget", "step budget", "terminated", "interrupted" or a hook's reason
    r: int | None = None  # r of the latest step, kept in checkpoints: the analysis commands evaluate at it
    graphed: Any = None  # --cuda-graphs: a cuda_graphs.GraphedTrainStep that takes the whole step

    def stop(self, reason: str) -> None:
        """End the run after this step; last.pt records the position, so --resume continues exactly.
        The first reason given wins. Under DDP every rank must decide alike (e.g. through ``loop.dist.any``)."""
        if self.stopped == "finished":
            self.stopped = reason

    def save_last(self) -> None:
        self.run_dir.save("last.pt", self._checkpoint())

    def _checkpoint(self, **position: int) -> dict[str, Any]:
        h = self.run_dir.history
        return {"config": self.cfg.to_dict(), **self.state.state_dict(**position), "metrics": h[-1] if h else {},
                "metrics_lines": self.run_dir.lines, "inner_steps": self.r}

    def validate(self, r: int) -> float:
        if self.val is None:
            return math.nan
        value = evaluate_loss(self.task, self.state.model, self.val, self.cfg, self.device, r,
                              max(1, self.cfg.train.batch_size // self.dist.world_size), self.dist)
        if value < self.state.best_val:
            self.state.best_val = value
            self.run_dir.save("best.pt", self._checkpoint(batch=0))
        return value

    def train_step(self, batch: dict[str, torch.Tensor], r: int, lr: float) -> float:
        if self.graphed is not None:  # forward, backward and optimizer step are one graph replay
            return self._loss_value(self.graphed(self.net, batch, r, lr))
        pin = self.device.type == "cuda"  # page-locked batches make the host-to-GPU copies asynchronous
        # index_select's output is pageable even from a pinned source, so the batch itself is pinned
        batch = {k: (v.pin_memory() if pin else v).to(self.device, non_blocking=True) for k, v in batch.items()}
        self.state.set_lr(lr)  # the schedule is a function of the step: resume needs no state
        with autocast(self.device, self.cfg.train.precision):
            loss = self.task.loss(self.net, batch, self.cfg, r)
        value = self._loss_value(loss)
        optimizer_step(loss, self.state.optimizer, self.state.scaler)
        return value

    def _loss_value(self, loss: torch.Tensor) -> float:
        value = self.dist.mean(loss.detach())  # the global batch's loss, the same on every rank
        if not math.isfinite(value):
            raise TrainingDiverged(
                f"training stopped: non-finite loss ({value}) at epoch {self.state.epoch} step {self.state.step}; "
                f"the last good checkpoint is {self.run_dir.path / 'last.pt'} (try a lower --lr)")
        return value

    def run(self) -> TrainResult:
        cfg, t, st = self.cfg, self.cfg.train, self.state
        budget, elapsed_at_start = t.max_minutes * 60.0, st.elapsed
        schedule_total = t.schedule_steps or t.max_steps or t.epochs * len(self.loader)
        images_seen, t_run, last_val, train_loss = 0, time.perf_counter(), math.nan, math.nan
        if t.max_steps and st.step >= t.max_steps:
            self.stopped = "step budget"
        st.model.train()
        try:
            while self.stopped == "finished" and st.epoch < t.epochs:
                r = self.r = cfg.r_at(st.epoch)
                (ep_loss, ep_n), t_epoch = st.epoch_loss if st.batch else (0.0, 0), time.perf_counter()
                for batch in self.loader.batches(st.epoch, st.batch):
                    t0, lr = time.perf_counter(), t.lr_at(st.step, schedule_total)
                    value = self.train_step(batch, r, lr)
                    dt = time.perf_counter() - t0
                    st.step, st.batch, st.elapsed = st.step + 1, st.batch + 1, st.elapsed + dt
                    ep_loss, ep_n, images_seen = ep_loss + value, ep_n + 1, images_seen + t.batch_size
                    st.epoch_loss = (ep_loss, ep_n)
                    record = {"kind": "step", "epoch": st.epoch, "step": st.step, "loss": value, "r": r, "lr": lr,
                              "elapsed_s": round(st.elapsed, 3)}
                    if self.on_progress:
                        self.on_progress({"epoch": st.epoch, "batch": st.batch, "batches": len(self.loader), "step": st.step,
                                          "loss": value, "images_per_s": t.batch_size / max(dt, 1e-9),
                                          "elapsed": st.elapsed, "r": r})
                    if st.step % t.log_every == 0:
                        self.run_dir.log(record)
                    for hook in self.hooks:
                        hook.after_step(self, {**record, "batch": st.batch})
                    if budget and self.dist.any(st.elapsed - elapsed_at_start >= budget):
                        self.stop("time budget")
                    if t.max_steps and st.step >= t.max_steps:
                        self.stop("step budget")
                    if self.stopped != "finished":
                        break
                train_loss, last_val = ep_loss / max(ep_n, 1), self.validate(r)
                record = {"kind": "epoch", "epoch": st.epoch, "step": st.step, "train_loss": train_loss, "val_loss": last_val,
                          "r": r, "elapsed_s": round(st.elapsed, 3), "epoch_s": round(time.perf_counter() - t_epoch, 3),
                          "complete": self.stopped == "finished"}
                self.run_dir.log(record)
                for hook in self.hooks:
                    hook.after_epoch(self, record)
                if self.stopped == "finished":
                    st.epoch, st.batch = st.epoch + 1, 0
                self.save_last()
        except KeyboardInterrupt:  # SIGTERM/SIGINT stop through a hook (engine/preemption.py); a second Ctrl-C
            raise  # lands mid-step, where weights and counters disagree: the last checkpoint stays as it is
        if self.val is None:  # no validation: the last weights are the best we know
            self.run_dir.best_from_last()
        wall = time.perf_counter() - t_run
        return TrainResult(self.run_dir.path, st.epoch, st.step, st.best_val, last_val, train_loss, st.elapsed / 60.0,
                           images_seen / max(wall, 1e-9), self.stopped, self.run_dir.history, self.cfg)


def train(
    data: str | Path,
    out_dir: str | Path,
    cfg: RunConfig,
    val: str | Path | None = None,
    resume: bool = False,
    force: bool = False,
    device: str = "auto",
    init: str | Path | None = None,
    resume_overrides: dict[str, Any] | None = None,
    on_progress: Callable[[dict[str, Any]], None] | None = None,
    dist: Distributed | None = None,
    wrap_model: Callable[[nn.Module], nn.Module] | None = None,
    hooks: Sequence[TrainHook] = (),
    threads: int | None = None,
) -> TrainResult:
    """Train ``cfg`` on ``data`` into ``out_dir``. ``on_progress`` gets a dict after every step.

    ``init``: a checkpoint whose weights initialise the model (matching weights that fit).
    ``resume_overrides``: what the command line gave, ``{"section.field": value}`` (and ``"preset"``): a resumed
    run may change the training fields of ``RESUME_OVERRIDES`` (``epochs``, ``max_minutes``, ``max_steps``,
    ``compile``, ...), another given with another value than the checkpoint's is refused; the time budget counts
    the time of this call only, the step budget the whole run.
    ``threads``: CPU threads to compute with (``--threads``); without it a resumed run takes the count its
    checkpoint was written with (the same count makes a CPU run's continuation bit-identical).
    ``dist``/``wrap_model(model, cfg)``: set by the distributed launcher (rank 0 alone writes files).
    ``hooks``: ``TrainHook`` objects (``engine/hooks.py``) set up before the run and called after every step
    and epoch (``--eval-every``/``--keep-every`` need ``experiments.curves.TrainingEvaluator()`` among them).
    """
    dist = dist or Distributed()
    run_dir = RunDir(out_dir, writer=dist.is_main)
    saved = dist.on_main(run_dir.read_last) if resume else None  # rank 0 reads, every rank gets the same state
    if saved is not None:  # the checkpoint's config; only engine.run_config.RESUME_OVERRIDES may change
        cfg = build_run_config(data, overrides=resume_overrides, resume_from=saved, run_dir=run_dir.path)
    _use_threads(threads, saved, dist.is_main)
    check_run_config(cfg)
    task = get_task(cfg.train.task)
    dev = resolve_device(device)
    configure_precision(dev, cfg.train.precision)  # strict float32 for "fp32" on a GPU (TF32 off)
    if cfg.train.cuda_graphs:
        from sslr_cli.engine.cuda_graphs import check_cuda_graphs

        check_cuda_graphs(cfg, dev, dist.world_size)
    train_t, val_t, image_size = load_training_data(task, cfg, data, val)
    if cfg.train.cuda_graphs:
        check_cuda_graphs(cfg, dev, dist.world_size, next(iter(train_t.values())).shape[0])
    if image_size != cfg.model.image_size:
        raise SSLRError(f"{data}: images are {image_size}x{image_size}, preset {cfg.preset!r} expects {cfg.model.image_size} (choose another --preset)")
    _check_served(cfg, hooks)
    start = RunStart(cfg, Path(data), dev, saved["step"] if saved else 0, dist.is_main)
    for hook in hooks:  # each checks its settings before the run directory is touched
        hook.setup(start)
    dist.on_main(lambda: run_dir.prepare(resume, force))
    if saved is not None:
        dist.on_main(lambda: run_dir.trim_metrics(saved))

    seed_everything(cfg.train.seed)
    state = TrainState.create(task.build_model(cfg).to(dev), cfg)
    if init is not None and saved is None:
        load_matching_weights(state.model, dist.on_main(lambda: read_checkpoint(init)["model"]), str(init))
    if saved is not None:
        state.load_state_dict(saved)
    run_dir.write_config(cfg)
    if cfg.train.compile:
        from sslr_cli.engine.compile import compile_model  # imports torch._dynamo: only when asked

        compile_model(state.model)
    net = wrap_model(state.model, cfg) if wrap_model else state.model
    loader = BatchLoader(train_t, cfg.train.batch_size, shuffle=True, seed=cfg.train.seed,
                         rank=dist.rank, world_size=dist.world_size)
    if len(loader) == 0:
        raise SSLRError(f"{data}: fewer training images than one batch of {cfg.train.batch_size}")
    graphed = None
    if cfg.train.cuda_graphs:
        from sslr_cli.engine.cuda_graphs import GraphedTrainStep

        graphed = GraphedTrainStep(task, cfg, state.optimizer, dev)
    if dev.type == "cpu":
        keep_freed_memory()  # each step's large tensors reuse the pages of the last step's (engine/memory.py)
    with run_dir, Preemption(cfg) as preemption, flush_denormals(dev):  # SIGTERM/SIGINT and last.pt on a clock
        # the caller's hooks first: a clock checkpoint at an evaluation step then holds its line
        return TrainLoop(cfg, task, state, run_dir, net, loader, val_t, dev, dist, (*hooks, preemption),
                         on_progress, graphed=graphed).run()


def _check_served(cfg: RunConfig, hooks: Sequence[TrainHook]) -> None:
    """A setting that a hook carries out (``--eval-every``, ...) needs that hook among ``hooks``."""
    served = {name for hook in hooks for name in hook.serves}
    for name in ("eval_every", "keep_every"):
        if getattr(cfg.train, name) and name not in served:
            raise SSLRError(f"--{name.replace('_', '-')}: this run was given no hook that does it "
                            f"(pass experiments.curves.TrainingEvaluator() in train(hooks=...))")


def _use_threads(threads: int | None, saved: dict | None, announce: bool) -> None:
    """``threads`` when given; else, resuming, the thread count the checkpoint was written with: CPU kernels split
    their sums by thread, so the same count is what makes a resumed run bit-identical (where the machine has the
    cores for it)."""
    import os
    import sys

    written = saved.get("threads") if saved is not None else None
    if threads is not None:
        if threads != torch.get_num_threads():
            torch.set_num_threads(threads)
        if announce and isinstance(written, int) and written != threads:
            sys.stderr.write(f"sslr train: resuming with {threads} threads (--threads); the checkpoint was written "
                             f"with {written}, so the continuation is not bit-identical\n")
        return
    if not isinstance(written, int) or written == torch.get_num_threads():
        return
    if written <= (os.cpu_count() or 1):
        torch.set_num_threads(written)
        if announce:
            sys.stderr.write(f"sslr train: resuming with {written} threads, as the checkpoint was written\n")
    elif announce:
        sys.stderr.write(f"sslr train: the checkpoint was written with {written} threads, this machine has fewer cores; "
                         f"the continuation is not bit-identical\n")


def load_matching_weights(model: nn.Module, state: dict[str, torch.Tensor], source: str = "the checkpoint") -> list[str]:
    """Copy the tensors of ``state`` whose names and shapes fit ``model``; return the names copied.

    Refuses (SSLRError) when they hold less than half of the model's parameter values: a checkpoint of
    other widths would otherwise fit only a few biases and counters, and training would start, in
    effect, from scratch while claiming an initialisation.
    """
    own = model.state_dict()
    taken = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    params = dict(model.named_parameters())
    covered = sum(params[k].numel() for k in taken if k in params)
    total = sum(p.numel() for p in params.values())
    if not taken or covered < 0.5 * total:
        raise SSLRError(f"--init {source}: its weights fit {covered} of this model's {total} parameter values "
                        f"(names and shapes must match: train the initial model with the same widths)")
    own.update(taken)
    model.load_state_dict(own)
    return sorted(taken)
