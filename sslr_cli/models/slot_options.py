"""Slot Attention's own settings (``sslr train --generator slot --gen-opt KEY=VALUE``), apart from its
torch module so that the CLI can list them without importing torch."""

from __future__ import annotations

from dataclasses import dataclass

from sslr_cli.errors import SSLRError


@dataclass(frozen=True)
class SlotAttentionConfig:
    """Slot Attention's own settings (the paper's: T = 3, slots of 64, MLP hidden 128, eps 1e-8),
    set with ``sslr train --generator slot --gen-opt KEY=VALUE``."""

    iterations: int = 3  # T
    slot_size: int = 64  # d: width of the slots, keys, queries and values
    mlp_hidden: int = 128  # hidden width of the feature MLP and the slot update MLP
    epsilon: float = 1e-8  # added to the attention before the weighted mean
    trunk_blocks: int = 3  # blocks of the App. A trunk kept (3: stride 8; 4: the whole trunk, stride 32)
    eval_seed: int = 0  # seed of the one noise sample used in evaluation

    def validate(self) -> "SlotAttentionConfig":
        for name, most in (("iterations", 100), ("slot_size", 65536), ("mlp_hidden", 65536)):
            if not 1 <= getattr(self, name) <= most:
                raise SSLRError(f"--gen-opt {name}={getattr(self, name)}: must be in 1..{most}")
        if not self.epsilon >= 0:
            raise SSLRError(f"--gen-opt epsilon={self.epsilon}: must be >= 0")
        if self.trunk_blocks not in (1, 2, 3, 4):
            raise SSLRError(f"--gen-opt trunk_blocks={self.trunk_blocks}: choose 1 to 4")
        return self
