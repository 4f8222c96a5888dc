"""The interface of a set generator G: images -> latent set (Sec. 3.2).

A generator is an ``nn.Module`` subclassing ``SetGenerator``; ``forward(images, inner_steps=None)``
returns a ``SetEncoding``. What the engine needs to know beyond that, the generator declares itself,
so the training loop, DDP (``engine/distributed.py``) and ``--compile`` (``engine/compile.py``) never
name a generator's internals:

- ``frozen_parameters()``: parameters that never receive a gradient (DDP must not wait for them);
- ``may_leave_parameters_unused(inner_steps)``: whether some parameters can get no gradient at this
  r (then DDP searches the graph for unused parameters);
- ``eager_submodules()``: submodules torch.compile must leave alone (e.g. a double-backward loop).

Generators are listed in ``sslr_cli.models.registry.GENERATORS``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class SetEncoding:
    set: torch.Tensor  # S (B, |S|, D)
    initial_set: torch.Tensor  # S0, the set before any refinement (= S when there is none)
    embedding: torch.Tensor | None  # z = H_embed(X) when the generator has one (SSLR-SRN), else None
    # per inner step, when the generator has an inner loop: SSLR's is a detached tensor (read it with .tolist(),
    # once, so the loop itself never waits for the device)
    inner_losses: torch.Tensor | list[float]


class SetGenerator(nn.Module):
    """G: images (B, 3, H, W) in [0, 1] -> ``SetEncoding``. Subclasses set ``self.cfg`` (a ModelConfig)."""

    def forward(self, images: torch.Tensor, inner_steps: int | None = None) -> SetEncoding:  # pragma: no cover
        raise NotImplementedError

    def frozen_parameters(self) -> list[str]:
        """Names (relative to this module) of parameters that never receive a gradient."""
        return []

    def may_leave_parameters_unused(self, inner_steps: int) -> bool:
        """Whether a forward pass with this r can leave parameters without a gradient."""
        return False

    def eager_submodules(self) -> list[str]:
        """Names (relative to this module) of submodules torch.compile must not compile."""
        return []
