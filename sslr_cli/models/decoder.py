"""F_reconstruct (Eq. 6-7): one shared decoder per set element, softmax-weighted sum.

I_i = TransposeConvs(S_i);  Y_hat = sum_i softmax_i(I) * sigmoid(I_i), clamped to [0, 1].
The softmax is over the set elements, per pixel and channel, as in the reference code.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
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

    def forward(self, elements: torch.Tensor) -> torch.Tensor:
        """(M, D) -> logits (M, 3, size, size)."""
        h = torch.relu(self.norm0(self.proj(elements)))
        return self.up(h.view(-1, self.channels, self.start, self.start))


@dataclass
class Reconstruction:
    image: torch.Tensor  # Y_hat (B, 3, H, W) in [0, 1]
    element_images: torch.Tensor  # softmax_i(I) * sigmoid(I_i): (B, |S|, 3, H, W), the terms of the sum


def compose(logits: torch.Tensor) -> Reconstruction:
    """logits (B, n, 3, H, W) -> Y_hat and the weighted per-element images."""
    weighted = torch.softmax(logits, dim=1) * torch.sigmoid(logits)
    return Reconstruction(weighted.sum(dim=1).clamp(0.0, 1.0), weighted)
