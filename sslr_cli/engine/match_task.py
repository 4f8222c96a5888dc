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

Settings live in ``RunConfig.extra`` (see ``MatchSettings``); the model kind is
``ModelConfig.generator``: "cnn" (naive CNN baseline), "mlp" or "srn".
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from sslr_cli.config import ModelConfig, RunConfig, TrainConfig, register_preset
from sslr_cli.data.loader import to_float_images
from sslr_cli.engine.tasks import TASKS, reconstruction_loss
from sslr_cli.errors import SSLRError

REFERENCE_BATCH = 32
PAPER_CNN_LR = 1e-5  # App. C.2: the naive CNN's learning rate (SSLR models: 5e-4)
PAPER_RECON_WEIGHT_DECAY = 1e-4  # App. C.2: added for SSLR-SRN with the reconstruction loss


@dataclass(frozen=True)
class MatchSettings:
    """Task settings stored in ``RunConfig.extra``."""

    loc_dim: int = 5  # location embedding per element (App. C.1: five dimensions; the reference code: 3)
    att_dim: int = 5  # attribute embedding per element
    match_weight: float = 10.0 / REFERENCE_BATCH  # weight of the mean Hungarian matching cost
    recon_weight: float = 0.0  # weight of the reconstruction loss; > 0 adds the decoder ("r")
    cnn_lr: float = PAPER_CNN_LR  # learning rate used for --generator cnn unless --lr is given
    init: str = ""  # the checkpoint --init took weights from (a record; "" = none)

    @classmethod
    def from_extra(cls, extra: dict[str, Any]) -> "MatchSettings":
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(extra) - set(known))
        if unknown:
            names = ", ".join(k for k in known if k != "init")  # init is a record, set by --init
            raise SSLRError(f"--extra {unknown[0]}: unknown setting for --task match; choose from {names}")
        values = {k: _convert(k, v, known[k].type) for k, v in extra.items()}
        return cls(**values).validate()

    def validate(self) -> "MatchSettings":
        if self.loc_dim < 1 or self.att_dim < 1:
            raise SSLRError(f"--extra loc_dim/att_dim ({self.loc_dim}, {self.att_dim}): must be >= 1")
        for name in ("match_weight", "recon_weight"):
            if getattr(self, name) < 0:
                raise SSLRError(f"--{name.replace('_', '-')} {getattr(self, name)}: must be >= 0")
        if not self.cnn_lr > 0:
            raise SSLRError(f"--extra cnn_lr {self.cnn_lr}: must be > 0")
        return self

    def to_extra(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


_TYPES = {"int": int, "float": float, "str": str}  # field annotations are strings (PEP 563)


def _convert(name: str, value: Any, type_name: str) -> Any:
    kind = _TYPES[type_name]
    try:
        if kind is int:
            number = float(value)
            if not number.is_integer():
                raise ValueError
            return int(number)
        return kind(value)
    except (TypeError, ValueError):
        raise SSLRError(f"--extra {name}={value!r}: expected {type_name}") from None


def parse_extra(items: list[str] | None) -> dict[str, str]:
    """``["loc_dim=3", "match_weight=1"]`` -> dict (values converted later, by ``MatchSettings``)."""
    parsed: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise SSLRError(f"--extra {item!r}: expected KEY=VALUE")
        parsed[key.strip()] = value.strip()
    return parsed


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


TASKS["match"] = MatchingTask

_EXTRA = MatchSettings().to_extra()
_TRAIN = dict(task="match", batch_size=REFERENCE_BATCH, lr=5e-4, optimizer="rmsprop", late_epoch=-1)
# match-paper: App. A's architecture, App. C.2's training (RMSprop 5e-4, batch 32, r = 5, step 0.1,
# momentum 0.5, about 60 epochs). The CPU presets take the widths of ``tiny`` / ``small``.
register_preset("match-paper", RunConfig("match-paper", ModelConfig(inner_steps=5), TrainConfig(epochs=60, **_TRAIN), dict(_EXTRA)))
register_preset("match-small", RunConfig(
    "match-small", ModelConfig(encoder_width=32, decoder_width=64, agg_hidden=256, inner_steps=5),
    TrainConfig(epochs=30, **_TRAIN), dict(_EXTRA)))
register_preset("match-tiny", RunConfig(
    "match-tiny", ModelConfig(encoder_width=16, decoder_width=32, agg_hidden=128, embed_dim=64, inner_steps=5),
    TrainConfig(epochs=30, **_TRAIN), dict(_EXTRA)))
