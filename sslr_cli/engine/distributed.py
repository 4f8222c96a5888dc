"""Single-process and torchrun (DDP) launch of the training loop."""

from __future__ import annotations

from sslr_cli.engine.train import TrainResult, train


def launch_training(**kwargs) -> TrainResult | None:
    """Run ``engine.train.train`` in this process. Returns None on non-zero ranks."""
    return train(**kwargs)
