"""What every `sslr gen-data` command shares: writing a file block by block behind a progress bar, and the
summary table of what was written (their options: ``commands/options.py``)."""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
from rich.table import Table

from sslr_cli.commands.common import out, print_json, progress_bar
from sslr_cli.atomic import check_output

# The data modules (h5py) are imported where a command runs: `sslr --help` stays fast.


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


PROBE = 256  # scenes written in memory to estimate the size of a large file before making it


def generate_file(kind: str, out_path: Path, n: int, force: bool, quiet: bool, as_json: bool, chunks) -> None:
    """Generate ``chunks(n, progress)`` (blocks of scenes) into ``out_path`` block by block: memory stays
    that of one block whatever ``n`` is; a file that cannot fit on the disk is refused first."""
    from sslr_cli.data.store import check_free_space, estimate_file_bytes, write_scene_blocks

    # the size of (up to) PROBE scenes of the same settings, times n / PROBE: a file that cannot fit on the
    # disk or under the file-size limit is refused before HDF5 runs out of room mid-write (it cannot recover).
    # Made first, it also runs the data's own checks of the settings (CircleSpec.validate ...) before the
    # output's folder is made
    probe = min(n, PROBE)
    needed = estimate_file_bytes(n, chunks(probe, None), probe)
    check_output(out_path, force)  # fail before spending time on generation
    check_free_space(out_path, needed, f"--n {n}")
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


