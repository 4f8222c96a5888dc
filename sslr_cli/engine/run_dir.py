"""A run directory: ``config.json``, ``metrics.jsonl`` (one JSON line per logged step and per epoch),
``last.pt`` (where to resume) and ``best.pt`` (lowest validation loss).

Under DDP every rank holds a ``RunDir`` but only the writer (rank 0) touches the files.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from sslr_cli.atomic import make_folder
from sslr_cli.config import RunConfig
from sslr_cli.engine.checkpoint import read_checkpoint, save_checkpoint
from sslr_cli.errors import SSLRError

RUN_FILES = ("config.json", "metrics.jsonl", "last.pt", "best.pt")


def count_lines(path: Path) -> int:
    """Complete (newline-terminated) lines of a file; 0 if it does not exist."""
    if not path.exists():
        return 0
    with path.open("rb") as f:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))


def trim_metrics(path: Path, keep_lines: int | None, step: int) -> int:
    """Cut ``metrics.jsonl`` back to what the checkpoint saw; return the number of lines dropped.

    ``keep_lines``: the line count stored in the checkpoint (exact). Checkpoints written before it
    was stored give None: then the lines past ``step`` go. Either way a half-written last line
    (no newline, or not JSON) goes too. The file is rewritten atomically.
    """
    if not path.exists():
        return 0
    raw = path.read_bytes()
    lines = raw.split(b"\n")
    complete = lines[:-1]  # the last piece is b"" for a whole file, or a half-written line
    if keep_lines is not None:
        kept = complete[:keep_lines]
    else:
        kept = []
        for line in complete:
            try:
                record = json.loads(line)
            except ValueError:
                break
            if record.get("step", 0) > step:
                break
            kept.append(line)
    text = b"".join(line + b"\n" for line in kept)
    if text != raw:
        tmp = path.with_name(f".{path.name}.trim")
        tmp.write_bytes(text)
        tmp.replace(path)
    return len(lines) - 1 - len(kept) + (1 if lines[-1] else 0)


class RunDir:
    def __init__(self, path: str | Path, writer: bool = True) -> None:
        self.path = Path(path)
        self.writer = writer
        self.history: list[dict[str, Any]] = []  # the records logged by this call of train()
        self._metrics = None
        self.lines = 0  # complete lines in metrics.jsonl (checkpoints store it: resume cuts back to it)

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
            for stale in self.path.glob(".*.pt.tmp"):  # a checkpoint being written when the process was killed
                stale.unlink(missing_ok=True)
            return
        if self.path.exists() and not self.path.is_dir():
            raise SSLRError(f"--out {self.path}: exists and is not a directory")
        if self.path.exists() and any(self.path.iterdir()):
            if not force:
                raise SSLRError(f"--out {self.path}: run directory is not empty (use --resume to continue or --force to start over)")
            for name in (*RUN_FILES, *(p.name for p in self.path.glob("step-*.pt"))):  # --keep-every's
                (self.path / name).unlink(missing_ok=True)
        make_folder(self.path, f"--out {self.path}")

    def trim_metrics(self, saved: dict[str, Any]) -> None:
        """On resume: cut metrics.jsonl back to the lines the checkpoint had seen (the steps about to be
        replayed log theirs again; a half-written last line of a killed run goes too)."""
        if self.writer:
            trim_metrics(self.path / "metrics.jsonl", saved.get("metrics_lines"), saved["step"])

    def write_config(self, cfg: RunConfig) -> None:
        if self.writer:
            (self.path / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2) + "\n")

    def __enter__(self) -> "RunDir":
        if self.writer:
            self._metrics = (self.path / "metrics.jsonl").open("a")
            self.lines = count_lines(self.path / "metrics.jsonl")
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
            self.lines += 1

    def save(self, name: str, payload: dict[str, Any]) -> None:
        if self.writer:
            save_checkpoint(self.path / name, payload)

    def best_from_last(self) -> None:
        """Without validation the last weights are the best we know."""
        if self.writer:
            save_checkpoint(self.path / "best.pt", torch.load(self.path / "last.pt", weights_only=True))
