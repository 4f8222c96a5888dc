"""Checkpoints: written atomically, read with ``weights_only=True`` (files from elsewhere are untrusted)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from sslr_cli.config import RunConfig
from sslr_cli.data.store import atomic_path
from sslr_cli.errors import SSLRError

FORMAT = "sslr-checkpoint"
VERSION = 1


def save_checkpoint(path: str | os.PathLike, payload: dict[str, Any]) -> None:
    """Write ``payload`` (plus format tags) to ``path`` through a temporary file and a rename."""
    payload = {"format": FORMAT, "version": VERSION, **payload}
    with atomic_path(path, force=True, suffix=".pt.tmp") as tmp:
        torch.save(payload, tmp)


def read_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load and check a checkpoint; every problem becomes one ``SSLRError`` naming the file."""
    path = Path(path)
    if not path.exists():
        raise SSLRError(f"{path}: no such checkpoint")
    if path.is_dir():
        for name in ("best.pt", "last.pt"):
            if (path / name).exists():
                return read_checkpoint(path / name, map_location)
        raise SSLRError(f"{path}: run directory has no best.pt or last.pt")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # pickle errors, zip errors, unsafe globals: all mean "not ours"
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SSLRError(f"{path}: not a loadable sslr checkpoint ({first[:160]})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise SSLRError(f"{path}: not an sslr checkpoint (no '{FORMAT}' tag)")
    if payload.get("version") != VERSION:
        raise SSLRError(f"{path}: checkpoint version {payload.get('version')!r}, this sslr reads {VERSION}")
    for key in ("config", "model"):
        if key not in payload:
            raise SSLRError(f"{path}: checkpoint lacks {key!r}")
    return payload


def checkpoint_config(payload: dict[str, Any]) -> RunConfig:
    return RunConfig.from_dict(payload["config"])
