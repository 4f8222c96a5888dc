"""Checkpoints: written atomically, read with ``weights_only=True`` (files from elsewhere are untrusted);
``load_model``, the one way the package turns a checkpoint into a model."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from sslr_cli.config import RunConfig
from sslr_cli.atomic import atomic_path
from sslr_cli.engine.device import resolve_device
from sslr_cli.engine.tasks import get_task
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
        if checkpoint_file(path) == path:
            raise SSLRError(f"{path}: run directory has no best.pt or last.pt")
        path = checkpoint_file(path)
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


def checkpoint_r(cfg: RunConfig, payload: dict[str, Any]) -> int:
    """The r in force at a checkpoint: that of its latest training step (stored as ``inner_steps`` since
    learning curves came in), else the schedule's at its epoch (``RunConfig.r_at``). For a finished run whose
    schedule moves r to ``late_inner_steps`` (the paper: 10 -> 20), that is the late r, at which the paper
    evaluates. The analysis commands evaluate at it by passing it to the model (``models.generator.AtR``)."""
    if payload.get("inner_steps") is not None:
        return int(payload["inner_steps"])
    return cfg.r_at(int(payload.get("epoch", 0)))


def checkpoint_file(path: str | os.PathLike) -> Path:
    """The file ``read_checkpoint`` reads for ``path`` (a run directory's best.pt, else last.pt)."""
    path = Path(path)
    if path.is_dir():
        for name in ("best.pt", "last.pt"):
            if (path / name).exists():
                return path / name
    return path


def load_model(path: str | os.PathLike, device: str | torch.device = "cpu",
               task: str | None = None) -> tuple[torch.nn.Module, RunConfig, dict[str, Any]]:
    """A ready model (in eval mode) from a checkpoint or run directory: (model, config, checkpoint).

    Called without r, SSLR-SRN refines with its config's ``inner_steps``; to evaluate at the r in force at
    the checkpoint, pass ``checkpoint_r(config, checkpoint)`` on each call (or wrap: ``AtR(model, r)``).

    ``task``: the task the caller needs; a checkpoint of another task fails with a message that
    names both (checked before the model is built, so not as a shape mismatch).
    """
    dev = device if isinstance(device, torch.device) else resolve_device(device)
    state = read_checkpoint(path, map_location=dev)
    try:
        cfg = checkpoint_config(state)
    except SSLRError as exc:
        raise SSLRError(f"{checkpoint_file(path)}: {exc}") from None
    except (TypeError, ValueError, AttributeError) as exc:
        raise SSLRError(f"{checkpoint_file(path)}: checkpoint config is not readable ({str(exc)[:120]})") from None
    if task is not None and cfg.train.task != task:
        raise SSLRError(f"{path}: a {cfg.train.task!r} checkpoint; this command needs one trained with --task {task}")
    try:
        model = get_task(cfg.train.task).build_model(cfg)
    except SSLRError as exc:
        raise SSLRError(f"{checkpoint_file(path)}: {exc}") from None
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as exc:
        raise SSLRError(f"{path}: weights do not fit the model its config describes ({str(exc).splitlines()[0][:120]})") from None
    return model.to(dev).eval(), cfg, state
