"""H_agg: permutation-invariant set encoders that end in FSPool."""

from __future__ import annotations

import torch
from torch import nn

from sslr_cli.models.fspool import FSPool


class ElementwiseSetEncoder(nn.Module):
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


def build_set_encoder(kind: str, element_dim: int, out_dim: int, hidden: int, n_pieces: int) -> nn.Module:
    if kind == "mlp":
        return ElementwiseSetEncoder(element_dim, out_dim, hidden, n_pieces)
    if kind == "relation":
        from sslr_cli.models.relation_encoder import RelationSetEncoder

        return RelationSetEncoder(element_dim, out_dim, hidden, n_pieces)
    raise ValueError(f"unknown set encoder {kind!r}")
