"""Batch norm over the global batch of a data-parallel job, on any backend (gloo on CPU included).

Why synchronise at all: in training mode a BatchNorm layer normalises with the mean and variance of
the batch it sees. Under DDP each rank sees B/W samples, so with per-rank statistics an N-rank run
is a different model from the single-process run on the same global batch of B (and changes with
the number of GPUs). The SSLR models have batch norm in the trunk (3 layers) and in F_reconstruct
(3 layers, over the B*|S| decoded elements). Synchronised statistics make the run depend on
``--batch-size`` alone, as the paper's single-GPU batch of 64 does.

``torch.nn.SyncBatchNorm`` does this with fused CUDA kernels, but in torch 2.x its training
forward raises on CPU tensors ("SyncBatchNorm expected input tensor to be on GPU") and its kernels
(``batch_norm_stats``, ...) have no CPU implementation. ``GlobalBatchNorm`` computes the same
statistics with two differentiable all-reduces (``_AllReduceSum``: the gradient of a sum over the
ranks is the sum of the ranks' gradients), so the backward pass also sums over the ranks::

    mean_c = sum_ranks sum_i x_ic / N,   var_c = sum_ranks sum_i (x_ic - mean_c)^2 / N

(N = elements per channel over all ranks; two passes, as torch's CPU batch norm, for accuracy).
``convert_batchnorm`` picks ``SyncBatchNorm`` on CUDA and ``GlobalBatchNorm`` elsewhere.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm


class _AllReduceSum(torch.autograd.Function):
    """y = sum over ranks of x (on every rank); dL/dx on rank k = sum over ranks of dL/dy.

    (``torch.distributed.nn.functional.all_reduce`` does the same but is deprecated in torch 2.13.)
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, group) -> torch.Tensor:
        ctx.group = group
        y = x.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(y, group=group)
        return y

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        grad = grad.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(grad, group=ctx.group)
        return grad, None


def all_reduce(x: torch.Tensor, group) -> torch.Tensor:
    return _AllReduceSum.apply(x, group)


class GlobalBatchNorm(_BatchNorm):
    """BatchNorm1d/2d/3d whose training statistics cover every rank's part of the batch.

    Outside training, or without an initialised process group of more than one rank, it is plain
    batch norm. Parameters and buffers have the names of ``nn.BatchNorm2d``, so checkpoints match.
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True, process_group=None) -> None:
        super().__init__(num_features, eps, momentum, affine, track_running_stats)
        self.process_group = process_group

    def _check_input_dim(self, input: torch.Tensor) -> None:
        if input.dim() < 2:
            raise ValueError(f"expected at least 2D input (got {input.dim()}D input)")

    def _synchronised(self) -> bool:
        return (self.training and dist.is_available() and dist.is_initialized()
                and dist.get_world_size(self.process_group) > 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self._synchronised():
            return super().forward(x)
        self._check_input_dim(x)
        group = self.process_group or dist.group.WORLD
        shape = (1, -1) + (1,) * (x.dim() - 2)
        dims = [0, *range(2, x.dim())]
        xf = x.to(torch.promote_types(x.dtype, torch.float32))  # fp32 statistics for bf16/fp16 input
        local = torch.cat([xf.sum(dims), xf.new_tensor([xf.numel() / xf.shape[1]])])
        total = all_reduce(local, group)
        count = total[-1]
        mean = total[:-1] / count
        centred = xf - mean.view(shape)
        var = all_reduce(centred.pow(2).sum(dims), group) / count
        y = centred * torch.rsqrt(var + self.eps).view(shape)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                factor = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                n = float(count)
                self.running_mean.lerp_(mean.detach(), factor)
                self.running_var.lerp_(var.detach() * (n / max(n - 1.0, 1.0)), factor)  # unbiased, as torch
        return y.to(x.dtype)


def convert_batchnorm(module: nn.Module, device: torch.device, process_group=None) -> nn.Module:
    """Replace every batch-norm layer of ``module`` by a synchronised one, in place where possible.

    The new layers take over the old ones' Parameter and buffer objects, so an optimizer built on
    ``module.parameters()`` before the conversion keeps working and ``state_dict`` keys are unchanged.
    Returns the converted module (a new object only when ``module`` itself is a batch-norm layer).
    """
    if isinstance(module, _BatchNorm) and not isinstance(module, (nn.SyncBatchNorm, GlobalBatchNorm)):
        cls = nn.SyncBatchNorm if device.type == "cuda" else GlobalBatchNorm
        new = cls(module.num_features, module.eps, module.momentum, module.affine, module.track_running_stats,
                  process_group=process_group)
        if module.affine:
            new.weight = module.weight
            new.bias = module.bias
        if module.track_running_stats:
            new.running_mean = module.running_mean
            new.running_var = module.running_var
            new.num_batches_tracked = module.num_batches_tracked
        new.train(module.training)
        # its collectives stay out of torch.compile's graphs (--compile): a graph break, run eagerly
        new.forward = torch.compiler.disable(new.forward)
        return new
    for name, child in module.named_children():
        converted = convert_batchnorm(child, device, process_group)
        if converted is not child:
            module.add_module(name, converted)
    return module
