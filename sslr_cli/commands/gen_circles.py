"""`sslr gen-data circles` and `sslr gen-data isocircles`: the paper's Circles Dataset and set-matching pairs
(``data/circles.py``, which checks the settings). Their help lines are their kinds' (``data/registry.py``)."""

from __future__ import annotations

from typing import Optional

from sslr_cli.commands import options as o
from sslr_cli.commands.common import user_errors
from sslr_cli.commands.gen_common import generate_file
from sslr_cli.errors import SSLRError


def _counts(count: Optional[int], min_count: Optional[int], max_count: Optional[int], default: tuple[int, int]) -> tuple[int, int]:
    if count is not None and (min_count is not None or max_count is not None):
        raise SSLRError("--count: give either --count or --min-count/--max-count, not both")
    if count is not None:
        return count, count
    return (default[0] if min_count is None else min_count, default[1] if max_count is None else max_count)


@user_errors
def circles(
    out_path: o.DatasetOut,
    n: o.Images = 64000,
    count: o.CircleCount = None,
    min_count: o.MinCount = None,
    max_count: o.MaxCount = None,
    min_radius: o.MinRadius = 1,
    max_radius: o.MaxRadius = 11,
    size: o.ImageSide = 64,
    seed: o.DataSeed = 0,
    force: o.OverwriteDataset = False,
    quiet: o.QuietOption = False,
    as_json: o.JsonOption = False,
) -> None:
    """Options -> ``circles_chunks`` -> the file (the help line: ``data/circles.py`` ``CIRCLES``)."""
    o.check_ranges({"--n": n, "--count": count})
    lo, hi = _counts(count, min_count, max_count, (0, 10))
    from sslr_cli.data.circles import CircleSpec, circles_chunks

    spec = CircleSpec(size=size, min_count=lo, max_count=hi, min_radius=min_radius, max_radius=max_radius)
    generate_file("circles", out_path, n, force, quiet, as_json, lambda k, adv: circles_chunks(k, spec, seed, adv))


@user_errors
def isocircles(
    out_path: o.DatasetOut,
    n: o.Images = 64000,
    count: o.PairCount = 2,
    min_radius: o.MinRadius = 1,
    max_radius: o.MaxRadius = 11,
    size: o.ImageSide = 64,
    seed: o.DataSeed = 0,
    force: o.OverwriteDataset = False,
    quiet: o.QuietOption = False,
    as_json: o.JsonOption = False,
) -> None:
    """Options -> ``isocircles_chunks`` -> the file (the help line: ``data/circles.py`` ``ISOCIRCLES``)."""
    o.check_ranges({"--n": n})
    from sslr_cli.data.circles import CircleSpec, isocircles_chunks

    spec = CircleSpec(size=size, min_count=count, max_count=count, min_radius=min_radius, max_radius=max_radius)
    generate_file("isocircles", out_path, n, force, quiet, as_json, lambda k, adv: isocircles_chunks(k, count, spec, seed, adv))
