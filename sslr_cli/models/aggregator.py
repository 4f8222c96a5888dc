"""H_agg, the set aggregator: permutation-invariant maps from a set S to a vector, ending in FSPool.

(Called an "aggregator" so that it is not confused with G, the image-to-set generator.)
"""

from __future__ import annotations

import torch
from torch import nn

from sslr_cli.models.fspool import FSPool
from sslr_cli.models.relation_encoder import RelationAggregator


class ElementwiseAggregator(nn.Module):
    """H_agg for circles (App. A): a 3-layer MLP per element (D -> h -> h -> out, ReLU between),
    divided by the set size, then FSPool over the elements."""

    def __init__(self, element_dim: int, out_dim: int, hidden: int = 512, n_pieces: int = 20) -> None:
        super().__init__()
        self.mlp = nn.Sequential(
            nn.Linear(element_dim, hidden), nn.ReLU(),
            nn.Linear(hidden, hidden), nn.ReLU(),
            nn.Linear(hidden, out_dim),
        )
        self.pool = FSPool(out_dim, n_pieces)

    def forward(self, s: torch.Tensor) -> torch.Tensor:
        """S (B, n, D) -> (B, out_dim)."""
        h = self.mlp(s) / s.shape[1]
        return self.pool(h)


def build_aggregator(kind: str, element_dim: int, out_dim: int, hidden: int, n_pieces: int) -> nn.Module:
    if kind == "mlp":
        return ElementwiseAggregator(element_dim, out_dim, hidden, n_pieces)
    if kind == "relation":
        return RelationAggregator(element_dim, out_dim, hidden, n_pieces)
    raise ValueError(f"unknown aggregator {kind!r}")
