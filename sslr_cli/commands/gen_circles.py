"""`sslr gen-data circles` and `sslr gen-data isocircles`: the paper's Circles Dataset and set-matching pairs
(``data/circles.py``). Their help lines are their kinds' (``data/registry.py``)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from sslr_cli.commands.common import QuietOption, user_errors
from sslr_cli.commands.gen_common import OUT_ARG, generate_file
from sslr_cli.errors import SSLRError


def _counts(count: Optional[int], min_count: Optional[int], max_count: Optional[int], default: tuple[int, int]) -> tuple[int, int]:
    if count is not None and (min_count is not None or max_count is not None):
        raise SSLRError("--count: give either --count or --min-count/--max-count, not both")
    if count is not None:
        if count < 0:
            raise SSLRError(f"--count {count}: must be >= 0")
        return count, count
    return (default[0] if min_count is None else min_count, default[1] if max_count is None else max_count)

@user_errors
def circles(
    out_path: Path = OUT_ARG,
    n: int = typer.Option(64000, "--n", help="Number of images (the paper: 64000 train, 4000 test: make two files with different seeds)."),
    count: Optional[int] = typer.Option(None, "--count", help="Exactly this many circles per image (Table 1 uses 1000 images for each of 1..5)."),
    min_count: Optional[int] = typer.Option(None, "--min-count", help="Fewest circles per image (default 0)."),
    max_count: Optional[int] = typer.Option(None, "--max-count", help="Most circles per image (default 10)."),
    min_radius: int = typer.Option(1, "--min-radius", help="Smallest radius in pixels."),
    max_radius: int = typer.Option(11, "--max-radius", help="Largest radius in pixels."),
    size: int = typer.Option(64, "--size", help="Image side in pixels."),
    seed: int = typer.Option(0, "--seed", help="Random seed; the same seed gives byte-identical images."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing output file."),
    quiet: QuietOption = False,
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Options -> ``circles_chunks`` -> the file (the help line: ``data/circles.py`` ``CIRCLES``)."""
    lo, hi = _counts(count, min_count, max_count, (0, 10))
    from sslr_cli.data.circles import CircleSpec, circles_chunks

    spec = CircleSpec(size=size, min_count=lo, max_count=hi, min_radius=min_radius, max_radius=max_radius)
    spec.validate()
    if n < 1:
        raise SSLRError(f"--n {n}: need at least one image")
    generate_file("circles", out_path, n, force, quiet, as_json, lambda k, adv: circles_chunks(k, spec, seed, adv))


@user_errors
def isocircles(
    out_path: Path = OUT_ARG,
    n: int = typer.Option(64000, "--n", help="Number of image pairs (the paper: 64000 train, 4000 test)."),
    count: int = typer.Option(2, "--count", help="Circles per image (the paper: 2)."),
    min_radius: int = typer.Option(1, "--min-radius", help="Smallest radius in pixels."),
    max_radius: int = typer.Option(11, "--max-radius", help="Largest radius in pixels."),
    size: int = typer.Option(64, "--size", help="Image side in pixels."),
    seed: int = typer.Option(0, "--seed", help="Random seed; the same seed gives byte-identical pairs."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing output file."),
    quiet: QuietOption = False,
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Options -> ``isocircles_chunks`` -> the file (the help line: ``data/circles.py`` ``ISOCIRCLES``)."""
    if count < 1:
        raise SSLRError(f"--count {count}: need at least one circle per image")
    from sslr_cli.data.circles import CircleSpec, isocircles_chunks

    spec = CircleSpec(size=size, min_count=count, max_count=count, min_radius=min_radius, max_radius=max_radius)
    spec.validate()
    if n < 1:
        raise SSLRError(f"--n {n}: need at least one pair")
    generate_file("isocircles", out_path, n, force, quiet, as_json, lambda k, adv: isocircles_chunks(k, count, spec, seed, adv))
