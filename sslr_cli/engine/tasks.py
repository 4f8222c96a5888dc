"""What the training loop trains: a task builds its model, names the arrays it needs and computes
the loss on a batch. The loop itself (``engine.train``) knows nothing task-specific."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Protocol

import torch
import torch.nn.functional as F
from torch import nn

from sslr_cli.config import RunConfig
from sslr_cli.data.loader import to_float_images
from sslr_cli.errors import SSLRError


class Task(Protocol):
    name: str
    kinds: tuple[str, ...]  # dataset kinds it trains on

    def arrays(self, cfg: RunConfig) -> tuple[str, ...]: ...

    def build_model(self, cfg: RunConfig) -> nn.Module: ...

    def loss(self, model: nn.Module, batch: dict[str, torch.Tensor], cfg: RunConfig, inner_steps: int) -> torch.Tensor: ...


def reconstruction_loss(image: torch.Tensor, target: torch.Tensor, kind: str) -> torch.Tensor:
    """Per-image loss averaged over the batch: "sse" = summed squared error of an image (the paper's
    "linear least squares"; the reference also sums over the batch, which Adam's scale invariance makes
    equivalent), "bce" = mean binary cross-entropy (the reference's CLEVR loss)."""
    image = image.float()
    if kind == "sse":
        return (image - target).pow(2).flatten(1).sum(1).mean()
    # CUDA's autocast refuses binary_cross_entropy outright ("unsafe to autocast"), even on fp32 inputs
    with torch.autocast(image.device.type, enabled=False):
        return F.binary_cross_entropy(image.clamp(1e-6, 1 - 1e-6), target.float())


@dataclass
class ReconstructionTask:
    name: str = "reconstruct"
    kinds: tuple[str, ...] = ("circles", "clevr")

    def arrays(self, cfg: RunConfig) -> tuple[str, ...]:
        target = cfg.train.target
        return ("images",) if target == "images" else ("images", target)

    def build_model(self, cfg: RunConfig) -> nn.Module:
        from sslr_cli.models import SetAutoencoder

        return SetAutoencoder(cfg.model)

    def loss(self, model: nn.Module, batch: dict[str, torch.Tensor], cfg: RunConfig, inner_steps: int) -> torch.Tensor:
        images = to_float_images(batch["images"])
        target = images if cfg.train.target == "images" else to_float_images(batch[cfg.train.target])
        _, rec = model(images, inner_steps)
        return reconstruction_loss(rec.image, target, cfg.train.loss)


TASKS: dict[str, Callable[[], Task]] = {"reconstruct": ReconstructionTask}


def get_task(name: str) -> Task:
    if name not in TASKS:
        if name == "match":  # registered by its own module on import
            import sslr_cli.engine.match_task  # noqa: F401
        if name not in TASKS:
            raise SSLRError(f"--task {name!r}: unknown; choose one of {', '.join(sorted(TASKS))}")
    return TASKS[name]()
