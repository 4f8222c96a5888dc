"""Checkpoints: written atomically, read with ``weights_only=True`` (files from elsewhere are untrusted);
``load_model``, the one way the package turns a checkpoint into a model."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import pickle
import warnings
from pathlib import Path
from typing import Any

import torch

from sslr_cli.config import ModelConfig, RunConfig, TrainConfig
from sslr_cli.atomic import atomic_path
from sslr_cli.engine.device import resolve_device
from sslr_cli.engine.tasks import get_task
from sslr_cli.errors import SSLRError

from sslr_cli.engine.formats import FORMAT, VERSION  # noqa: E402  (the tags, shared with engine/weights.py)


DIGEST = "sha256"  # the checkpoint's own digest of everything else it holds (damage shows on reading)


def _feed(h, value: Any, where: str) -> None:
    """Everything of ``value`` in a fixed order: tensors as dtype, shape and bytes, other leaves as repr."""
    if torch.is_tensor(value):
        t = value.detach().cpu().contiguous()
        h.update(f"{where}:{t.dtype}:{tuple(t.shape)}:".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    elif isinstance(value, dict):
        for key in sorted(value, key=repr):
            _feed(h, value[key], f"{where}/{key!r}")
    elif isinstance(value, (list, tuple)):
        h.update(f"{where}:{type(value).__name__}{len(value)}".encode())
        for i, item in enumerate(value):
            _feed(h, item, f"{where}[{i}]")
    else:
        h.update(f"{where}={value!r};".encode())


def payload_digest(payload: dict[str, Any]) -> str:
    h = hashlib.sha256()
    _feed(h, {k: v for k, v in payload.items() if k != DIGEST}, "")
    return h.hexdigest()


def save_checkpoint(path: str | os.PathLike, payload: dict[str, Any]) -> None:
    """Write ``payload`` (plus format tags and its digest) to ``path`` through a temporary file and a rename."""
    payload = {"format": FORMAT, "version": VERSION, **payload}
    payload[DIGEST] = payload_digest(payload)
    with atomic_path(path, force=True, suffix=".pt.tmp") as tmp:
        try:
            torch.save(payload, tmp)
        except RuntimeError as exc:  # torch's writer reports a full disk as a RuntimeError ("unexpected pos ...")
            raise OSError(f"torch.save failed: {str(exc).splitlines()[0][:120]}") from None


# the annotation (a string: PEP 563) of each config field -> the JSON types it accepts
_JSON_TYPES = {"int": (int,), "float": (int, float), "str": (str,), "bool": (bool,), "dict": (dict,),
               "tuple[str, ...]": (list, tuple)}


def check_config_types(config: Any) -> None:
    """Each field of a checkpoint's config has its field's type (a crafted or damaged file fails here, in one
    line, instead of deep inside the model). Unknown keys are left to ``RunConfig.from_dict``."""
    if not isinstance(config, dict):
        raise SSLRError(f"checkpoint config: expected a mapping, got {type(config).__name__}")
    for section, cls in (("model", ModelConfig), ("train", TrainConfig)):
        values = config.get(section, {})
        if not isinstance(values, dict):
            raise SSLRError(f"checkpoint config {section}: expected a mapping, got {type(values).__name__}")
        for f in dataclasses.fields(cls):
            if f.name not in values:
                continue
            value, accepted = values[f.name], _JSON_TYPES.get(str(f.type))
            wrong = accepted is not None and (not isinstance(value, accepted) or
                                              (isinstance(value, bool) and bool not in accepted))
            if wrong or (f.type == "tuple[str, ...]" and not all(isinstance(v, str) for v in value)):
                raise SSLRError(f"checkpoint config {section}.{f.name}: {value!r} is not of type {f.type}")
    for key in ("preset",):
        if key in config and not isinstance(config[key], str):
            raise SSLRError(f"checkpoint config {key}: {config[key]!r} is not text")
    if not isinstance(config.get("extra", {}), dict):
        raise SSLRError("checkpoint config extra: expected a mapping")


def _check_payload(path: Path, payload: dict[str, Any]) -> None:
    """The fields every command reads, of the types it reads them as; the digest, where the file has one."""
    if DIGEST in payload and payload[DIGEST] != payload_digest(payload):
        raise SSLRError(f"{path}: its contents do not match the digest written with them (the file is damaged)")
    model = payload["model"]
    if not isinstance(model, dict) or not all(isinstance(k, str) and torch.is_tensor(v)
                                                           for k, v in model.items()):
        raise SSLRError(f"{path}: checkpoint 'model' is not a mapping of parameter names to tensors")
    for key in ("epoch", "batch", "step"):
        if key in payload and (not isinstance(payload[key], int) or isinstance(payload[key], bool) or payload[key] < 0):
            raise SSLRError(f"{path}: checkpoint {key!r} is {payload[key]!r}, expected a count >= 0")
    optimizer = payload.get("optimizer")
    if optimizer is not None and not (isinstance(optimizer, dict) and isinstance(optimizer.get("state"), dict)
                                      and isinstance(optimizer.get("param_groups"), list) and optimizer["param_groups"]):
        raise SSLRError(f"{path}: checkpoint 'optimizer' is not an optimizer state (state and param_groups)")
    try:
        check_config_types(payload["config"])
    except SSLRError as exc:
        raise SSLRError(f"{path}: {exc}") from None


def read_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load and check a checkpoint; every problem becomes one ``SSLRError`` naming the file."""
    from sslr_cli.engine.weights import read_weights, shipped_note, weights_file  # .safetensors and shipped names

    if weights_file(path) is not None:
        return read_weights(weights_file(path), map_location)
    path = Path(path)
    if not path.exists():
        raise SSLRError(f"{path}: no such checkpoint{shipped_note()}")
    if path.is_dir():
        if checkpoint_file(path) == path:
            raise SSLRError(f"{path}: run directory has no best.pt or last.pt")
        path = checkpoint_file(path)
    try:
        with warnings.catch_warnings():  # torch's own advice (reload with weights_only=False) is wrong for a
            warnings.simplefilter("ignore")  # file from elsewhere: it would run the file's code
            payload = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        if "global" in str(exc).lower():  # a pickled object that would run code when loaded: say so, not torch's advice
            raise SSLRError(f"{path}: not a loadable sslr checkpoint: refused, it holds Python objects other than "
                            f"tensors and plain values (code would run on loading); sslr loads weights only") from None
        raise SSLRError(f"{path}: not a loadable sslr checkpoint (not a torch checkpoint file)") from None
    except Exception as exc:  # zip errors, truncation: all mean "not ours"
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SSLRError(f"{path}: not a loadable sslr checkpoint ({first[:160]})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise SSLRError(f"{path}: not an sslr checkpoint (no '{FORMAT}' tag)")
    if payload.get("version") != VERSION:
        raise SSLRError(f"{path}: checkpoint version {payload.get('version')!r}, this sslr reads {VERSION}")
    for key in ("config", "model"):
        if key not in payload:
            raise SSLRError(f"{path}: checkpoint lacks {key!r}")
    _check_payload(path, payload)
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
    """The file ``read_checkpoint`` reads for ``path`` (a run directory's best.pt, else last.pt; the file a
    shipped weights name stands for)."""
    from sslr_cli.engine.weights import weights_file

    if weights_file(path) is not None:
        return weights_file(path)
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
