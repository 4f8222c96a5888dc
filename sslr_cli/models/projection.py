"""What H_set (``SetProjection``) demands of the shared settings, checked on the config alone (no torch)."""

from __future__ import annotations

from sslr_cli.config import ModelConfig
from sslr_cli.errors import SSLRError


def check_projection(cfg: ModelConfig) -> None:
    """H_set splits the trunk's flattened features into |S| equal groups."""
    if cfg.feature_count % cfg.set_size:
        raise SSLRError(
            f"--set-size {cfg.set_size}: the encoder's {cfg.feature_count} features do not split into "
            f"{cfg.set_size} equal groups (choose a divisor of {cfg.feature_count})"
        )
