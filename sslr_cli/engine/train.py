"""The training loop: run directory, checkpoints, exact resume, time budget, progress.

A run directory holds ``config.json``, ``metrics.jsonl`` (one JSON line per logged step and per
epoch), ``last.pt`` and ``best.pt`` (lowest validation loss). On CPU the same seed gives the same
run, and ``resume=True`` continues so that the losses equal those of an uninterrupted run.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from sslr_cli.config import RunConfig
from sslr_cli.data.loader import BatchLoader, scene_tensors
from sslr_cli.data.store import SceneArrays, open_scenes
from sslr_cli.engine.checkpoint import checkpoint_config, read_checkpoint, save_checkpoint
from sslr_cli.engine.device import autocast, resolve_device, seed_everything
from sslr_cli.engine.tasks import Task, get_task
from sslr_cli.errors import SSLRError


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
    stopped: str  # "finished", "time budget", "interrupted"
    history: list[dict[str, Any]] = field(default_factory=list)


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
    scenes = scene_file.load(list(names))
    if val is not None:
        val_file = open_scenes(val, task.kinds)
        if val_file.image_size != scene_file.image_size:
            raise SSLRError(f"--val {val}: images are {val_file.image_size}px, training images {scene_file.image_size}px")
        return scene_tensors(scenes, names), scene_tensors(val_file.load(list(names)), names), scene_file.image_size
    train_t, val_t = _split(scenes, names, cfg.train.val_fraction, cfg.train.seed)
    return train_t, val_t, scene_file.image_size


def make_optimizer(model: nn.Module, cfg: RunConfig) -> torch.optim.Optimizer:
    t = cfg.train
    if t.optimizer == "rmsprop":
        return torch.optim.RMSprop(model.parameters(), lr=t.lr, weight_decay=t.weight_decay)
    return torch.optim.Adam(model.parameters(), lr=t.lr, weight_decay=t.weight_decay)


def base_inner_steps(cfg: RunConfig) -> int:
    return cfg.model.inner_steps


def evaluate_loss(task: Task, model: nn.Module, tensors: dict[str, torch.Tensor], cfg: RunConfig,
                  device: torch.device, inner_steps: int, batch_size: int = 64,
                  dist: Distributed | None = None) -> float:
    """Mean loss over ``tensors`` in evaluation mode (the refinement runs without a graph).

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
            total += float(task.loss(model, batch, cfg, inner_steps)) * n
            count += n
    model.train(was_training)
    if dist is not None:
        total, count = dist.sum([total, float(count)])
    return total / max(count, 1)


def prepare_run_dir(out_dir: Path, resume: bool, force: bool) -> None:
    if resume:
        if not (out_dir / "last.pt").exists():
            raise SSLRError(f"--resume: {out_dir} has no last.pt to resume from")
        return
    if out_dir.exists() and not out_dir.is_dir():
        raise SSLRError(f"--out {out_dir}: exists and is not a directory")
    if out_dir.exists() and any(out_dir.iterdir()):
        if not force:
            raise SSLRError(f"--out {out_dir}: run directory is not empty (use --resume to continue or --force to start over)")
        for name in ("config.json", "metrics.jsonl", "last.pt", "best.pt"):
            (out_dir / name).unlink(missing_ok=True)
    out_dir.mkdir(parents=True, exist_ok=True)


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
) -> TrainResult:
    """Train ``cfg`` on ``data`` into ``out_dir``. ``on_progress`` gets a dict after every step.

    ``init``: a checkpoint whose weights initialise the model (matching weights that fit).
    ``resume_overrides``: training fields a resumed run may change (``epochs``, ``max_minutes``,
    ``max_steps``); the time budget counts the time of this call only, the step budget the whole run.
    ``dist``/``wrap_model(model, cfg)``: set by the distributed launcher (rank 0 alone writes files).
    """
    dist = dist or Distributed()
    out_dir = Path(out_dir)
    if resume:
        def read_last() -> dict[str, Any]:
            if not (out_dir / "last.pt").exists():
                raise SSLRError(f"--resume: {out_dir} has no last.pt to resume from")
            return read_checkpoint(out_dir / "last.pt")

        state = dist.on_main(read_last)  # rank 0 reads, every rank gets the same state
        cfg = checkpoint_config(state)
        allowed = {k: v for k, v in (resume_overrides or {}).items()
                   if k in ("epochs", "max_minutes", "max_steps", "compile") and v is not None}
        cfg = cfg.with_overrides(train=allowed)
    else:
        state = None
    cfg.validate()
    task = get_task(cfg.train.task)
    dev = resolve_device(device)
    train_t, val_t, image_size = load_training_data(task, cfg, data, val)
    if image_size != cfg.model.image_size:
        raise SSLRError(f"{data}: images are {image_size}x{image_size}, preset {cfg.preset!r} expects {cfg.model.image_size} (choose another --preset)")
    dist.on_main(lambda: prepare_run_dir(out_dir, resume, force))

    seed_everything(cfg.train.seed)
    model = task.build_model(cfg).to(dev)
    if init is not None and state is None:
        load_matching_weights(model, dist.on_main(lambda: read_checkpoint(init)["model"]))
    optimizer = make_optimizer(model, cfg)
    # fp16 needs loss scaling against gradient underflow; bf16 has fp32's range and needs none
    scaler = torch.amp.GradScaler("cuda") if cfg.train.precision == "fp16" else None
    epoch, start_batch, step, best_val, elapsed = 0, 0, 0, math.inf, 0.0
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        epoch, start_batch, step = state["epoch"], state["batch"], state["step"]
        best_val, elapsed = state["best_val"], state["elapsed"]
        torch.set_rng_state(state["rng"])
        if scaler is not None and state.get("scaler"):
            scaler.load_state_dict(state["scaler"])
    if dist.is_main:
        (out_dir / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2) + "\n")
    if cfg.train.compile:
        from sslr_cli.engine.compile import compile_model

        compile_model(model)
    net = wrap_model(model, cfg) if wrap_model else model
    pin = dev.type == "cuda"  # page-locked batches make the host-to-GPU copies asynchronous
    loader = BatchLoader(train_t, cfg.train.batch_size, shuffle=True, seed=cfg.train.seed,
                         rank=dist.rank, world_size=dist.world_size)
    if len(loader) == 0:
        raise SSLRError(f"{data}: fewer training images than one batch of {cfg.train.batch_size}")
    history: list[dict[str, Any]] = []
    metrics_file = (out_dir / "metrics.jsonl").open("a") if dist.is_main else None
    budget = cfg.train.max_minutes * 60.0
    stopped, last_val, train_loss = "finished", math.nan, math.nan
    images_seen, t_run, elapsed_at_start = 0, time.perf_counter(), elapsed
    batch_index = start_batch

    def log(record: dict[str, Any]) -> None:
        history.append(record)
        if metrics_file is not None:
            metrics_file.write(json.dumps(record) + "\n")
            metrics_file.flush()

    def checkpoint(name: str, batch_index: int, ep: int) -> None:
        if not dist.is_main:
            return
        save_checkpoint(out_dir / name, {
            "config": cfg.to_dict(), "model": model.state_dict(), "optimizer": optimizer.state_dict(),
            "epoch": ep, "batch": batch_index, "step": step, "best_val": best_val,
            "elapsed": elapsed, "rng": torch.get_rng_state(), "metrics": history[-1] if history else {},
            "scaler": scaler.state_dict() if scaler is not None else {},
        })

    def validate(ep: int, r: int) -> float:
        nonlocal best_val
        if val_t is None:
            return math.nan
        value = evaluate_loss(task, model, val_t, cfg, dev, r, max(1, cfg.train.batch_size // dist.world_size), dist)
        if value < best_val:
            best_val = value
            checkpoint("best.pt", 0, ep)
        return value

    max_steps = cfg.train.max_steps
    schedule_total = cfg.train.schedule_steps or max_steps or cfg.train.epochs * len(loader)
    if max_steps and step >= max_steps:
        stopped = "step budget"
    model.train()
    try:
        while epoch < cfg.train.epochs and not (max_steps and step >= max_steps):
            r = cfg.train.inner_steps_at(epoch, base_inner_steps(cfg))
            ep_loss, ep_n, t_epoch = 0.0, 0, time.perf_counter()
            batch_index = start_batch
            for batch in loader.batches(epoch, start_batch):
                t0 = time.perf_counter()
                # index_select's output is pageable even from a pinned source, so the batch itself is pinned
                batch = {k: (v.pin_memory() if pin else v).to(dev, non_blocking=True) for k, v in batch.items()}
                lr_now = cfg.train.lr_at(step, schedule_total)
                for group in optimizer.param_groups:  # the schedule is a function of the step: resume needs no state
                    group["lr"] = lr_now
                with autocast(dev, cfg.train.precision):
                    loss = task.loss(net, batch, cfg, r)
                value = dist.mean(loss.detach())  # the global batch's loss, the same on every rank
                if not math.isfinite(value):
                    raise TrainingDiverged(
                        f"training stopped: non-finite loss ({value}) at epoch {epoch} step {step}; "
                        f"the last good checkpoint is {out_dir / 'last.pt'} (try a lower --lr)")
                optimizer_step(loss, optimizer, scaler)
                step += 1
                batch_index += 1
                dt = time.perf_counter() - t0
                elapsed += dt
                ep_loss += value
                ep_n += 1
                images_seen += cfg.train.batch_size
                if on_progress:
                    on_progress({"epoch": epoch, "batch": batch_index, "batches": len(loader), "step": step,
                                 "loss": value, "images_per_s": cfg.train.batch_size / max(dt, 1e-9),
                                 "elapsed": elapsed, "r": r})
                if step % cfg.train.log_every == 0:
                    log({"kind": "step", "epoch": epoch, "step": step, "loss": value, "r": r, "lr": lr_now,
                         "elapsed_s": round(elapsed, 3)})
                if budget and dist.any(elapsed - elapsed_at_start >= budget):
                    stopped = "time budget"
                    break
                if max_steps and step >= max_steps:
                    stopped = "step budget"
                    break
            train_loss = ep_loss / max(ep_n, 1)
            start_batch = 0 if stopped == "finished" else batch_index
            last_val = validate(epoch, r)
            log({"kind": "epoch", "epoch": epoch, "step": step, "train_loss": train_loss, "val_loss": last_val,
                 "r": r, "elapsed_s": round(elapsed, 3), "epoch_s": round(time.perf_counter() - t_epoch, 3),
                 "complete": stopped == "finished"})
            if stopped != "finished":
                checkpoint("last.pt", batch_index, epoch)
                break
            epoch += 1
            checkpoint("last.pt", 0, epoch)
    except KeyboardInterrupt:
        stopped = "interrupted"
        checkpoint("last.pt", batch_index, epoch)
    finally:
        if metrics_file is not None:
            metrics_file.close()
    if val_t is None and dist.is_main:  # no validation: the last weights are the best we know
        save_checkpoint(out_dir / "best.pt", torch.load(out_dir / "last.pt", weights_only=True))
    wall = time.perf_counter() - t_run
    return TrainResult(out_dir, epoch, step, best_val, last_val, train_loss, elapsed / 60.0,
                       images_seen / max(wall, 1e-9), stopped, history)


def optimizer_step(loss: torch.Tensor, optimizer: torch.optim.Optimizer, scaler=None) -> None:
    """Backward and update; with fp16's GradScaler the loss is scaled and the step skipped on overflow."""
    optimizer.zero_grad(set_to_none=True)
    if scaler is None:
        loss.backward()
        optimizer.step()
    else:
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()


def load_matching_weights(model: nn.Module, state: dict[str, torch.Tensor]) -> list[str]:
    """Copy the tensors of ``state`` whose names and shapes fit ``model``; return the names copied."""
    own = model.state_dict()
    taken = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    if not taken:
        raise SSLRError("--init: the checkpoint shares no weights with this model")
    own.update(taken)
    model.load_state_dict(own)
    return sorted(taken)


def load_model(path: str | Path, device: str | torch.device = "cpu") -> tuple[nn.Module, RunConfig, dict[str, Any]]:
    """A ready model (in eval mode) from a checkpoint or run directory: (model, config, checkpoint)."""
    dev = device if isinstance(device, torch.device) else resolve_device(device)
    state = read_checkpoint(path, map_location=dev)
    cfg = checkpoint_config(state)
    task = get_task(cfg.train.task)
    model = task.build_model(cfg)
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as exc:
        raise SSLRError(f"{path}: weights do not fit the model its config describes ({str(exc).splitlines()[0][:120]})") from None
    return model.to(dev).eval(), cfg, state

