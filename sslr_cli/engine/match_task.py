"""The set-matching task (Sec. 4.3, App. C) for the training loop, its settings and its presets.

Loss per batch of B pairs (X_1, X_2, Y), Y = sum of squared centre displacements / 64^2:

    L = mean_b (Y_hat_b - Y_b)^2 + match_weight * mean_b C_b [+ recon_weight * L_rec]

C_b = the Hungarian matching cost (summed squared attribute distances of the matched pairs).
The reference sums the distance error over the batch and adds 10 * the batch mean of C:
``sum_b (Y_hat_b - Y_b)^2 + 10 * mean_b C_b = B * (mean_b (Y_hat_b - Y_b)^2 + (10 / B) * mean_b C_b)``.
RMSprop divides out the overall scale B, so the default ``match_weight = 10 / 32`` gives exactly
the reference's balance at its batch size of 32 (and keeps that balance at other batch sizes).
L_rec (optional, "SSLR-SRN (r + init)") is the reconstruction loss of both images
(``TrainConfig.loss``, per image, averaged over the 2B images).

Validation (and so the choice of ``best.pt``) uses the distance error alone, mean_b (Y_hat_b - Y_b)^2:
the quantity Table 3 reports, comparable between models with and without the extra terms.

Settings live in ``RunConfig.extra`` (``config.MatchSettings``); the presets (``match-*``) in
``config.PRESETS``. The model kind is ``ModelConfig.generator``: "cnn" (the naive CNN baseline,
``models.registry.TASK_BASELINES``) or a set generator of ``models.registry.GENERATORS``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from sslr_cli.config import REFERENCE_BATCH, MatchSettings, RunConfig, parse_key_values
from sslr_cli.data.loader import to_float_images
from sslr_cli.engine.reconstruct_task import reconstruction_loss
from sslr_cli.errors import SSLRError

__all__ = ["MatchSettings", "MatchingTask", "configure_matching", "parse_extra", "REFERENCE_BATCH"]

PAPER_RECON_WEIGHT_DECAY = 1e-4  # App. C.2: added for SSLR-SRN with the reconstruction loss


def parse_extra(items: list[str] | None) -> dict[str, str]:
    """``["loc_dim=3", "match_weight=1"]`` -> dict (values converted later, by ``MatchSettings``)."""
    return parse_key_values(items, "--extra")


def configure_matching(cfg: RunConfig, *, lr_given: bool, weight_decay_given: bool, recon_weight: float | None = None,
                       extra: list[str] | None = None, init: str | Path | None = None) -> RunConfig:
    """Apply the CLI's matching options and the paper's per-model defaults (App. C.2) to ``cfg``:
    the CNN trains with ``cnn_lr`` (1e-5) unless --lr is given, and a run with the reconstruction
    loss gets weight decay 1e-4 unless --weight-decay is given."""
    changes: dict[str, Any] = dict(parse_extra(extra))
    if recon_weight is not None:
        changes["recon_weight"] = recon_weight
    if init is not None:
        changes["init"] = str(init)
    settings = MatchSettings.from_extra({**cfg.extra, **changes})
    train = cfg.train
    if cfg.model.generator == "cnn":
        if settings.recon_weight > 0:
            raise SSLRError("--recon-weight: the naive CNN (--generator cnn) has no set to reconstruct from")
        if not lr_given:
            train = replace(train, lr=settings.cnn_lr)
    if settings.recon_weight > 0 and not weight_decay_given:
        train = replace(train, weight_decay=PAPER_RECON_WEIGHT_DECAY)
    return replace(cfg, train=train, extra=settings.to_extra()).validate()


@dataclass
class MatchingTask:
    name: str = "match"
    kinds: tuple[str, ...] = ("isocircles",)

    def arrays(self, cfg: RunConfig) -> tuple[str, ...]:
        return ("images", "images_b", "target")

    def build_model(self, cfg: RunConfig) -> nn.Module:
        from sslr_cli.models.matching import build_matcher

        s = MatchSettings.from_extra(cfg.extra)
        if cfg.model.generator == "cnn" and s.recon_weight > 0:
            raise SSLRError("recon_weight: the naive CNN (--generator cnn) has no set to reconstruct from")
        return build_matcher(cfg.model, s.loc_dim, s.att_dim, reconstruct=s.recon_weight > 0)

    def loss(self, model: nn.Module, batch: dict[str, torch.Tensor], cfg: RunConfig, inner_steps: int) -> torch.Tensor:
        s = MatchSettings.from_extra(cfg.extra)
        x1, x2 = to_float_images(batch["images"]), to_float_images(batch["images_b"])
        out = model(x1, x2, inner_steps)
        dist = (out.prediction.float() - batch["target"].float()).pow(2).mean()
        if not model.training:  # validation: the distance error alone picks best.pt
            return dist
        loss = dist + s.match_weight * out.match_cost.float().mean()
        if s.recon_weight > 0 and out.reconstruction is not None:
            loss = loss + s.recon_weight * reconstruction_loss(out.reconstruction.image, torch.cat([x1, x2]), cfg.train.loss)
        return loss
