"""A run directory: ``config.json``, ``metrics.jsonl`` (one JSON line per logged step and per epoch),
``last.pt`` (where to resume) and ``best.pt`` (lowest validation loss).

Under DDP every rank holds a ``RunDir`` but only the writer (rank 0) touches the files. The writer holds an
advisory lock on the folder (``flock``) from ``prepare`` to the end of the run, so a second ``sslr train`` into
the same folder is refused instead of interleaving with the first; the run files are never written through a
symbolic link (a link in the folder is replaced or refused, its target left alone).
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
from pathlib import Path
from typing import Any

import torch

from sslr_cli.atomic import atomic_path, make_folder
from sslr_cli.jsonsafe import strict_record
from sslr_cli.config import RunConfig
from sslr_cli.engine.checkpoint import read_checkpoint, save_checkpoint
from sslr_cli.errors import SSLRError

RUN_FILES = ("config.json", "metrics.jsonl", "last.pt", "best.pt")
_LOCKED: dict[str, list[int]] = {}  # run folders this process holds the lock of: real path -> [descriptor, users]


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
    if path.is_symlink():
        raise SSLRError(f"{path}: is a symbolic link; sslr does not write run files through links")
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
        self._lock: str | None = None  # the folder's key in _LOCKED while this object holds its lock
        self.lines = 0  # complete lines in metrics.jsonl (checkpoints store it: resume cuts back to it)

    def lock(self, option: str = "--out") -> None:
        """Take the folder's advisory lock (held until ``unlock`` or the process ends)."""
        if not self.writer or self._lock is not None:
            return
        key = os.path.realpath(self.path)
        if key in _LOCKED:  # this process holds it already (one run after another in one process)
            _LOCKED[key][1] += 1
            self._lock = key
            return
        fd = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise SSLRError(f"{option} {self.path}: another process is training into this run directory now") from None
        _LOCKED[key] = [fd, 1]
        self._lock = key

    def unlock(self) -> None:
        if self._lock is not None:
            held = _LOCKED[self._lock]
            held[1] -= 1
            if held[1] == 0:
                os.close(held[0])
                del _LOCKED[self._lock]
            self._lock = None

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
            self.lock("--resume: --out")
            for stale in self.path.glob(".*.pt.tmp"):  # a checkpoint being written when the process was killed
                stale.unlink(missing_ok=True)
            return
        if self.path.exists() and not self.path.is_dir():
            raise SSLRError(f"--out {self.path}: exists and is not a directory")
        make_folder(self.path, f"--out {self.path}")
        self.lock()
        if any(self.path.iterdir()):
            if not force:
                raise SSLRError(f"--out {self.path}: run directory is not empty (use --resume to continue or --force to start over)")
            for name in (*RUN_FILES, *(p.name for p in self.path.glob("step-*.pt"))):  # --keep-every's
                (self.path / name).unlink(missing_ok=True)

    def trim_metrics(self, saved: dict[str, Any]) -> None:
        """On resume: cut metrics.jsonl back to the lines the checkpoint had seen (the steps about to be
        replayed log theirs again; a half-written last line of a killed run goes too)."""
        if self.writer:
            trim_metrics(self.path / "metrics.jsonl", saved.get("metrics_lines"), saved["step"])

    def write_config(self, cfg: RunConfig) -> None:
        if self.writer:  # atomically: a link named config.json is replaced, not written through
            with atomic_path(self.path / "config.json", force=True) as tmp:
                tmp.write_text(json.dumps(cfg.to_dict(), indent=2) + "\n")

    def __enter__(self) -> "RunDir":
        if self.writer:
            path = self.path / "metrics.jsonl"
            try:
                fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666)
            except OSError as exc:
                if exc.errno == errno.ELOOP:
                    raise SSLRError(f"{path}: is a symbolic link; sslr does not write run files through links") from None
                raise SSLRError(f"{path}: cannot open ({exc.strerror or exc})") from None
            self._metrics = os.fdopen(fd, "a")
            self.lines = count_lines(path)
        return self

    def __exit__(self, *exc) -> None:
        if self._metrics is not None:
            self._metrics.close()
            self._metrics = None
        self.unlock()

    def log(self, record: dict[str, Any]) -> None:
        """One metrics.jsonl line (flushed: a killed run keeps what it logged). Strict JSON: a NaN or infinite
        value is written as null, and the line names it under "nonfinite"."""
        self.history.append(record)
        if self._metrics is not None:
            self._metrics.write(json.dumps(strict_record(record), allow_nan=False) + "\n")
            self._metrics.flush()
            self.lines += 1

    def save(self, name: str, payload: dict[str, Any]) -> None:
        if self.writer:
            save_checkpoint(self.path / name, payload)

    def best_from_last(self) -> None:
        """Without validation the last weights are the best we know."""
        if self.writer:
            save_checkpoint(self.path / "best.pt", torch.load(self.path / "last.pt", weights_only=True))
