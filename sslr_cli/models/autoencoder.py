"""SSLR for reconstruction: S = G(X), Y_hat = F(S) (Eq. 1-2), with G any generator of
``models.registry.GENERATORS`` (SSLR-MLP, SSLR-SRN, ...)."""

from __future__ import annotations

import torch
from torch import nn

from sslr_cli.models.decoder import ElementDecoder, Reconstruction, compose
from sslr_cli.models.generator import SetEncoding, SetGenerator
from sslr_cli.models.registry import build_generator

__all__ = ["SetAutoencoder", "SetEncoding"]


class SetAutoencoder(nn.Module):
    """Image -> set -> image. ``forward`` returns the encoding and the reconstruction.

    ``encoder`` is the generator G (the attribute keeps the name of every checkpoint written so far).
    """

    def __init__(self, cfg) -> None:
        super().__init__()
        cfg.validate()
        self.cfg = cfg
        self.encoder: SetGenerator = build_generator(cfg)
        self.decoder = ElementDecoder(cfg.element_dim, cfg.decoder_width, cfg.image_size)

    @property
    def generator(self) -> SetGenerator:
        """G, the set generator (stored as ``encoder``)."""
        return self.encoder

    def decode(self, s: torch.Tensor) -> Reconstruction:
        """S (B, n, D) -> Reconstruction; permuting the elements of S permutes element_images only."""
        b, n, d = s.shape
        logits = self.decoder(s.reshape(b * n, d))
        return compose(logits.view(b, n, *logits.shape[1:]))

    def forward(self, images: torch.Tensor, r: int | None = None) -> tuple[SetEncoding, Reconstruction]:
        enc = self.encoder(images, r)
        return enc, self.decode(enc.set)
