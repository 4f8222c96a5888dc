"""F_reconstruct (Eq. 6-7): one shared decoder per set element, softmax-weighted sum.

I_i = TransposeConvs(S_i);  Y_hat = sum_i softmax_i(I) * sigmoid(I_i), clamped to [0, 1].
The softmax is over the set elements, per pixel and channel, as in the reference code.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


class ElementDecoder(nn.Module):
    """App. A decoder: linear D -> 4w x s x s (batch norm, ReLU), transposed convs 4w -> 2w -> w
    (kernel 4, stride 2, padding 1, batch norm, ReLU), w -> 3 (kernel 4, stride 4). s = size / 16:
    4 for 64x64 images, 8 for 128x128 (the CLEVR variant)."""

    def __init__(self, element_dim: int, width: int = 256, image_size: int = 64) -> None:
        super().__init__()
        self.start = image_size // 16
        self.channels = 4 * width
        self.proj = nn.Linear(element_dim, self.channels * self.start * self.start)
        self.norm0 = nn.BatchNorm1d(self.channels * self.start * self.start)
        self.up = nn.Sequential(
            nn.ConvTranspose2d(4 * width, 2 * width, 4, 2, 1, bias=False), nn.BatchNorm2d(2 * width), nn.ReLU(inplace=True),
            nn.ConvTranspose2d(2 * width, width, 4, 2, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True),
            nn.ConvTranspose2d(width, 3, 4, 4, 0, bias=False),
        )

    # the last layer's forward as a matmul and a fold where that is faster (``patch_transpose_conv``); a class
    # attribute so that a benchmark can switch one copy of the model to the plain layer
    patch_last_layer = True

    def forward(self, elements: torch.Tensor) -> torch.Tensor:
        """(M, D) -> logits (M, 3, size, size)."""
        h = torch.relu(self.norm0(self.proj(elements)))
        h = self.up[:-1](h.view(-1, self.channels, self.start, self.start))
        if self.patch_last_layer and _bf16_on_cpu(h):
            return patch_transpose_conv(h, self.up[-1].weight)
        return self.up[-1](h)


def _bf16_on_cpu(h: torch.Tensor) -> bool:
    """Whether a convolution of ``h`` computes in bfloat16 on a CPU (bf16 autocast, or bf16 tensors)."""
    if h.device.type != "cpu":
        return False
    if torch.is_autocast_enabled("cpu"):
        return torch.get_autocast_dtype("cpu") == torch.bfloat16
    return h.dtype == torch.bfloat16


class _PatchTransposeConv(torch.autograd.Function):
    """conv_transpose2d(h, w, stride=k) for a k x k kernel, no bias, no padding: forward as a matmul and a fold,
    backward as the convolution's own backward (the call autograd makes for ``conv_transpose2d``)."""

    @staticmethod
    def forward(ctx, h: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        m, c, hh, ww = h.shape
        _, o, k, _ = w.shape
        ctx.save_for_backward(h, w)
        # patches (m, o k k, H W): W^T (o k k, c) @ h[m] (c, H W); they do not overlap, so the fold only places them
        patches = torch.matmul(w.reshape(c, o * k * k).t(), h.reshape(m, c, hh * ww))
        return F.fold(patches, (hh * k, ww * k), k, stride=k)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        h, w = ctx.saved_tensors
        k = w.shape[-1]
        gh, gw, _ = torch.ops.aten.convolution_backward(
            grad.contiguous(), h, w, None, [k, k], [0, 0], [1, 1], True, [0, 0], 1,
            [ctx.needs_input_grad[0], ctx.needs_input_grad[1], False])
        return gh, gw


def patch_transpose_conv(h: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``conv_transpose2d(h, weight, stride=k)`` (k x k kernel, no bias or padding) in bf16 on a CPU.

    Why: oneDNN's bf16 transposed convolution with 3 output channels (F's last layer) ran at 17 GFLOP/s, 23 ms of a
    122 ms `tiny` training step (studies/cpu-step). With the stride equal to the kernel the output patches do
    not overlap: a matmul computes every patch (each value one float32 sum over the c channels, rounded once,
    as the convolution does: the tests find the same bits) and ``F.fold`` places them. The backward is the
    convolution's own, so the gradients are the plain layer's.
    """
    with torch.autocast("cpu", enabled=False):
        return _PatchTransposeConv.apply(h.to(torch.bfloat16), weight.to(torch.bfloat16))


@dataclass
class Reconstruction:
    image: torch.Tensor  # Y_hat (B, 3, H, W) in [0, 1]
    element_images: torch.Tensor  # softmax_i(I) * sigmoid(I_i): (B, |S|, 3, H, W), the terms of the sum


def compose(logits: torch.Tensor) -> Reconstruction:
    """logits (B, n, 3, H, W) -> Y_hat and the weighted per-element images."""
    weighted = torch.softmax(logits, dim=1) * torch.sigmoid(logits)
    return Reconstruction(weighted.sum(dim=1).clamp(0.0, 1.0), weighted)
