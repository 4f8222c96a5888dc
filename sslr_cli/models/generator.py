"""The interface of a set generator G: images -> latent set (Sec. 3.2).

A generator is an ``nn.Module`` subclassing ``SetGenerator``; ``forward(images, r=None)`` returns a
``SetEncoding``. ``r`` is SSLR-SRN's number of refinement steps, passed by the caller on every call (the
training loop: the run's schedule ``RunConfig.r_at``; evaluation: the r it measures at); None means the
config's ``inner_steps``. A generator without a refinement ignores it.

What the engine needs to know beyond that, the generator declares itself,
so the training loop, DDP (``engine/distributed.py``) and ``--compile`` (``engine/compile.py``) never
name a generator's internals:

- ``frozen_parameters()``: parameters that never receive a gradient (DDP must not wait for them);
- ``may_leave_parameters_unused(r)``: whether some parameters can get no gradient at this
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


class AtR(nn.Module):
    """A model evaluated at a fixed r: ``AtR(model, r)(*inputs)`` is ``model(*inputs, r)``. It passes r on
    every call (the model is not changed); every other attribute is the model's (``.encoder``, ``.decode``)."""

    def __init__(self, model: nn.Module, r: int | None) -> None:
        super().__init__()
        self.model = model
        self.r = r

    def forward(self, *inputs: torch.Tensor):
        return self.model(*inputs, self.r)

    def __getattr__(self, name: str):
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self._modules["model"], name)


class SetGenerator(nn.Module):
    """G: images (B, 3, H, W) in [0, 1] -> ``SetEncoding``. Subclasses set ``self.cfg`` (a ModelConfig)."""

    def forward(self, images: torch.Tensor, r: int | None = None) -> SetEncoding:  # pragma: no cover
        raise NotImplementedError

    def frozen_parameters(self) -> list[str]:
        """Names (relative to this module) of parameters that never receive a gradient."""
        return []

    def may_leave_parameters_unused(self, r: int) -> bool:
        """Whether a forward pass with this r can leave parameters without a gradient."""
        return False

    def eager_submodules(self) -> list[str]:
        """Names (relative to this module) of submodules torch.compile must not compile."""
        return []
