"""The set-matching task (Sec. 4.3, App. C) for the training loop, its settings and its presets.

Training loss per batch of B pairs (X_1, X_2, Y), Y = sum of squared centre displacements / 64^2, written on
the scale of the reference code at its batch size B_ref = 32:

    L = B_ref * (mean_b (Y_hat_b - Y_b)^2 + match_weight * mean_b C_b) + recon_weight * L_rec

C_b = the matching cost of pair b: the summed squared attribute distances of the elements the Hungarian
matching pairs (the matching itself minimises the pair cost ``match_cost``: "sq" the squared distance,
"smooth_l1" the reference code's smooth-L1). L_rec (only for "SSLR-SRN (r + init)") = the pixel-mean squared
error of image A's reconstruction, mean over B x 3 x H x W of (F_reconstruct(S_1) - X_1)^2; the reference
decodes image A only and adds this mean to its loss with weight 1. ``recon_images = k`` > 0 decodes only the
first k images A of each batch (the same expected term, from fewer images: the decoder dominates a CPU step).

The reference's loss is ``sum_b (Y_hat_b - Y_b)^2 + 10 * mean_b C_b [+ L_rec]``. At B = 32 the defaults
(match_weight = 10 / 32, recon_weight = 1) give exactly that number; at other batch sizes the distance and
matching terms keep the reference's balance (both are batch means here) and the reconstruction term its
weight relative to them at B = 32. The overall scale matters for weight decay (1e-4 for r + init): on this
scale it acts on the loss as in the reference. RMSprop divides out the scale otherwise.

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
from sslr_cli.data.registry import kinds_for
from sslr_cli.errors import SSLRError

__all__ = ["MatchSettings", "MatchingTask", "configure_matching", "parse_extra", "recon_error", "REFERENCE_BATCH"]

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
    from sslr_cli.models.registry import check_run_config

    return check_run_config(replace(cfg, train=train, extra=settings.to_extra()))


@dataclass
class MatchingTask:
    name: str = "match"

    @property
    def kinds(self) -> tuple[str, ...]:
        """The dataset kinds it trains on: those of ``data/registry.py`` that serve this task."""
        return kinds_for(self.name)

    def arrays(self, cfg: RunConfig) -> tuple[str, ...]:
        return ("images", "images_b", "target")

    def build_model(self, cfg: RunConfig) -> nn.Module:
        from sslr_cli.models.matching import build_matcher

        s = MatchSettings.from_extra(cfg.extra)
        if cfg.model.generator == "cnn" and s.recon_weight > 0:
            raise SSLRError("recon_weight: the naive CNN (--generator cnn) has no set to reconstruct from")
        return build_matcher(cfg.model, s.loc_dim, s.att_dim, reconstruct=s.recon_weight > 0, cost=s.match_cost,
                             recon_images=s.recon_images)

    def loss(self, model: nn.Module, batch: dict[str, torch.Tensor], cfg: RunConfig, r: int) -> torch.Tensor:
        s = MatchSettings.from_extra(cfg.extra)
        x1, x2 = to_float_images(batch["images"]), to_float_images(batch["images_b"])
        out = model(x1, x2, r)
        dist = (out.prediction.float() - batch["target"].float()).pow(2).mean()
        if not model.training:  # validation: the distance error alone picks best.pt
            return dist
        loss = REFERENCE_BATCH * (dist + s.match_weight * out.match_cost.float().mean())
        if s.recon_weight > 0 and out.reconstruction is not None:
            rec = out.reconstruction.image
            loss = loss + s.recon_weight * recon_error(rec, x1[: rec.shape[0]])
        return loss


def recon_error(reconstruction: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
    """L_rec: the pixel-mean squared error, mean over every value of the (B, 3, H, W) batch (the reference's)."""
    return (reconstruction.float() - images.float()).pow(2).mean()
