"""Everything a run carries from one step to the next, with one ``state_dict`` / ``load_state_dict``:
model, optimizer, fp16 loss scaler, torch's RNG and the counters (epoch, batch within it, optimizer
steps, best validation loss, training seconds, the running loss of the epoch in progress). A
checkpoint is ``state_dict()`` plus the config, the last metrics record and the number of
metrics.jsonl lines; loading it and continuing gives the losses of an uninterrupted run (CPU).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from sslr_cli.config import RunConfig


def make_optimizer(model: nn.Module, cfg: RunConfig) -> torch.optim.Optimizer:
    t = cfg.train
    if t.optimizer == "rmsprop":
        return torch.optim.RMSprop(model.parameters(), lr=t.lr, weight_decay=t.weight_decay)
    return torch.optim.Adam(model.parameters(), lr=t.lr, weight_decay=t.weight_decay)


@dataclass
class TrainState:
    model: nn.Module
    optimizer: torch.optim.Optimizer
    scaler: Any = None  # torch.amp.GradScaler for fp16, else None
    epoch: int = 0  # the epoch in progress (epochs completed, between epochs)
    batch: int = 0  # batches of that epoch already trained on
    step: int = 0  # optimizer steps of the whole run
    best_val: float = math.inf
    elapsed: float = 0.0  # seconds of training steps over the whole run
    epoch_loss: tuple[float, int] = (0.0, 0)  # (sum, steps) of the epoch in progress: its mean covers a resume

    @classmethod
    def create(cls, model: nn.Module, cfg: RunConfig) -> "TrainState":
        # fp16 needs loss scaling against gradient underflow; bf16 has fp32's range and needs none
        scaler = torch.amp.GradScaler("cuda") if cfg.train.precision == "fp16" else None
        return cls(model, make_optimizer(model, cfg), scaler)

    def set_lr(self, lr: float) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    def state_dict(self, **position: int) -> dict[str, Any]:
        """The checkpoint fields; ``position`` (epoch=, batch=) overrides the counters (best.pt)."""
        return {
            "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
            "epoch": position.get("epoch", self.epoch), "batch": position.get("batch", self.batch),
            "step": self.step, "best_val": self.best_val, "elapsed": self.elapsed, "rng": torch.get_rng_state(),
            "scaler": self.scaler.state_dict() if self.scaler is not None else {},
            "epoch_loss": self.epoch_loss if position.get("batch", self.batch) else (0.0, 0),
            "threads": torch.get_num_threads(),  # a CPU run continues bit-identically only with the same count
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        capturable = [g.get("capturable") for g in self.optimizer.param_groups]
        self.optimizer.load_state_dict(state["optimizer"])
        for group, own in zip(self.optimizer.param_groups, capturable):  # a --cuda-graphs run saves capturable
            if own is not None:  # groups and a device-side lr: the run that loads them chooses for itself
                group["capturable"] = own
            if torch.is_tensor(group["lr"]):
                group["lr"] = float(group["lr"])
        self.epoch, self.batch, self.step = state["epoch"], state["batch"], state["step"]
        self.best_val, self.elapsed = state["best_val"], state["elapsed"]
        torch.set_rng_state(state["rng"])
        if self.scaler is not None and state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        self.epoch_loss = tuple(state.get("epoch_loss", (0.0, 0)))


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
