"""`sslr gen-data`: make the paper's datasets as HDF5 files."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Optional

import numpy as np
import typer
from rich.table import Table

from sslr_cli.commands.common import QuietOption, out, print_json, progress_bar, user_errors
from sslr_cli.atomic import check_output
from sslr_cli.errors import SSLRError

# The data modules (h5py) are imported where a command runs: `sslr --help` stays fast.

app = typer.Typer(help="Generate datasets (HDF5): circles, isocircles (set matching), clevr.", no_args_is_help=True)


class SummaryStats:
    """The figures of ``dataset_summary``, gathered block by block (a large set is never in memory at once)."""

    def __init__(self) -> None:
        self.n, self.image_size, self.kind, self.seed = 0, 0, "", None
        self.counts = np.zeros(0, np.int64)
        self.colors = np.zeros(2, np.int64)
        self.radius = [math.inf, 0.0, 0, -math.inf]  # min, sum, count, max
        self.target = [math.inf, 0.0, -math.inf]  # min, sum, max
        self.has_target = self.has_colors = False

    def add(self, scenes) -> None:
        self.kind, self.seed, self.image_size = scenes.kind, scenes.seed, int(scenes["images"].shape[1])
        self.n += len(scenes)
        c = np.bincount(scenes["counts"].astype(np.int64))
        self.counts = np.pad(self.counts, (0, max(0, len(c) - len(self.counts))))
        self.counts[: len(c)] += c
        objects = scenes["objects"]
        valid = ~np.isnan(objects[..., 0])
        if "color" in scenes.fields and valid.any():
            self.has_colors = True
            colors = objects[..., scenes.fields.index("color")][valid]
            self.colors += [(colors == 0).sum(), (colors == 1).sum()]
        if "radius" in scenes.fields and valid.any():
            radii = objects[..., scenes.fields.index("radius")][valid].astype(np.float64)
            self.radius = [min(self.radius[0], radii.min()), self.radius[1] + radii.sum(),
                           self.radius[2] + radii.size, max(self.radius[3], radii.max())]
        if "target" in scenes.arrays:
            t = scenes["target"].astype(np.float64)
            self.has_target = True
            self.target = [min(self.target[0], t.min()), self.target[1] + t.sum(), max(self.target[2], t.max())]


def dataset_summary(scenes, path: Path, seconds: float) -> dict:
    """The table of a written file from its scenes (``SceneArrays``) or their ``SummaryStats``."""
    if not isinstance(scenes, SummaryStats):
        stats = SummaryStats()
        stats.add(scenes)
    else:
        stats = scenes
    summary = {
        "file": str(path),
        "kind": stats.kind,
        "images": stats.n,
        "image_size": stats.image_size,
        "objects_per_image": {str(k): int(v) for k, v in enumerate(stats.counts) if v},
        "objects_total": int((stats.counts * np.arange(len(stats.counts))).sum()),
        "seed": stats.seed,
        "seconds": round(seconds, 3),
        "images_per_second": round(stats.n / max(seconds, 1e-9), 1),
        "bytes": path.stat().st_size,
    }
    if stats.has_colors:
        summary["colors"] = {"red": int(stats.colors[0]), "green": int(stats.colors[1])}
    if stats.radius[2]:
        summary["radius"] = {"min": float(stats.radius[0]), "mean": round(stats.radius[1] / stats.radius[2], 3),
                             "max": float(stats.radius[3])}
    if stats.has_target:
        summary["target"] = {"min": float(stats.target[0]), "mean": round(stats.target[1] / stats.n, 5),
                             "max": float(stats.target[2])}
    return summary


def render_summary(summary: dict) -> None:
    table = Table(title=f"{summary['kind']} dataset: {summary['file']}", show_header=False)
    table.add_column("", style="bold")
    table.add_column("")
    table.add_row("images", f"{summary['images']} of {summary['image_size']}x{summary['image_size']}")
    table.add_row("objects per image", ", ".join(f"{k}: {v}" for k, v in summary["objects_per_image"].items()))
    table.add_row("objects in all", str(summary["objects_total"]))
    for key in ("colors", "radius", "target"):
        if key in summary:
            table.add_row(key, ", ".join(f"{k} {v}" for k, v in summary[key].items()))
    table.add_row("seed", str(summary["seed"]))
    table.add_row("time", f"{summary['seconds']:.2f} s ({summary['images_per_second']:.0f} images/s, incl. writing)")
    table.add_row("file size", f"{summary['bytes'] / 1e6:.2f} MB")
    out.print(table)


def _counts(count: Optional[int], min_count: Optional[int], max_count: Optional[int], default: tuple[int, int]) -> tuple[int, int]:
    if count is not None and (min_count is not None or max_count is not None):
        raise SSLRError("--count: give either --count or --min-count/--max-count, not both")
    if count is not None:
        if count < 0:
            raise SSLRError(f"--count {count}: must be >= 0")
        return count, count
    return (default[0] if min_count is None else min_count, default[1] if max_count is None else max_count)


PROBE = 256  # scenes written in memory to estimate the size of a large file before making it


def _generate(kind: str, out_path: Path, n: int, force: bool, quiet: bool, as_json: bool, chunks) -> None:
    """Generate ``chunks(n, progress)`` (blocks of scenes) into ``out_path`` block by block: memory stays
    that of one block whatever ``n`` is; a file that cannot fit on the disk is refused first."""
    from sslr_cli.data.store import check_free_space, estimate_file_bytes, write_scene_blocks

    check_output(out_path, force)  # fail before spending time on generation
    # the size of (up to) PROBE scenes of the same settings, times n / PROBE: a file that cannot fit on the
    # disk or under the file-size limit is refused before HDF5 runs out of room mid-write (it cannot recover)
    probe = min(n, PROBE)
    check_free_space(out_path, estimate_file_bytes(n, chunks(probe, None), probe), f"--n {n}")
    t0 = time.perf_counter()
    stats = SummaryStats()
    with progress_bar(disable=quiet or as_json) as bar:
        task = bar.add_task(f"gen-data {kind}", total=n, info="")

        def counted():
            for block in chunks(n, lambda k: bar.advance(task, k)):
                stats.add(block)
                yield block

        write_scene_blocks(out_path, n, counted(), force=force)
    summary = dataset_summary(stats, out_path, time.perf_counter() - t0)
    print_json(summary) if as_json else render_summary(summary)


OUT_ARG = typer.Argument(..., help="Output HDF5 file.", dir_okay=False)


@app.command("circles")
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
    """The paper's Circles Dataset (Sec. 4.1): 0-10 red/green circles, radius 1-11, no same-colour overlap."""
    lo, hi = _counts(count, min_count, max_count, (0, 10))
    from sslr_cli.data.circles import CircleSpec, circles_chunks

    spec = CircleSpec(size=size, min_count=lo, max_count=hi, min_radius=min_radius, max_radius=max_radius)
    spec.validate()
    if n < 1:
        raise SSLRError(f"--n {n}: need at least one image")
    _generate("circles", out_path, n, force, quiet, as_json, lambda k, adv: circles_chunks(k, spec, seed, adv))


@app.command("isocircles")
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
    """Set-matching pairs (Sec. 4.3): the same circles at new places; target = sum of squared moves / size^2."""
    if count < 1:
        raise SSLRError(f"--count {count}: need at least one circle per image")
    from sslr_cli.data.circles import CircleSpec, isocircles_chunks

    spec = CircleSpec(size=size, min_count=count, max_count=count, min_radius=min_radius, max_radius=max_radius)
    spec.validate()
    if n < 1:
        raise SSLRError(f"--n {n}: need at least one pair")
    _generate("isocircles", out_path, n, force, quiet, as_json, lambda k, adv: isocircles_chunks(k, count, spec, seed, adv))
