"""H_agg, the set aggregator: permutation-invariant maps from a set S to a vector, ending in FSPool.

(Called an "aggregator" so that it is not confused with G, the image-to-set generator.)
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from sslr_cli.models.fspool import FSPool, sort_descending
from sslr_cli.models.native import SortPoolKernel, sort_pool_kernel
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

    @torch.no_grad()
    def squared_error(self, s: torch.Tensor, z: torch.Tensor, native: bool = True
                      ) -> Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
        """L(S) = ||H_agg(S) - z||^2 (summed over the batch) as a map S -> (L, grad_S L) with no autograd graph.

        For SRN's graph-free inner steps (``SetRefiner``): the same operations as autograd's forward and
        backward of ``(self(S) - z).pow(2).sum()``, written out. The forward keeps the post-ReLU
        activations; dL/dH_agg = 2 (H_agg(S) - z); FSPool's backward scatters the piece weights through
        the sort's indices (``fspool.sort_descending``: ties go where autograd sends them for |S| <= 16);
        then back through the linear layers (one matmul each) and the ReLU masks. The matmuls run in the
        dtype autocast would give them (the surrounding autocast's, if it is on for S's device, else S's),
        every other operation in the dtype of its inputs, as in the autograd path. The weights (cast and
        transposed) and FSPool's piece weights for |S| = ``s.shape[1]`` are prepared once, here, for all
        the steps of a loop.

        With ``native`` (the default), FSPool's sort, weighted sum and scatter run as one compiled pass
        (``models/native``: bfloat16 on a CPU, |S| <= 16, where the kernel could be built), with the same
        bits as the torch ops, which run otherwise.
        """
        device = s.device.type
        dtype = torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) and s.dtype != torch.float64 else s.dtype
        n = s.shape[1]
        # For |S| a power of two, 1/|S| (and the loss's factor 2) is folded into the last layer and the
        # piece weights: scaling by a power of two commutes with rounding, so the results are the same.
        fold = n & (n - 1) == 0
        layers = []  # ("linear", W, W^T, b) | ("relu",)
        linears = [m for m in self.mlp if isinstance(m, nn.Linear)]
        for m in self.mlp:
            if isinstance(m, nn.Linear):
                w = m.weight.detach().to(dtype)
                bias = None if m.bias is None else m.bias.detach().to(dtype)
                if fold and m is linears[-1]:
                    layers.append(("linear", w, (w / n).t(), None if bias is None else bias / n))
                else:
                    layers.append(("linear", w, w.t(), bias))
            elif isinstance(m, nn.ReLU):
                layers.append(("relu",))
            else:  # pragma: no cover - the MLP is built above from these two
                raise TypeError(f"squared_error: no backward written for {type(m).__name__}")
        if layers[0][0] != "linear":  # pragma: no cover - the ReLUs below work in place on a layer's output
            raise TypeError("squared_error: the MLP must start with a linear layer")
        piece = self.pool.piece_weights(n, s.device, dtype).detach().t()  # (n, C), as FSPool's forward broadcasts it
        piece_grad = piece * (2 / n) if fold else piece
        kernel = sort_pool_kernel() if native and SortPoolKernel.supports(device, dtype, n) else None
        if kernel is not None:
            piece, piece_grad = piece.contiguous(), piece_grad.contiguous()
        z = z.detach()
        threshold_backward = torch.ops.aten.threshold_backward

        def value_and_grad(s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            with torch.autocast(device, enabled=False):  # the dtypes are chosen above: no per-op autocast dispatch
                return _value_and_grad(s)

        def _value_and_grad(s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            b, _, d = s.shape
            x = s.reshape(b * n, d).to(dtype)
            relu_outputs = []
            for layer in layers:
                if layer[0] == "relu":
                    relu_outputs.append(x.relu_())
                else:
                    x = x @ layer[2] if layer[3] is None else torch.addmm(layer[3], x, layer[2])
            h = x.view(b, n, -1) if fold else x.view(b, n, -1) / n
            if kernel is not None:
                out, order = kernel.pool(h, piece)
            else:
                sorted_h, idx = sort_descending(h)
                out = (sorted_h * piece).sum(dim=1)
            diff = out - z
            loss = diff.pow(2).sum()
            g = diff.to(out.dtype) if fold else (2 * diff).to(out.dtype)
            if kernel is not None:
                grad_h = kernel.unpool(g, piece_grad, order)
            else:  # idx permutes each feature's n values, so every entry of grad_h is written
                grad_h = torch.empty_like(h).scatter_(1, idx, g[:, None, :] * piece_grad)
            dx = grad_h.view(b * n, -1) if fold else (grad_h / n).view(b * n, -1)
            for layer in reversed(layers):
                if layer[0] == "relu":
                    dx = threshold_backward(dx, relu_outputs.pop(), 0)
                else:
                    dx = dx @ layer[1]
            return loss, dx.view(b, n, d).to(s.dtype)

        return value_and_grad


def build_aggregator(kind: str, element_dim: int, out_dim: int, hidden: int, n_pieces: int) -> nn.Module:
    if kind == "mlp":
        return ElementwiseAggregator(element_dim, out_dim, hidden, n_pieces)
    if kind == "relation":
        return RelationAggregator(element_dim, out_dim, hidden, n_pieces)
    raise ValueError(f"unknown aggregator {kind!r}")
