"""`sslr gen-data clevr`: render CLEVR-style scenes, or import a real CLEVR_v1.0 folder (--from).

``gen_data.py`` lists it in ``GEN_DATA``, beside circles and isocircles; its help line is its kind's."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from rich.table import Table

from sslr_cli.commands import options as o
from sslr_cli.commands.common import out, print_json, progress_bar, user_errors
from sslr_cli.commands.gen_common import dataset_summary
from sslr_cli.atomic import check_output
from sslr_cli.errors import SSLRError

# The data modules (h5py, the renderer) are imported where a command runs: `sslr --help` stays fast.


def clevr_summary(scenes, path: Path, seconds: float) -> dict:
    """``dataset_summary`` with CLEVR's attribute names (its colour entry assumes circles)."""
    from sslr_cli.data.clevr import COLOR_NAMES, MATERIALS, SHAPES, SIZE_NAMES

    summary = dataset_summary(scenes, path, seconds)
    objects = scenes["objects"]
    valid = ~np.isnan(objects[..., 0])
    for key, names in (("shape", SHAPES), ("color", COLOR_NAMES), ("material", MATERIALS), ("size", SIZE_NAMES)):
        column = objects[..., scenes.fields.index(key)][valid].astype(int)
        summary[key + "s"] = {name: int((column == j).sum()) for j, name in enumerate(names)}
    if "boxes_visible" in scenes.arrays:  # imported files know visibility only where a mask exists
        seen = scenes["has_mask"].astype(bool)[:, None] if "has_mask" in scenes.arrays else True
        summary["hidden_objects"] = int((valid & seen & np.isnan(scenes["boxes_visible"][..., 0])).sum())
    else:
        summary["hidden_objects"] = int((valid & np.isnan(scenes["boxes"][..., 0])).sum())
    summary["foreground_fraction"] = round(float((scenes["masks"] > 0).mean()), 4)
    for flag in ("has_mask", "has_foreground"):
        if flag in scenes.arrays:
            summary["images_with_" + flag[4:]] = int(scenes[flag].sum())
    summary["source"] = scenes.params.get("generator", "")
    return summary


def render_clevr_summary(s: dict) -> None:
    table = Table(title=f"clevr dataset: {s['file']}", show_header=False)
    table.add_column("", style="bold")
    table.add_column("")
    table.add_row("source", s["source"])
    table.add_row("images", f"{s['images']} of {s['image_size']}x{s['image_size']}")
    table.add_row("objects per image", ", ".join(f"{k}: {v}" for k, v in s["objects_per_image"].items()))
    table.add_row("objects in all", f"{s['objects_total']} ({s['hidden_objects']} fully hidden)")
    for key in ("shapes", "colors", "materials", "sizes"):
        table.add_row(key, ", ".join(f"{k} {v}" for k, v in s[key].items()))
    table.add_row("object pixels", f"{100 * s['foreground_fraction']:.1f}% of all pixels")
    for key in ("images_with_mask", "images_with_foreground"):
        if key in s:
            table.add_row(key.replace("_", " "), str(s[key]))
    table.add_row("seed", str(s["seed"]))
    table.add_row("time", f"{s['seconds']:.2f} s ({s['images_per_second']:.0f} images/s, incl. writing)")
    table.add_row("file size", f"{s['bytes'] / 1e6:.2f} MB")
    out.print(table)


@user_errors
def clevr(
    out_path: o.DatasetOut,
    n: o.Images = None,
    size: o.ImageSide = 128,
    min_objects: o.MinObjects = None,
    max_objects: o.MaxObjects = None,
    seed: o.DataSeed = 0,
    source: o.ClevrSource = None,
    split: o.Split = "train",
    limit: o.ClevrLimit = None,
    no_foreground: o.NoForeground = False,
    force: o.OverwriteDataset = False,
    quiet: o.QuietOption = False,
    as_json: o.JsonOption = False,
) -> None:
    """Options -> ``generate_clevr`` or ``import_clevr`` -> the file (the help line: ``data/clevr.py`` ``CLEVR``)."""
    o.check_ranges({"--n": n, "--limit": limit})
    from sslr_cli.data.clevr import ClevrSpec, generate_clevr
    from sslr_cli.data.store import write_scenes

    if source is not None:
        for flag, value in (("--n", n), ("--min-objects", min_objects), ("--max-objects", max_objects)):
            if value is not None:
                raise SSLRError(f"{flag}: not used with --from (the folder decides; use --limit to import fewer)")
        from sslr_cli.data.clevr_import import import_clevr

        total = limit

        def make(advance):
            return import_clevr(source, split, size, limit, advance, allow_no_foreground=no_foreground)
    else:
        if no_foreground:
            raise SSLRError("--no-foreground: only with --from (rendered scenes always have their foreground)")
        if limit is not None:
            raise SSLRError("--limit: only with --from (use --n for rendered scenes)")
        spec = ClevrSpec(size=size, min_objects=3 if min_objects is None else min_objects,
                         max_objects=10 if max_objects is None else max_objects)
        spec.validate()
        total = 10000 if n is None else n

        def make(advance):
            return generate_clevr(total, spec, seed, advance)

    check_output(out_path, force)  # fail before spending time on rendering
    t0 = time.perf_counter()
    with progress_bar(disable=quiet or as_json) as bar:
        task = bar.add_task("gen-data clevr", total=total, info="")
        scenes = make(lambda k: bar.advance(task, k))
        bar.update(task, info="writing")
        write_scenes(out_path, scenes, force=force)
    summary = clevr_summary(scenes, out_path, time.perf_counter() - t0)
    print_json(summary) if as_json else render_clevr_summary(summary)
