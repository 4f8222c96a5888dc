"""Shared pieces of the CLI: error handling, consoles, JSON output, progress bars."""

from __future__ import annotations

import functools
import json
import math
import sys
from typing import Annotated, Any, Callable, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from sslr_cli.errors import SSLRError

# Results go to stdout; progress and errors to stderr, so `--json` output stays clean for scripts.
out = Console()
err = Console(stderr=True)

# Options every command declares the same way: `device: DeviceOption = "auto"`, `quiet: QuietOption = False`.
DeviceOption = Annotated[str, typer.Option("--device", help="auto (CUDA when available), cpu or cuda.")]
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")]
InnerStepsOption = Annotated[Optional[int], typer.Option(
    "--inner-steps", help="r, SSLR-SRN's refinement steps (default: the r in force at the checkpoint: a finished run "
    "whose schedule moves r to --late-inner-steps is evaluated at that r, as the paper does).")]


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


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # numpy / torch scalars
        return _clean(value.item())
    return value


def print_json(payload: Any) -> None:
    """Machine-readable results on stdout (NaN/inf become null: JSON has no such numbers)."""
    sys.stdout.write(json.dumps(_clean(payload), indent=2) + "\n")
    sys.stdout.flush()


def progress_bar(transient: bool = True, disable: bool = False) -> Progress:
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
