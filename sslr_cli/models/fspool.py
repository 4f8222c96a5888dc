"""FSPool (Zhang et al., 2020, "FSPool: Learning Set Representations with Featurewise Sort Pooling").

For every feature c independently, the n values over the set are sorted (descending) and combined
with weights w_c(t) taken from a learned piecewise-linear function on [0, 1] with ``n_pieces``
pieces, evaluated at t_i = i / (n - 1). Sorting makes the result invariant to permuting the set;
the piecewise-linear weights make it work for any set size. This is the non-relaxed version
(hard sort), as the paper uses.
"""

from __future__ import annotations

import torch
from torch import nn


class FSPool(nn.Module):
    def __init__(self, channels: int, n_pieces: int = 20) -> None:
        super().__init__()
        self.n_pieces = n_pieces
        self.weight = nn.Parameter(torch.empty(channels, n_pieces + 1))
        nn.init.normal_(self.weight)

    def piece_weights(self, n: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
        """(channels, n): the weight of the i-th largest value of each feature."""
        t = torch.linspace(0.0, 1.0, n, device=device, dtype=dtype) if n > 1 else torch.zeros(1, device=device, dtype=dtype)
        pos = t * self.n_pieces
        lower = pos.floor().long().clamp(max=self.n_pieces - 1)
        frac = pos - lower.to(dtype)
        w = self.weight.to(dtype)
        return w[:, lower] * (1 - frac) + w[:, lower + 1] * frac

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, n, C) -> (B, C)."""
        sorted_x, _ = x.sort(dim=1, descending=True)
        w = self.piece_weights(x.shape[1], x.device, x.dtype)  # (C, n)
        return (sorted_x * w.t().unsqueeze(0)).sum(dim=1)
