"""`sslr gen-data import-multi-object`: DeepMind's multi-object TFRecords (CLEVR with masks, Multi-dSprites,
Tetrominoes, Objects Room) into the HDF5 store, without TensorFlow (``data/multi_object.py``)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import typer

from sslr_cli.commands.common import QuietOption, print_json, progress_bar, user_errors
from sslr_cli.errors import SSLRError

DATASET_NAMES = "clevr_with_masks, multi_dsprites, tetrominoes or objects_room"


@user_errors
def import_multi_object(
    source: Path = typer.Argument(..., help="A TFRecord file of the dataset (e.g. clevr_with_masks_train.tfrecords; "
                                  "GZIP-compressed as released, or not).", dir_okay=False),
    out_path: Path = typer.Argument(..., help="Output HDF5 file.", dir_okay=False),
    dataset: str = typer.Option(..., "--dataset", help=f"Which dataset the file holds: {DATASET_NAMES} (the variant, "
                                "e.g. Multi-dSprites' colored_on_grayscale, is read from the file)."),
    size: Optional[int] = typer.Option(None, "--size", help="Output image side (default: 128 for clevr_with_masks, after "
                                       "its 192x192 centre crop; 64 for the others, Tetrominoes' 35 px scaled up)."),
    max_objects: Optional[int] = typer.Option(None, "--max-objects", help="Keep scenes with at most this many objects "
                                              "(default: 6 for clevr_with_masks, i.e. CLEVR6; none for the others; 0 = keep all)."),
    limit: Optional[int] = typer.Option(None, "--limit", help="Stop after this many kept scenes."),
    skip: int = typer.Option(0, "--skip", help="Leave out the first N scenes (of those --max-objects keeps): "
                             "--limit 320 for a test file, then --skip 320 for the training file."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing output file."),
    quiet: QuietOption = False,
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Options -> ``plan_import``, ``import_blocks`` -> the file (the help line: ``data/multi_object.py`` ``MULTI_OBJECT``)."""
    from sslr_cli.atomic import check_output
    from sslr_cli.commands.gen_common import SummaryStats, dataset_summary, render_summary
    from sslr_cli.data.multi_object import check_installed, get_dataset, import_blocks, plan_import

    ds = get_dataset(dataset)
    check_installed()
    if not source.exists():
        raise SSLRError(f"{source}: no such file")
    size = ds.size if size is None else size
    if size % 32 or not 32 <= size <= 512:
        raise SSLRError(f"--size {size}: a multiple of 32 between 32 and 512 (the models take multiples of 32, at least 64)")
    if max_objects is None:
        max_objects = ds.max_objects
    elif max_objects < 0:
        raise SSLRError(f"--max-objects {max_objects}: must be >= 0 (0 = keep every scene)")
    elif max_objects == 0:
        max_objects = None
    if limit is not None and limit < 1:
        raise SSLRError(f"--limit {limit}: must be >= 1")
    if skip < 0:
        raise SSLRError(f"--skip {skip}: must be >= 0")
    check_output(out_path, force)
    from sslr_cli.data.store import write_scene_blocks

    t0 = time.perf_counter()
    stats = SummaryStats()
    with progress_bar(disable=quiet or as_json) as bar:
        count_job = bar.add_task(f"{source.name}: counting objects", total=None, info="")
        plan = plan_import(source, ds, max_objects, limit, lambda k: bar.advance(count_job, k), skip=skip)
        bar.update(count_job, total=plan.records, completed=plan.records)
        job = bar.add_task(f"import-multi-object {ds.name}", total=plan.n, info=f"{plan.n} of {plan.records} scenes")

        def counted():
            for block in import_blocks(source, plan, size, max_objects, progress=lambda k: bar.advance(job, k)):
                stats.add(block)
                yield block

        write_scene_blocks(out_path, plan.n, counted(), force=force)
    summary = dataset_summary(stats, out_path, time.perf_counter() - t0)
    summary.update(dataset=ds.name, records=plan.records, entities=plan.layout.entities,
                   variant=ds.variants.get(plan.layout.entities), max_objects=max_objects)
    if as_json:
        print_json(summary)
    else:
        render_summary(summary)
