"""H_agg for CLEVR (App. B; the reference code's ``RNFSEncoder``): a relation network over all pairs.

For a set S = (s_1, ..., s_n) of D-dimensional elements, every ordered pair (i, j), including
i = j, gives the 2D-vector [s_i; s_j]. One shared map g (1x1 layers 2D -> hidden -> out, ReLU
between, no final activation) embeds each pair; the n^2 embeddings are divided by n^2 and pooled
by FSPool over the pairs:

    H_agg(S) = FSPool({ g([s_i; s_j]) / n^2 : i, j = 1..n })

Permuting S permutes the pairs, which FSPool's sort ignores, so H_agg is permutation-invariant.
"""

from __future__ import annotations

import torch
from torch import nn

from sslr_cli.models.fspool import FSPool


class RelationAggregator(nn.Module):
    def __init__(self, element_dim: int, out_dim: int, hidden: int = 512, n_pieces: int = 20) -> None:
        super().__init__()
        # Linear layers on the last axis are the reference's 1x1 Conv2d over the (n, n) pair grid.
        self.pair = nn.Sequential(nn.Linear(2 * element_dim, hidden), nn.ReLU(), nn.Linear(hidden, out_dim))
        self.pool = FSPool(out_dim, n_pieces)

    def forward(self, s: torch.Tensor) -> torch.Tensor:
        """S (B, n, D) -> (B, out_dim)."""
        b, n, d = s.shape
        first = s.unsqueeze(2).expand(b, n, n, d)  # s_i along rows
        second = s.unsqueeze(1).expand(b, n, n, d)  # s_j along columns
        pairs = torch.cat([first, second], dim=-1).reshape(b, n * n, 2 * d)
        return self.pool(self.pair(pairs) / (n * n))
