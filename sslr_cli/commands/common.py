"""Shared pieces of the CLI: error handling, consoles, JSON output, progress bars."""

from __future__ import annotations

import functools
import json
import sys
import time
from typing import Any, Callable

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

# Options every command declares the same way (`device: DeviceOption = "auto"`), declared once in options.py
from sslr_cli.commands.options import DeviceOption, InnerStepsOption, QuietOption  # noqa: F401
from sslr_cli.errors import SSLRError
from sslr_cli.jsonsafe import json_safe

# Results go to stdout; progress and errors to stderr, so `--json` output stays clean for scripts.
out = Console()
err = Console(stderr=True)

def user_errors(fn: Callable) -> Callable:
    """Turn SSLRError into a one-line message on stderr and exit code 2 (no traceback)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except SSLRError as exc:
            typer.echo(f"Error: {exc}", err=True)
            raise typer.Exit(2) from None

    return wrapper


def use_threads(requested: int | None) -> int:
    """--threads (else $SSLR_THREADS) in force for the command's computing, set once at the start of its work;
    a bad value is an SSLRError (a one-line error). Returns the count in force."""
    from sslr_cli.engine.threads import configure_threads

    try:
        return configure_threads(requested)
    except ValueError as exc:
        raise SSLRError(str(exc)) from None


def print_json(payload: Any) -> None:
    """Machine-readable results on stdout (NaN/inf become null: JSON has no such numbers)."""
    sys.stdout.write(json.dumps(json_safe(payload), indent=2) + "\n")
    sys.stdout.flush()


class LogProgress(Progress):
    """A Progress that, instead of redrawing a bar, writes plain lines: at its first advance, then at most
    one every ``interval`` seconds, and at its completion (nothing for a task that never advances, so a
    command that fails early still prints one line, its error). For logs and pipes, where a
    live bar shows nothing until the end (``sslr train ... 2>&1 | tee log``)."""

    def __init__(self, *columns, interval: float = 10.0, stream=None, **kwargs) -> None:
        super().__init__(*columns, **{**kwargs, "disable": True})
        self.interval = interval
        self.stream = stream
        self._last: dict = {}

    def _line(self, task_id) -> None:
        t = self._tasks[task_id]
        done = f"{t.completed:.0f}/{t.total:.0f}" if t.total else f"{t.completed:.0f}"
        info = t.fields.get("info", "")
        stream = self.stream or sys.stderr
        stream.write(f"[{time.strftime('%H:%M:%S')}] {t.description}: {done}{'  ' + info if info else ''}\n")
        stream.flush()
        self._last[task_id] = time.monotonic()

    def update(self, task_id, *args, **kwargs) -> None:
        super().update(task_id, *args, **kwargs)
        self._maybe(task_id)

    def advance(self, task_id, advance: float = 1) -> None:
        super().advance(task_id, advance)
        self._maybe(task_id)

    def _maybe(self, task_id) -> None:
        t = self._tasks[task_id]
        finished = t.total is not None and t.completed >= t.total and not self._last.get(("done", task_id))
        if finished:
            self._last[("done", task_id)] = True
        last = self._last.get(task_id)
        if t.completed > 0 and (finished or last is None or time.monotonic() - last >= self.interval):
            self._line(task_id)


def progress_bar(transient: bool = True, disable: bool = False) -> Progress:
    """A live bar on stderr; plain log lines instead when stderr or stdout is not a terminal."""
    # sys.__stdout__: the process's own stdout, also while `sslr reproduce` captures a command's output
    stdout = sys.__stdout__
    if not disable and not (err.is_terminal and stdout is not None and stdout.isatty()):
        return LogProgress(TextColumn("{task.description}"), console=err)
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=transient,
        disable=disable,
    )
