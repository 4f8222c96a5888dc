"""The image encoder of App. A (steps 1-6): a DCGAN-style trunk, H_embed and H_set.

Trunk: convs 3 -> w -> 2w -> 4w -> 8w, kernel 4, strides 2, 2, 2, 4, padding 1, no bias, batch
norm on layers 2-4, ReLU. A 64x64 image gives 8w x 2 x 2 (2048 features for w = 64), a 128x128
image 8w x 4 x 4.
"""

from __future__ import annotations

import torch
from torch import nn


class ConvTrunk(nn.Module):
    def __init__(self, width: int = 64, in_channels: int = 3) -> None:
        super().__init__()
        w = width

        def block(cin: int, cout: int, stride: int, norm: bool) -> list[nn.Module]:
            layers: list[nn.Module] = [nn.Conv2d(cin, cout, 4, stride, 1, bias=False)]
            if norm:
                layers.append(nn.BatchNorm2d(cout))
            layers.append(nn.ReLU(inplace=True))
            return layers

        self.net = nn.Sequential(
            *block(in_channels, w, 2, False),
            *block(w, 2 * w, 2, True),
            *block(2 * w, 4 * w, 2, True),
            *block(4 * w, 8 * w, 4, True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) -> flattened features (B, 8w * (H/32)^2)."""
        return self.net(x).flatten(1)


class SetProjection(nn.Module):
    """H_set: split the flattened features into |S| contiguous groups and project each group with
    one shared linear map (the paper's 1x1 Conv1d) to the element dimension D."""

    def __init__(self, features: int, set_size: int, element_dim: int) -> None:
        super().__init__()
        if features % set_size:
            raise ValueError(f"{features} features do not split into {set_size} groups")
        self.set_size = set_size
        self.proj = nn.Linear(features // set_size, element_dim)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """(B, F) -> S0 (B, |S|, D)."""
        return self.proj(features.view(features.shape[0], self.set_size, -1))
