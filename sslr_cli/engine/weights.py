"""Released weights: a model's tensors in a ``.safetensors`` file, its config as JSON metadata.

No pickle and no optimizer state: ``safetensors`` stores raw tensors and a string-to-string header,
so loading a file from elsewhere runs no code. The header holds

- ``format`` = ``sslr-weights``, ``version`` = ``1``
- ``config``: ``RunConfig.to_dict()`` as JSON (validated with ``RunConfig.from_dict(...).validate()``)
- ``inner_steps``: the r in force when the weights were taken (SSLR-SRN is evaluated at it), or ``""``
- ``step``, ``source`` (the run directory's name), ``sslr_version``: a record

``sslr export RUN --to FILE.safetensors`` writes one (``save_weights``); every command that loads a
checkpoint reads one through ``engine.checkpoint.read_checkpoint`` (``weights_file`` tells it when),
and the names of the files shipped in ``sslr_cli/weights/`` (``tiny-srn``, ``tiny-mlp``) stand for them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from sslr_cli.errors import SSLRError

FORMAT = "sslr-weights"
VERSION = 1
SUFFIX = ".safetensors"
SHIPPED_DIR = Path(__file__).resolve().parents[1] / "weights"


def shipped_weights() -> dict[str, Path]:
    """The weights shipped with the package, by name (the file's stem): ``{"tiny-srn": .../tiny-srn.safetensors}``."""
    if not SHIPPED_DIR.is_dir():
        return {}
    return {p.name[: -len(SUFFIX)]: p for p in sorted(SHIPPED_DIR.glob(f"*{SUFFIX}"))}


def weights_file(path: str | os.PathLike) -> Path | None:
    """The ``.safetensors`` file ``path`` stands for: itself when it has that suffix, a shipped file when it is
    a shipped name and no file or folder of that name exists here; None for a checkpoint or run directory."""
    text = os.fspath(path)
    if text.endswith(SUFFIX):
        return Path(text)
    if not Path(text).exists():
        shipped = shipped_weights()
        if text in shipped:
            return shipped[text]
    return None


def shipped_note() -> str:
    """", or a shipped name (...)" for error messages about a missing checkpoint."""
    names = list(shipped_weights())
    return f" (nor one of the shipped weights: {', '.join(names)})" if names else ""


def save_weights(path: str | os.PathLike, state: dict[str, Any], config: dict[str, Any], inner_steps: int | None,
                 step: int | None, source: str, force: bool = False) -> Path:
    """Write the model tensors of ``state`` and the config (a ``RunConfig.to_dict()``) to ``path`` atomically."""
    import torch
    from safetensors.torch import save_file

    from sslr_cli import __version__
    from sslr_cli.atomic import atomic_path

    path = Path(path)
    if not path.name.endswith(SUFFIX):
        raise SSLRError(f"--to {path}: the file name must end in {SUFFIX}")
    # clone: safetensors refuses tensors that share memory, and writes contiguous ones only
    tensors = {k: v.detach().to("cpu").clone().contiguous() for k, v in state.items() if isinstance(v, torch.Tensor)}
    metadata = {"format": FORMAT, "version": str(VERSION), "config": json.dumps(config, sort_keys=True),
                "inner_steps": "" if inner_steps is None else str(int(inner_steps)),
                "step": "" if step is None else str(int(step)), "source": source, "sslr_version": __version__}
    with atomic_path(path, force=force, suffix=".safetensors.tmp") as tmp:
        mode = tmp.stat().st_mode  # safetensors writes a new file (mode 0600): keep the mode atomic_path gave
        save_file(tensors, str(tmp), metadata=metadata)
        os.chmod(tmp, mode & 0o777)
    return path


def read_metadata(path: Path) -> dict[str, str]:
    """The header of a ``.safetensors`` file, checked for the sslr tags (one SSLRError naming the file otherwise)."""
    from safetensors import safe_open

    if not path.exists():
        raise SSLRError(f"{path}: no such weights file{shipped_note()}")
    if path.is_dir():
        raise SSLRError(f"{path}: is a directory, expected a .safetensors file")
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
    except Exception as exc:  # SafetensorError, header JSON errors, truncated files: all mean "not readable"
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SSLRError(f"{path}: not a readable .safetensors file ({first[:160]})") from None
    if metadata.get("format") != FORMAT:
        raise SSLRError(f"{path}: not sslr weights (no '{FORMAT}' tag in its metadata; "
                        "write one with 'sslr export RUN --to FILE.safetensors')")
    if metadata.get("version") != str(VERSION):
        raise SSLRError(f"{path}: weights version {metadata.get('version')!r}, this sslr reads {VERSION}")
    return metadata


def read_weights(path: str | os.PathLike, map_location: Any = "cpu") -> dict[str, Any]:
    """A payload shaped like ``read_checkpoint``'s (``config``, ``model``, ``inner_steps``, ``step``) from a
    ``.safetensors`` file; the config is validated before any tensor is read."""
    from safetensors.torch import load_file

    from sslr_cli.config import RunConfig
    from sslr_cli.engine.formats import FORMAT as CHECKPOINT_FORMAT, VERSION as CHECKPOINT_VERSION

    path = Path(path)
    metadata = read_metadata(path)
    try:
        config = json.loads(metadata.get("config", ""))
    except json.JSONDecodeError:
        raise SSLRError(f"{path}: its 'config' metadata is not JSON") from None
    try:
        RunConfig.from_dict(config).validate()
    except SSLRError as exc:
        raise SSLRError(f"{path}: {exc}") from None
    except (TypeError, ValueError, AttributeError) as exc:
        raise SSLRError(f"{path}: its config is not readable ({str(exc)[:120]})") from None
    device = str(map_location) if not isinstance(map_location, str) else map_location
    try:
        tensors = load_file(str(path), device=device)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SSLRError(f"{path}: cannot read its tensors ({first[:160]})") from None
    r, step = metadata.get("inner_steps", ""), metadata.get("step", "")
    return {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, "config": config, "model": tensors,
            "inner_steps": int(r) if r else None, "step": int(step) if step else 0, "weights_file": str(path),
            "source": metadata.get("source", "")}
