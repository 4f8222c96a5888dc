"""A run directory: ``config.json``, ``metrics.jsonl`` (one JSON line per logged step and per epoch),
``last.pt`` (where to resume) and ``best.pt`` (lowest validation loss).

Under DDP every rank holds a ``RunDir`` but only the writer (rank 0) touches the files.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from sslr_cli.config import RunConfig
from sslr_cli.engine.checkpoint import read_checkpoint, save_checkpoint
from sslr_cli.errors import SSLRError

RUN_FILES = ("config.json", "metrics.jsonl", "last.pt", "best.pt")


class RunDir:
    def __init__(self, path: str | Path, writer: bool = True) -> None:
        self.path = Path(path)
        self.writer = writer
        self.history: list[dict[str, Any]] = []  # the records logged by this call of train()
        self._metrics = None

    def read_last(self) -> dict[str, Any]:
        """The checkpoint to resume from."""
        if not (self.path / "last.pt").exists():
            raise SSLRError(f"--resume: {self.path} has no last.pt to resume from")
        return read_checkpoint(self.path / "last.pt")

    def prepare(self, resume: bool, force: bool) -> None:
        """Check (resume) or create (new run) the directory; --force clears a previous run's files."""
        if resume:
            if not (self.path / "last.pt").exists():
                raise SSLRError(f"--resume: {self.path} has no last.pt to resume from")
            return
        if self.path.exists() and not self.path.is_dir():
            raise SSLRError(f"--out {self.path}: exists and is not a directory")
        if self.path.exists() and any(self.path.iterdir()):
            if not force:
                raise SSLRError(f"--out {self.path}: run directory is not empty (use --resume to continue or --force to start over)")
            for name in RUN_FILES:
                (self.path / name).unlink(missing_ok=True)
        self.path.mkdir(parents=True, exist_ok=True)

    def write_config(self, cfg: RunConfig) -> None:
        if self.writer:
            (self.path / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2) + "\n")

    def __enter__(self) -> "RunDir":
        if self.writer:
            self._metrics = (self.path / "metrics.jsonl").open("a")
        return self

    def __exit__(self, *exc) -> None:
        if self._metrics is not None:
            self._metrics.close()
            self._metrics = None

    def log(self, record: dict[str, Any]) -> None:
        """One metrics.jsonl line (flushed: a killed run keeps what it logged)."""
        self.history.append(record)
        if self._metrics is not None:
            self._metrics.write(json.dumps(record) + "\n")
            self._metrics.flush()

    def save(self, name: str, payload: dict[str, Any]) -> None:
        if self.writer:
            save_checkpoint(self.path / name, payload)

    def best_from_last(self) -> None:
        """Without validation the last weights are the best we know."""
        if self.writer:
            save_checkpoint(self.path / "best.pt", torch.load(self.path / "last.pt", weights_only=True))
