"""The Set Refiner Network's refinement (Sec. 3.2, Eq. 5): S0 refined by r inner gradient steps on
||H_agg(S) - z||^2, with H_agg the aggregator (``models/aggregator.py``). SSLR-SRN's generator
(``models/sslr_generator.py``) owns one; SSLR-MLP has none (S = S0)."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch
from torch import nn

from sslr_cli.config import REFINE_PRECISIONS, parse_inner_grad
from sslr_cli.errors import SSLRError


@dataclass
class Refinement:
    """The refined set and the inner loss ||H_agg(S_t) - z||^2 (summed over the batch) per step.

    ``inner_losses`` is a detached 1-D tensor on the set's device (one entry per step): reading it
    (``.tolist()``) is the only host sync the refinement causes, and only a caller that logs it pays it.
    """

    set: torch.Tensor
    inner_losses: torch.Tensor


def _fresh_start(s: torch.Tensor) -> torch.Tensor:
    """A graph-free copy of ``s`` that autograd can differentiate with respect to.

    The clone makes it a non-leaf: torch's module-tracking tools (FlopCounterMode, used by
    `make bench`) reject ``autograd.grad`` through module hooks when the input is a leaf.
    """
    return s.detach().requires_grad_(True).clone()


class SetRefiner(nn.Module):
    """The Set Refiner Network's inner loop (Eq. 5).

    S_{t+1} = S_t - lr * v_{t+1},  v_{t+1} = momentum * v_t + grad_S ||H_agg(S_t) - z||^2,  v_1 = grad

    r, the number of steps, is an argument of every call, never state of the module: the training loop
    passes the run's schedule (``RunConfig.r_at``), evaluation the r it measures at.

    (SGD with momentum, dampening 0, as the reference's ``higher`` loop). The inner loss is summed
    over the batch, so each sample's gradient is its own. The forward value S_r is the same in every
    mode; ``inner_grad`` chooses how the outer loss is differentiated through the loop while the module
    is training and autograd is on (otherwise, in evaluation, the loop runs inside ``enable_grad`` but
    keeps no graph):

    - ``"unrolled"``: every step is built with ``create_graph=True`` (the exact gradient; memory and
      backward time grow with r). The outer loss trains H_agg, H_embed (through z) and, when S0
      carries a graph, H_set.
    - ``"truncated:K"``: the first r - K steps run without a graph; the last K are unrolled from a
      detached S_{r-K}, v_{r-K}. ``truncated:K`` with K >= r is ``unrolled``, operation for operation.
      With K < r, S0 (and so H_set) gets no gradient.
    - ``"implicit"``: the approximate implicit differentiation of iDSPN (Zhang, Hare, Prügel-Bennett
      et al., 2022, "Multiset-Equivariant Set Prediction with Approximate Implicit Differentiation").
      S_r is treated as a fixed point of the inner objective; the implicit function theorem gives
      dS*/dθ = -H^{-1} d(grad_S L)/dθ with H the inner Hessian, and iDSPN replaces H^{-1} by the
      identity. As in its public code (``ImplicitSolver``), the first r - 1 steps run without a graph,
      the last step's gradient g = grad_S L(S_{r-1}, z) is taken with ``create_graph=True`` at the
      detached S_{r-1}, and the outer gradient u = dL_outer/dS_r is sent back as u^T d(-g)/dθ to H_agg
      and, through z, to H_embed and the trunk. So the backward pass is one double-backward through
      one H_agg evaluation, whatever r, and the graph held is one step's. Note the scale: iDSPN uses
      -g, not -lr * g (which would be ``truncated:1`` without the momentum term); with Adam and a
      detached S0 the two differ by a constant factor on every refinement-path gradient. S0 gets no
      gradient (the fixed point does not depend on it). The forward pass still takes r inner gradients
      (graph-free), so the step time still grows with r, more slowly than unrolled's.

    Graph-free steps in training (the first r - 1 of ``implicit``, the first r - K of ``truncated:K``)
    use the aggregator's ``squared_error(S, z)`` where it has one (``ElementwiseAggregator``): its
    value and gradient written out with plain tensor ops, no autograd graph, and the momentum update
    in place. They are autograd's values (the tests compare them, ties included); an aggregator
    without it (``RelationAggregator``) keeps the autograd steps. Evaluation (no training graph) and
    ``unrolled`` run the autograd loop as before.

    ``precision``: ``"fp32"`` runs the loop (H_agg, FSPool, the inner gradient) in float32 even inside
    a bf16/fp16 autocast region, so only the trunk and decoder run in low precision; ``"autocast"``
    leaves the loop to the surrounding autocast. The refined set is then float32.
    """

    def __init__(self, aggregator: nn.Module, lr: float = 0.1, momentum: float = 0.5,
                 inner_grad: str = "unrolled", precision: str = "autocast") -> None:
        super().__init__()
        if precision not in REFINE_PRECISIONS:
            raise SSLRError(f"refine precision {precision!r}: choose one of {', '.join(REFINE_PRECISIONS)}")
        self.agg = aggregator  # H_agg (the attribute keeps the name of every checkpoint written so far)
        self.lr = lr
        self.momentum = momentum
        self.inner_grad = inner_grad
        self._grad_mode, self._truncate = parse_inner_grad(inner_grad)
        self.precision = precision

    def _precision_context(self, device_type: str):
        if self.precision == "fp32" and torch.is_autocast_enabled(device_type):
            return torch.autocast(device_type, enabled=False), True
        return contextlib.nullcontext(), False

    def forward(self, s0: torch.Tensor, z: torch.Tensor, r: int) -> Refinement:
        """S_r from S0 = ``s0`` towards H_agg(S) = ``z`` in ``r`` inner steps (r is the caller's: the run's schedule)."""
        steps = r
        differentiable = self.training and torch.is_grad_enabled()
        implicit = differentiable and self._grad_mode == "implicit" and steps > 0
        if not differentiable or implicit:
            graph_steps = 0
        elif self._grad_mode == "truncated":
            graph_steps = min(self._truncate, steps)
        else:
            graph_steps = steps
        free_steps = steps - graph_steps - (1 if implicit else 0)
        ctx, to_fp32 = self._precision_context(s0.device.type)
        losses: list[torch.Tensor] = []
        with torch.enable_grad(), ctx:
            if to_fp32:
                s0, z = s0.float(), z.float()
            s = s0 if (graph_steps == steps and differentiable and s0.requires_grad) else _fresh_start(s0)
            velocity = None
            z_free = z.detach()
            objective = getattr(self.agg, "squared_error", None) if differentiable and free_steps else None
            if objective is not None:  # H_agg's own graph-free value and gradient, in place
                with torch.no_grad():
                    value_and_grad = objective(s, z_free)
                    s = s.detach().clone()
                    for _ in range(free_steps):
                        loss, grad = value_and_grad(s)
                        velocity = grad if velocity is None else velocity.mul_(self.momentum).add_(grad)
                        s.sub_(self.lr * velocity)
                        losses.append(loss)
                s = _fresh_start(s)
            else:
                for _ in range(free_steps):  # no graph: nothing of these steps is kept for the backward pass
                    loss = (self.agg(s) - z_free).pow(2).sum()
                    (grad,) = torch.autograd.grad(loss, s)
                    velocity = grad if velocity is None else self.momentum * velocity + grad
                    s = _fresh_start(s - self.lr * velocity)
                    losses.append(loss.detach())
            if graph_steps and free_steps:
                velocity = velocity.detach()
            for _ in range(graph_steps):
                loss = (self.agg(s) - z).pow(2).sum()
                (grad,) = torch.autograd.grad(loss, s, create_graph=True)
                velocity = grad if velocity is None else self.momentum * velocity + grad
                s = s - self.lr * velocity
                losses.append(loss.detach())
            if implicit:
                loss = (self.agg(s) - z).pow(2).sum()
                (grad,) = torch.autograd.grad(loss, s, create_graph=True)
                step = grad.detach() if velocity is None else self.momentum * velocity + grad.detach()
                # value: S_r exactly; gradient: u -> u^T d(-g)/dθ (iDSPN's H^{-1} ~ I)
                s = (s.detach() - self.lr * step) - (grad - grad.detach())
                losses.append(loss.detach())
        if not differentiable:
            s = s.detach()
        inner = torch.stack(losses).float() if losses else s.new_zeros(0, dtype=torch.float32)
        return Refinement(s, inner)

    @torch.no_grad()
    def inner_loss(self, s: torch.Tensor, z: torch.Tensor) -> float:
        return float((self.agg(s) - z).pow(2).sum())
