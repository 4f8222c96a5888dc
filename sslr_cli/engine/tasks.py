"""What the training loop trains: a task builds its model, names the arrays it needs and computes
the loss on a batch. The loop itself (``engine.train``) knows nothing task-specific.

Every task is listed in ``TASKS`` (a new task: one module and one entry here).
"""

from __future__ import annotations

from typing import Callable, Protocol

import torch
from torch import nn

from sslr_cli.config import RunConfig
from sslr_cli.engine.match_task import MatchingTask
from sslr_cli.engine.reconstruct_task import ReconstructionTask, reconstruction_loss
from sslr_cli.errors import SSLRError

__all__ = ["Task", "TASKS", "get_task", "reconstruction_loss"]


class Task(Protocol):
    name: str
    kinds: tuple[str, ...]  # dataset kinds it trains on (``data/registry.kinds_for(name)``)

    def arrays(self, cfg: RunConfig) -> tuple[str, ...]: ...

    def build_model(self, cfg: RunConfig) -> nn.Module: ...

    def loss(self, model: nn.Module, batch: dict[str, torch.Tensor], cfg: RunConfig, r: int) -> torch.Tensor: ...


TASKS: dict[str, Callable[[], Task]] = {"reconstruct": ReconstructionTask, "match": MatchingTask}


def get_task(name: str) -> Task:
    if name not in TASKS:
        raise SSLRError(f"--task {name!r}: unknown; choose one of {', '.join(sorted(TASKS))}")
    return TASKS[name]()
