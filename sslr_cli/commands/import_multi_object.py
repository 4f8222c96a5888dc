"""`sslr gen-data import-multi-object`: DeepMind's multi-object TFRecords (CLEVR with masks, Multi-dSprites,
Tetrominoes, Objects Room) into the HDF5 store, without TensorFlow (``data/multi_object.py``)."""

from __future__ import annotations

import time

from sslr_cli.commands import options as o
from sslr_cli.commands.common import print_json, progress_bar, user_errors
from sslr_cli.errors import SSLRError


@user_errors
def import_multi_object(
    source: o.TfRecord,
    out_path: o.DatasetOut,
    dataset: o.MultiObjectDataset,
    size: o.ImportSide = None,
    max_objects: o.KeepMaxObjects = None,
    limit: o.ImportLimit = None,
    skip: o.Skip = 0,
    force: o.OverwriteDataset = False,
    quiet: o.QuietOption = False,
    as_json: o.JsonOption = False,
) -> None:
    """Options -> ``plan_import``, ``import_blocks`` -> the file (the help line: ``data/multi_object.py`` ``MULTI_OBJECT``)."""
    from sslr_cli.atomic import check_output
    from sslr_cli.commands.gen_common import SummaryStats, dataset_summary, render_summary
    from sslr_cli.data.multi_object import check_installed, get_dataset, import_blocks, plan_import

    o.check_ranges({"--max-objects": max_objects, "--limit": limit, "--skip": skip})
    ds = get_dataset(dataset)
    check_installed()
    if not source.exists():
        raise SSLRError(f"{source}: no such file")
    size = ds.size if size is None else size
    if size % 32 or not 32 <= size <= 512:
        raise SSLRError(f"--size {size}: a multiple of 32 between 32 and 512 (the models take multiples of 32, at least 64)")
    if max_objects is None:
        max_objects = ds.max_objects
    elif max_objects == 0:  # keep every scene
        max_objects = None
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
