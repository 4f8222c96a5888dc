"""Slot Attention (Locatello et al., 2020, "Object-Centric Learning with Slot Attention") as a set
generator G: image -> S (B, |S|, D), decoded by the same F_reconstruct and ``compose`` as SSLR-MLP/SRN.

Set-up, following the paper's object-discovery model with the App. A trunk in place of its CNN:

1. Features: the first ``trunk_blocks`` blocks of the App. A trunk (3 by default: 4w channels at
   stride 8, an 8x8 map for a 64x64 image; the full trunk leaves only 2x2 positions to attend over),
   plus a soft position embedding (a linear map of the grid (y, x, 1-y, 1-x) added to every
   position), flattened to N inputs, then layer norm and an MLP (C -> h -> slot_size).
2. Slots S_0 ~ N(mu, diag(sigma^2)) with mu, log sigma learned, one sample per slot.
3. T = ``iterations`` rounds of attention, with softmax over the *slots* (slots compete for every
   input), renormalised over the inputs (plus ``epsilon``) into a weighted mean of the values:

       A = softmax_slots(k(x) q(S)^T / sqrt(d)) + eps,   U = (A / sum_inputs A)^T v(x)
       S <- GRU(U, S);   S <- S + MLP(LayerNorm(S))

4. A linear map slot_size -> D = ``element_dim``: S = that of the final slots.

Everything after the noise is permutation-equivariant in the slots: permuting the initial samples
permutes the output the same way (tested).

Noise: in training every slot of every image gets a fresh sample from torch's default generator (so a
seeded run is deterministic on CPU). In evaluation (``model.eval()``) one fixed sample, drawn from a
generator seeded with ``eval_seed``, is shared by all images: each image's set then depends on that
image alone, not on the batch it came in or the call. The mean alone cannot serve: identical
initial slots stay identical through every iteration. ``forward(..., noise=...)`` overrides both.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from sslr_cli.config import ModelConfig
from sslr_cli.errors import SSLRError
from sslr_cli.models.encoder import ConvTrunk
from sslr_cli.models.generator import SetEncoding, SetGenerator
from sslr_cli.models.slot_options import SlotAttentionConfig  # its options, kept free of torch for the CLI


def trunk_channels(width: int, blocks: int) -> int:
    """Channels of the App. A trunk after ``blocks`` blocks: w, 2w, 4w, 8w."""
    return width * 2 ** (blocks - 1)


def position_grid(height: int, width: int) -> torch.Tensor:
    """(H*W, 4): (y, x, 1 - y, 1 - x) of each cell, in [0, 1], row-major like ``flatten``."""
    ys = torch.linspace(0.0, 1.0, height)
    xs = torch.linspace(0.0, 1.0, width)
    y, x = torch.meshgrid(ys, xs, indexing="ij")
    grid = torch.stack([y, x], dim=-1).reshape(-1, 2)
    return torch.cat([grid, 1.0 - grid], dim=-1)


class SlotAttention(nn.Module):
    """The iterative attention module: inputs (B, N, d_in), initial slots (B, K, d) -> slots (B, K, d)."""

    def __init__(self, input_dim: int, slot_size: int, mlp_hidden: int, iterations: int, epsilon: float) -> None:
        super().__init__()
        self.iterations = iterations
        self.epsilon = epsilon
        self.scale = 1.0 / math.sqrt(slot_size)
        self.norm_inputs = nn.LayerNorm(input_dim)
        self.norm_slots = nn.LayerNorm(slot_size)
        self.norm_mlp = nn.LayerNorm(slot_size)
        self.q = nn.Linear(slot_size, slot_size, bias=False)
        self.k = nn.Linear(input_dim, slot_size, bias=False)
        self.v = nn.Linear(input_dim, slot_size, bias=False)
        self.gru = nn.GRUCell(slot_size, slot_size)
        self.mlp = nn.Sequential(nn.Linear(slot_size, mlp_hidden), nn.ReLU(), nn.Linear(mlp_hidden, slot_size))

    def attention(self, k: torch.Tensor, slots: torch.Tensor) -> torch.Tensor:
        """(B, N, d), (B, K, d) -> A (B, N, K): softmax over the slots (+ eps), then each slot's
        column normalised over the inputs. In fp32: eps = 1e-8 vanishes in bf16."""
        q = self.q(self.norm_slots(slots))
        logits = torch.einsum("bnd,bkd->bnk", k, q).float() * self.scale
        attn = torch.softmax(logits, dim=-1) + self.epsilon
        return attn / attn.sum(dim=1, keepdim=True)

    def forward(self, inputs: torch.Tensor, slots: torch.Tensor) -> torch.Tensor:
        x = self.norm_inputs(inputs)
        k, v = self.k(x), self.v(x)
        b, n_slots, d = slots.shape
        for _ in range(self.iterations):
            attn = self.attention(k, slots)
            updates = torch.einsum("bnk,bnd->bkd", attn.to(v.dtype), v)
            slots = self.gru(updates.reshape(-1, d), slots.reshape(-1, d)).view(b, n_slots, d)
            slots = slots + self.mlp(self.norm_mlp(slots))
        return slots


class SlotGenerator(SetGenerator):
    """G = Slot Attention over the trunk's feature map, then a linear map to D (see the module doc).

    Every parameter gets a gradient at every step and nothing needs to stay eager under ``--compile``,
    so the ``SetGenerator`` declarations keep their defaults.

    ``forward(images, r=None, noise=None) -> SetEncoding``: ``r`` (SRN's r, which
    the training loop passes to every generator) is ignored; T is ``slot.iterations``. ``noise``
    (B or 1, |S|, slot_size) replaces the standard-normal sample of the initial slots.
    The encoding's ``initial_set`` is S_0 mapped to D; ``embedding`` is None (no z).
    """

    def __init__(self, cfg: ModelConfig, slot: SlotAttentionConfig | None = None) -> None:
        super().__init__()
        slot = slot or SlotAttentionConfig()
        slot.validate()
        self.cfg = cfg
        self.slot = slot
        self.trunk = ConvTrunk(cfg.encoder_width)
        # Keep the trunk's first blocks (conv, [bn], relu each; the first has no batch norm), under the
        # same parameter names as SSLR-MLP/SRN's trunk; dropping the rest keeps every parameter in use.
        del self.trunk.net[3 * slot.trunk_blocks - 1:]
        channels = trunk_channels(cfg.encoder_width, slot.trunk_blocks)
        side = cfg.image_size // (2 ** slot.trunk_blocks if slot.trunk_blocks < 4 else 32)  # strides 2, 2, 2, 4
        self.register_buffer("grid", position_grid(side, side), persistent=False)
        self.position = nn.Linear(4, channels)
        self.features = nn.Sequential(
            nn.LayerNorm(channels), nn.Linear(channels, slot.mlp_hidden), nn.ReLU(), nn.Linear(slot.mlp_hidden, slot.slot_size)
        )
        self.mu = nn.Parameter(torch.empty(1, 1, slot.slot_size))
        self.log_sigma = nn.Parameter(torch.empty(1, 1, slot.slot_size))
        bound = math.sqrt(6.0 / (1 + slot.slot_size))  # Xavier-uniform, as the paper's code
        nn.init.uniform_(self.mu, -bound, bound)
        nn.init.uniform_(self.log_sigma, -bound, bound)
        self.attention = SlotAttention(slot.slot_size, slot.slot_size, slot.mlp_hidden, slot.iterations, slot.epsilon)
        self.out = nn.Linear(slot.slot_size, cfg.element_dim)

    def feature_map(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) -> inputs (B, N, slot_size) with the position embedding."""
        fmap = self.trunk.net(images)
        b, c, h, w = fmap.shape
        if h * w != self.grid.shape[0]:
            raise ValueError(f"images of {tuple(images.shape[-2:])} give a {h}x{w} map; the model was built for {self.cfg.image_size}")
        x = fmap.flatten(2).transpose(1, 2) + self.position(self.grid)
        return self.features(x)

    def noise(self, batch: int, device: torch.device) -> torch.Tensor:
        shape = (self.cfg.set_size, self.slot.slot_size)
        if self.training:
            return torch.randn(batch, *shape, device=device)
        g = torch.Generator().manual_seed(self.slot.eval_seed)
        return torch.randn(1, *shape, generator=g).to(device)

    def forward(self, images: torch.Tensor, r: int | None = None, noise: torch.Tensor | None = None) -> SetEncoding:
        inputs = self.feature_map(images)
        b = inputs.shape[0]
        if noise is None:
            noise = self.noise(b, inputs.device)
        if noise.shape[1:] != (self.cfg.set_size, self.slot.slot_size):
            raise ValueError(f"noise {tuple(noise.shape)}: expected (B, {self.cfg.set_size}, {self.slot.slot_size})")
        s0 = self.mu + self.log_sigma.exp() * noise.to(self.mu.dtype).expand(b, -1, -1)
        slots = self.attention(inputs, s0)
        return SetEncoding(self.out(slots), self.out(s0), None, [])
