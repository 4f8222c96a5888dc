"""Loading the reconstruction checkpoints that the analysis commands compare, with readable labels."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from sslr_cli.config import RunConfig, check_r
from sslr_cli.engine.checkpoint import checkpoint_file, checkpoint_r, load_model
from sslr_cli.engine.device import resolve_device
from sslr_cli.errors import SSLRError
from sslr_cli.models.generator import AtR
from sslr_cli.models.registry import short_label


@dataclass
class LoadedModel:
    """A SetAutoencoder in eval mode at its r (``model(x)`` refines ``inner_steps`` steps: the model is
    wrapped in ``AtR``, which passes r on every call), its config, where it came from and how tables name it."""

    path: Path  # the checkpoint file actually read
    label: str  # "SRN <run>", unique among the checkpoints of one command
    model: torch.nn.Module
    config: RunConfig
    inner_steps: int | None = None  # r the model refines with here (None: no SSLR-SRN refinement)
    r_source: str = ""  # "the run's r" (in force at the checkpoint) or "--inner-steps"

    @property
    def generator(self) -> str:
        return self.config.model.generator


def inner_steps_note(models: list[LoadedModel]) -> str:
    """A table caption saying which r each SSLR-SRN model was evaluated at."""
    srn = [m for m in models if m.inner_steps is not None]
    if not srn:
        return ""
    return "SRN refinement steps: " + "; ".join(f"{m.label}: r = {m.inner_steps} ({m.r_source})" for m in srn)


def run_name(path: Path) -> str:
    """A run directory's name for ``runs/x/best.pt`` or ``runs/x``; the file stem otherwise."""
    path = Path(path)
    if path.is_dir():
        return path.resolve().name
    if path.name in ("best.pt", "last.pt"):
        parent = path.resolve().parent.name
        return parent if path.name == "best.pt" else f"{parent}/last"
    return path.stem


def load_reconstruction_model(path: str | Path, device: torch.device | str = "cpu",
                              r: int | None = None) -> tuple[torch.nn.Module, RunConfig, Path]:
    """(model in eval mode, config, file) from a checkpoint or run directory of ``--task reconstruct``;
    SSLR-SRN at ``r``, by default at the r in force at the checkpoint (``AtR`` passes it on every call)."""
    model, cfg, state = load_model(path, device, task="reconstruct")
    return AtR(model, checkpoint_r(cfg, state) if r is None else r), cfg, checkpoint_file(path)


def load_models(paths: list[Path], device: torch.device | str = "cpu", r: int | None = None) -> list[LoadedModel]:
    """Load every checkpoint; labels are "<GENERATOR> <run name>", made unique with "#2", "#3".

    ``r``: r for every SSLR-SRN model (``--inner-steps``); default: each checkpoint's r in force.
    """
    if not paths:
        raise SSLRError("CKPT: give at least one checkpoint file or run directory")
    if r is not None:
        check_r(r)
    dev = device if isinstance(device, torch.device) else resolve_device(device)
    loaded: list[LoadedModel] = []
    seen: dict[str, int] = {}
    for p in paths:
        model, cfg, file = load_reconstruction_model(p, dev, r)
        label = f"{short_label(cfg.model.generator)} {run_name(Path(p))}"
        seen[label] = seen.get(label, 0) + 1
        if seen[label] > 1:
            label = f"{label} #{seen[label]}"
        srn = getattr(model.encoder, "refiner", None) is not None
        loaded.append(LoadedModel(file, label, model, cfg, model.r if srn else None,
                                  "--inner-steps" if r is not None else "the run's r"))
    sizes = {m.config.model.image_size for m in loaded}
    if len(sizes) > 1:
        raise SSLRError(f"CKPT: the checkpoints work on different image sizes ({', '.join(map(str, sorted(sizes)))}); compare models of one size")
    return loaded
