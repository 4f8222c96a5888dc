"""FSPool (Zhang et al., 2020, "FSPool: Learning Set Representations with Featurewise Sort Pooling").

For every feature c independently, the n values over the set are sorted (descending) and combined
with weights w_c(t) taken from a learned piecewise-linear function on [0, 1] with ``n_pieces``
pieces, evaluated at t_i = i / (n - 1). Sorting makes the result invariant to permuting the set;
the piecewise-linear weights make it work for any set size. This is the non-relaxed version
(hard sort), as the paper uses.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


def sort_descending(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``x.sort(dim=1, descending=True)`` for x (B, n, C), faster on a CPU; for graph-free code only.

    torch's CPU sort costs ~170 ns per 16-value row, most of SRN's graph-free inner step at the tiny
    preset. For float32/bfloat16 CPU tensors with n >= 8 the values are mapped to integer keys that
    order like the floats (-0.0 and 0.0 alike), the element's index in the low bits, and the keys are
    sorted by numpy (vectorised). Every key is distinct, so ties come out in index order: the order
    torch's sort gives for n <= 16 (an insertion sort there); for larger n torch may order ties
    differently (same values; a gradient scattered through the indices then differs on the tied
    entries only). Anything else (other devices, dtypes, short sets) uses torch's sort.
    """
    n = x.shape[1]
    if x.device.type != "cpu" or x.dtype not in (torch.float32, torch.bfloat16) or n < 8 or n > 2**14 or x.requires_grad:
        return x.sort(dim=1, descending=True)
    shift = (n - 1).bit_length()
    if x.dtype == torch.bfloat16:
        bits, sign_bit, magnitude = x.contiguous().view(torch.int16).numpy().astype(np.int32), 15, 0x7FFF
    else:
        bits, sign_bit, magnitude = x.contiguous().view(torch.int32).numpy().astype(np.int64), 31, 0x7FFFFFFF
    negative = bits >> sign_bit  # -1 where the sign bit is set, else 0
    # -(order-preserving integer of the float): ascending keys = descending values; -0.0 maps to 0 as 0.0 does
    key = ((negative - (bits ^ (negative & magnitude))) << shift) | np.arange(n, dtype=bits.dtype)[:, None]
    key = np.ascontiguousarray(key.transpose(0, 2, 1))  # (B, C, n): each feature's values in a row
    key.sort(axis=-1)
    key &= (1 << shift) - 1
    idx = torch.from_numpy(key).transpose(1, 2).long()
    return x.gather(1, idx), idx


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
