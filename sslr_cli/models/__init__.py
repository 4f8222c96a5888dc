"""Pure ``torch.nn`` models: image encoders (H_embed, H_set), set generators G (``registry.GENERATORS``:
SSLR-MLP, SSLR-SRN), set aggregators (H_agg with FSPool) and task heads (F_reconstruct, F_match). No I/O here.

The names below are imported on first use (PEP 562), so that importing ``sslr_cli.models.registry`` (the CLI
does, for ``--generator``'s help) does not import torch."""

from __future__ import annotations

import importlib

_EXPORTS = {
    "ModelConfig": "sslr_cli.config",
    "SetAutoencoder": "sslr_cli.models.autoencoder",
    "Reconstruction": "sslr_cli.models.decoder",
    "compose": "sslr_cli.models.decoder",
    "FSPool": "sslr_cli.models.fspool",
    "SetEncoding": "sslr_cli.models.generator",
    "SetGenerator": "sslr_cli.models.generator",
    "SetRefiner": "sslr_cli.models.refiner",
    "GENERATORS": "sslr_cli.models.registry",
    "GeneratorSpec": "sslr_cli.models.registry",
    "build_generator": "sslr_cli.models.registry",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
