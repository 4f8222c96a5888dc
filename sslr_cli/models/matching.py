"""Set matching (Sec. 4.3, App. C): predict the summed squared displacement of the objects of two images.

Models, built from the reconstruction blocks:

- ``NaiveCNNMatcher`` (the "Naive CNNs" row): e = H_embed(X) for both images,
  Y_hat = Linear((e_1 - e_2)^2), one scalar.
- ``SetMatcher`` (SSLR-MLP / SSLR-SRN): S_1 = G(X_1), S_2 = G(X_2) with the reconstruction set
  generator, then ``MatchHead`` (F_match): per element, linear maps to a location embedding l_i and
  an attribute embedding a_i; a Hungarian matching pi between the two sets on the attribute
  embeddings (pair cost: squared distance, or the reference code's smooth-L1 averaged over dimensions);
  Y_hat = sum_i ||l^1_i - l^2_pi(i)||^2. The matching cost sum_i ||a^1_i - a^2_pi(i)||^2 is returned
  too (it is part of the training loss, squared in either case, as in the reference). Optionally the
  shared element decoder (F_reconstruct) reconstructs image A (X_1) from S_1, for "SSLR-SRN (r + init)";
  the reference decodes image A only.

Submodule names match ``SetAutoencoder`` (``encoder``, ``decoder``; the CNN's ``encoder.trunk`` and
``encoder.embed``), so ``--init`` copies a reconstruction checkpoint's weights by name. No I/O here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from torch import nn

from sslr_cli.config import ModelConfig
from sslr_cli.models.decoder import ElementDecoder, Reconstruction, compose
from sslr_cli.models.encoder import ConvTrunk
from sslr_cli.models.registry import build_generator


def hungarian(cost: torch.Tensor) -> torch.Tensor:
    """Batched minimum-cost perfect matching.

    cost: (B, n, m) with n <= m, cost[b, i, j] = cost of pairing element i of the first set with
    element j of the second. Returns (B, n) long: the index j matched to each i. Solved per sample
    with ``scipy.optimize.linear_sum_assignment`` on a detached float64 copy: the assignment is a
    discrete choice, gradients flow only through the costs of the pairs it selects.
    """
    if cost.dim() != 3 or cost.shape[1] > cost.shape[2]:
        raise ValueError(f"cost must be (B, n, m) with n <= m, got {tuple(cost.shape)}")
    c = cost.detach().to("cpu", torch.float64).numpy()
    cols = np.empty(c.shape[:2], dtype=np.int64)
    for b in range(c.shape[0]):
        rows, col = linear_sum_assignment(c[b])
        cols[b, rows] = col
    return torch.from_numpy(cols).to(cost.device)


def pairwise_sq_dist(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """(B, n, d), (B, m, d) -> (B, n, m) squared Euclidean distances (exact differences, not the
    ||x||^2 + ||y||^2 - 2xy expansion, whose rounding could reorder near-ties)."""
    return (x.unsqueeze(2) - y.unsqueeze(1)).pow(2).sum(-1)


def pairwise_smooth_l1(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """(B, n, d), (B, m, d) -> (B, n, m) smooth-L1 (beta 1) distances averaged over the d dimensions: the
    reference code's Hungarian cost."""
    diff = (x.unsqueeze(2) - y.unsqueeze(1)).abs()
    return torch.where(diff < 1, 0.5 * diff.pow(2), diff - 0.5).mean(-1)


PAIR_COSTS = {"sq": pairwise_sq_dist, "smooth_l1": pairwise_smooth_l1}


@dataclass
class MatchOutput:
    prediction: torch.Tensor  # Y_hat (B,): predicted sum of squared displacements (target scale)
    match_cost: torch.Tensor  # (B,): sum of squared attribute distances over the matched pairs; 0 for the CNN
    assignment: torch.Tensor | None  # (B, |S|): element of S_2 matched to each element of S_1
    sets: tuple[torch.Tensor, torch.Tensor] | None  # (S_1, S_2), each (B, |S|, D)
    reconstruction: Reconstruction | None  # of the images X_1 (the first recon_images of them) when the decoder is on


class MatchHead(nn.Module):
    """F_match: shared linear maps D -> loc_dim (location) and D -> att_dim (attribute) per element,
    Hungarian matching on the attributes (``cost``: "sq" = squared distance, "smooth_l1" = the reference's
    smooth-L1), prediction = summed squared distance of the matched locations. Invariant to permuting either
    set (up to ties in the matching)."""

    def __init__(self, element_dim: int, loc_dim: int = 5, att_dim: int = 5, cost: str = "sq") -> None:
        super().__init__()
        if cost not in PAIR_COSTS:
            raise ValueError(f"cost {cost!r}: choose one of {', '.join(PAIR_COSTS)}")
        self.pair_cost = PAIR_COSTS[cost]
        self.loc = nn.Linear(element_dim, loc_dim)
        self.att = nn.Linear(element_dim, att_dim)

    def forward(self, s1: torch.Tensor, s2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """S_1 (B, n, D), S_2 (B, n, D) -> (prediction (B,), match cost (B,), assignment (B, n))."""
        a1, a2 = self.att(s1), self.att(s2)
        pi = hungarian(self.pair_cost(a1, a2))
        index = pi.unsqueeze(-1)
        a2m = a2.gather(1, index.expand(-1, -1, a2.shape[-1]))
        l1, l2 = self.loc(s1), self.loc(s2)
        l2m = l2.gather(1, index.expand(-1, -1, l2.shape[-1]))
        prediction = (l1 - l2m).pow(2).sum(dim=(1, 2))
        cost = (a1 - a2m).pow(2).sum(dim=(1, 2))
        return prediction, cost, pi


class SetMatcher(nn.Module):
    """SSLR-MLP / SSLR-SRN (any generator of the registry) for matching: one set generator G shared by both images,
    run on the concatenated batch [X_1; X_2] as the reference does (batch norm sees both), then F_match."""

    def __init__(self, cfg: ModelConfig, loc_dim: int = 5, att_dim: int = 5, reconstruct: bool = False,
                 cost: str = "sq", recon_images: int = 0) -> None:
        super().__init__()
        cfg.validate()
        self.cfg = cfg
        self.recon_images = recon_images  # decode only the first k images A of a batch (0 = all: the reference)
        self.encoder = build_generator(cfg)  # G (the attribute name is the checkpoints')
        self.head = MatchHead(cfg.element_dim, loc_dim, att_dim, cost)
        self.decoder = ElementDecoder(cfg.element_dim, cfg.decoder_width, cfg.image_size) if reconstruct else None

    def decode(self, s: torch.Tensor) -> Reconstruction:
        b, n, d = s.shape
        logits = self.decoder(s.reshape(b * n, d))
        return compose(logits.view(b, n, *logits.shape[1:]))

    def forward(self, x1: torch.Tensor, x2: torch.Tensor, r: int | None = None) -> MatchOutput:
        b = x1.shape[0]
        enc = self.encoder(torch.cat([x1, x2]), r)
        s1, s2 = enc.set[:b], enc.set[b:]
        prediction, cost, pi = self.head(s1, s2)
        rec = self.decode(s1[: self.recon_images or b]) if self.decoder is not None else None
        return MatchOutput(prediction, cost, pi, (s1, s2), rec)


class CNNEmbedding(nn.Module):
    """H_embed alone: the App. A trunk and a linear map to ``embed_dim`` (no activation)."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.trunk = ConvTrunk(cfg.encoder_width)
        self.embed = nn.Linear(cfg.feature_count, cfg.embed_dim)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.embed(self.trunk(images))


class NaiveCNNMatcher(nn.Module):
    """The "Naive CNNs" baseline (App. C.1): Y_hat = w . (H_embed(X_1) - H_embed(X_2))^2 + b."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.encoder = CNNEmbedding(cfg)
        self.out = nn.Linear(cfg.embed_dim, 1)

    def forward(self, x1: torch.Tensor, x2: torch.Tensor, r: int | None = None) -> MatchOutput:
        b = x1.shape[0]
        e = self.encoder(torch.cat([x1, x2]))
        prediction = self.out((e[:b] - e[b:]).pow(2)).squeeze(-1)
        return MatchOutput(prediction, prediction.new_zeros(b), None, None, None)


def build_matcher(cfg: ModelConfig, loc_dim: int = 5, att_dim: int = 5, reconstruct: bool = False,
                  cost: str = "sq", recon_images: int = 0) -> nn.Module:
    """The matching model named by ``cfg.generator``: "cnn" (the task's baseline) or a set generator
    (``cost``: the Hungarian pair cost; ``recon_images``: images A the decoder reconstructs, 0 = all)."""
    if cfg.generator == "cnn":
        if reconstruct:
            raise ValueError("the naive CNN has no set to reconstruct from")
        return NaiveCNNMatcher(cfg)
    return SetMatcher(cfg, loc_dim, att_dim, reconstruct, cost, recon_images)
