"""SSLR-MLP and SSLR-SRN, the paper's two set generators (Sec. 3.2 and 4), as one module.

SSLR-MLP: S = S0 = H_set(X). SSLR-SRN: S = r steps of inner gradient descent from S0 on
||H_agg(S) - z||^2 with z = H_embed(X) (Eq. 5, ``refiner.SetRefiner``). Both share the trunk.
"""

from __future__ import annotations

import torch
from torch import nn

from sslr_cli.errors import SSLRError
from sslr_cli.models.aggregator import build_aggregator
from sslr_cli.models.encoder import ConvTrunk, SetProjection
from sslr_cli.models.generator import SetEncoding, SetGenerator
from sslr_cli.models.refiner import SetRefiner
from sslr_cli.models.projection import check_projection


class SSLRGenerator(SetGenerator):
    """G of SSLR-MLP (``refine=False``) or SSLR-SRN (``refine=True``).

    SSLR-MLP has no H_embed and no H_agg: they would receive no gradient. The submodule names
    (``trunk``, ``set_head``, ``embed``, ``refiner``) are those of every checkpoint written so far.
    """

    def __init__(self, cfg, refine: bool) -> None:
        super().__init__()
        check_projection(cfg)
        self.cfg = cfg
        self.trunk = ConvTrunk(cfg.encoder_width)
        self.set_head = SetProjection(cfg.feature_count, cfg.set_size, cfg.element_dim)  # H_set
        self.refiner: SetRefiner | None = None
        self.embed: nn.Linear | None = None
        if refine:
            self.embed = nn.Linear(cfg.feature_count, cfg.embed_dim)  # H_embed (shares the trunk)
            agg = build_aggregator(cfg.agg, cfg.element_dim, cfg.embed_dim, cfg.agg_hidden, cfg.fspool_pieces)
            self.refiner = SetRefiner(agg, cfg.inner_lr, cfg.inner_momentum, cfg.inner_grad, cfg.refine_precision)

    def forward(self, images: torch.Tensor, r: int | None = None) -> SetEncoding:
        features = self.trunk(images)
        s0 = self.set_head(features)
        if self.refiner is None:
            return SetEncoding(s0, s0, None, s0.new_zeros(0, dtype=torch.float32))
        z = self.embed(features)
        # The reference code detaches S0 (a fresh parameter inside `higher`): H_set then stays at
        # its random initialisation and only the trunk learns, through H_embed.
        start = s0.detach() if self.cfg.init_mode == "detached" else s0
        refined = self.refiner(start, z, self.cfg.inner_steps if r is None else r)
        return SetEncoding(refined.set, s0, z, refined.inner_losses)

    def frozen_parameters(self) -> list[str]:
        # a detached S0 leaves H_set without gradient (the loss sees S0 only through the refinement)
        if self.refiner is not None and self.cfg.init_mode == "detached":
            return [f"set_head.{name}" for name, _ in self.set_head.named_parameters()]
        return []

    def may_leave_parameters_unused(self, r: int) -> bool:
        return self.refiner is not None and r == 0  # r = 0: H_agg and H_embed get no gradient

    def eager_submodules(self) -> list[str]:
        # AOTAutograd has no double backward, which the inner loop's create_graph=True needs
        return ["refiner"] if self.refiner is not None else []


def build_mlp(cfg, options=None) -> SSLRGenerator:
    """SSLR-MLP: S = S0 = H_set(X)."""
    return SSLRGenerator(cfg, refine=False)


def build_srn(cfg, options=None) -> SSLRGenerator:
    """SSLR-SRN: S0 refined by r inner gradient steps (Eq. 5)."""
    return SSLRGenerator(cfg, refine=True)
