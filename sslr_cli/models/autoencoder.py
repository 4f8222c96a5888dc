"""SSLR for reconstruction: S = G(X), Y_hat = F(S) (Eq. 1-2), with G = SSLR-MLP or SSLR-SRN."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from sslr_cli.config import ModelConfig
from sslr_cli.models.decoder import ElementDecoder, Reconstruction, compose
from sslr_cli.models.encoder import ConvTrunk, SetProjection
from sslr_cli.models.generators import SetRefiner
from sslr_cli.models.set_encoder import build_set_encoder


@dataclass
class SetEncoding:
    set: torch.Tensor  # S (B, |S|, D)
    initial_set: torch.Tensor  # S0 = H_set(X)
    embedding: torch.Tensor | None  # z = H_embed(X); None for SSLR-MLP
    inner_losses: list[float]


class SetEncoder(nn.Module):
    """G: image -> latent set. SSLR-SRN differs from SSLR-MLP only by the refinement (Sec. 4).

    SSLR-MLP has no H_embed and no H_agg: they would receive no gradient.
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.trunk = ConvTrunk(cfg.encoder_width)
        self.set_head = SetProjection(cfg.feature_count, cfg.set_size, cfg.element_dim)  # H_set
        self.refiner: SetRefiner | None = None
        self.embed: nn.Linear | None = None
        if cfg.generator == "srn":
            self.embed = nn.Linear(cfg.feature_count, cfg.embed_dim)  # H_embed (shares the trunk)
            agg = build_set_encoder(cfg.agg, cfg.element_dim, cfg.embed_dim, cfg.agg_hidden, cfg.fspool_pieces)
            self.refiner = SetRefiner(agg, cfg.inner_steps, cfg.inner_lr, cfg.inner_momentum)

    def forward(self, images: torch.Tensor, inner_steps: int | None = None) -> SetEncoding:
        features = self.trunk(images)
        s0 = self.set_head(features)
        if self.refiner is None:
            return SetEncoding(s0, s0, None, [])
        z = self.embed(features)
        # The reference code detaches S0 (a fresh parameter inside `higher`): H_set then stays at
        # its random initialisation and only the trunk learns, through H_embed.
        start = s0.detach() if self.cfg.init_mode == "detached" else s0
        refined = self.refiner(start, z, inner_steps)
        return SetEncoding(refined.set, s0, z, refined.inner_losses)


class SetAutoencoder(nn.Module):
    """Image -> set -> image. ``forward`` returns the encoding and the reconstruction."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        cfg.validate()
        self.cfg = cfg
        self.encoder = SetEncoder(cfg)
        self.decoder = ElementDecoder(cfg.element_dim, cfg.decoder_width, cfg.image_size)

    def decode(self, s: torch.Tensor) -> Reconstruction:
        """S (B, n, D) -> Reconstruction; permuting the elements of S permutes element_images only."""
        b, n, d = s.shape
        logits = self.decoder(s.reshape(b * n, d))
        return compose(logits.view(b, n, *logits.shape[1:]))

    def forward(self, images: torch.Tensor, inner_steps: int | None = None) -> tuple[SetEncoding, Reconstruction]:
        enc = self.encoder(images, inner_steps)
        return enc, self.decode(enc.set)
