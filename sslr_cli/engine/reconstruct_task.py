"""The reconstruction task (Sec. 4.1-4.2) for the training loop: S = G(X), Y_hat = F(S), loss against
the image (or the foreground image for CLEVR)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from sslr_cli.config import RunConfig
from sslr_cli.data.loader import to_float_images
from sslr_cli.data.registry import kinds_for
from sslr_cli.models.autoencoder import SetAutoencoder


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

    @property
    def kinds(self) -> tuple[str, ...]:
        """The dataset kinds it trains on: those of ``data/registry.py`` that serve this task."""
        return kinds_for(self.name)

    def arrays(self, cfg: RunConfig) -> tuple[str, ...]:
        target = cfg.train.target
        return ("images",) if target == "images" else ("images", target)

    def build_model(self, cfg: RunConfig) -> nn.Module:
        return SetAutoencoder(cfg.model)

    def loss(self, model: nn.Module, batch: dict[str, torch.Tensor], cfg: RunConfig, r: int) -> torch.Tensor:
        images = to_float_images(batch["images"])
        target = images if cfg.train.target == "images" else to_float_images(batch[cfg.train.target])
        _, rec = model(images, r)
        return reconstruction_loss(rec.image, target, cfg.train.loss)
