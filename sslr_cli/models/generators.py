"""Set generators G (Sec. 3.2). SSLR-MLP uses S = S0 = H_set(X) directly; SSLR-SRN refines S0."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class Refinement:
    """The refined set and the inner loss ||H_agg(S_t) - z||^2 (summed over the batch) per step."""

    set: torch.Tensor
    inner_losses: list[float]


def _fresh_start(s: torch.Tensor) -> torch.Tensor:
    """A graph-free copy of ``s`` that autograd can differentiate with respect to.

    The clone makes it a non-leaf: torch's module-tracking tools (FlopCounterMode, used by
    `make bench`) reject ``autograd.grad`` through module hooks when the input is a leaf.
    """
    return s.detach().requires_grad_(True).clone()


class SetRefiner(nn.Module):
    """The Set Refiner Network's inner loop (Eq. 5).

    S_{t+1} = S_t - lr * v_{t+1},  v_{t+1} = momentum * v_t + grad_S ||H_agg(S_t) - z||^2,  v_1 = grad

    (SGD with momentum, dampening 0, as the reference's ``higher`` loop). The inner loss is summed
    over the batch, so each sample's gradient is its own. While the module is training and autograd
    is on, every step is built with ``create_graph=True``, so the outer loss trains H_agg, H_embed
    (through z) and, when S0 carries a graph, H_set. Otherwise (evaluation) the loop still runs,
    inside ``enable_grad``, but keeps no graph.
    """

    def __init__(self, set_encoder: nn.Module, steps: int = 10, lr: float = 0.1, momentum: float = 0.5) -> None:
        super().__init__()
        self.agg = set_encoder
        self.steps = steps
        self.lr = lr
        self.momentum = momentum

    def forward(self, s0: torch.Tensor, z: torch.Tensor, steps: int | None = None) -> Refinement:
        steps = self.steps if steps is None else steps
        differentiable = self.training and torch.is_grad_enabled()
        losses: list[float] = []
        with torch.enable_grad():
            if differentiable and s0.requires_grad:
                s = s0
            else:
                s = _fresh_start(s0)
            if not differentiable:
                z = z.detach()
            velocity = None
            for _ in range(steps):
                loss = (self.agg(s) - z).pow(2).sum()
                (grad,) = torch.autograd.grad(loss, s, create_graph=differentiable)
                velocity = grad if velocity is None else self.momentum * velocity + grad
                s = s - self.lr * velocity
                if not differentiable:
                    s = _fresh_start(s)
                    velocity = velocity.detach()
                losses.append(float(loss.detach()))
        if not differentiable:
            s = s.detach()
        return Refinement(s, losses)

    @torch.no_grad()
    def inner_loss(self, s: torch.Tensor, z: torch.Tensor) -> float:
        return float((self.agg(s) - z).pow(2).sum())
