"""`sslr iou`: Table 2 (overall and per-object IoU on CLEVR, App. B.2) plus ARI, for several checkpoints."""

from __future__ import annotations

import math
from pathlib import Path

from rich.table import Table

from sslr_cli.commands import options as o
from sslr_cli.commands.common import out, print_json, progress_bar, use_threads, user_errors
from sslr_cli.errors import SSLRError


def _num(v: float | None) -> str:
    return "—" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.4f}"


@user_errors
def iou_command(
    checkpoints: o.Checkpoints,
    data: o.ClevrData,
    limit: o.Limit = None,
    per_object_mode: o.PerObjectMode = "authors",
    overall_mode: o.OverallMode = "channels",
    boxes: o.Boxes = "amodal",
    threshold: o.PixelOnThreshold = 0.01,
    batch_size: o.EvalBatchSize = 32,
    inner_steps: o.InnerStepsOption = None,
    device: o.DeviceOption = "auto",
    threads: o.Threads = None,
    samples: o.Samples = 0,
    figure: o.Figure = None,
    seed: o.FigureSeed = 0,
    force: o.Overwrite = False,
    quiet: o.QuietOption = False,
    as_json: o.JsonOption = False,
) -> None:
    """Table 2: overall IoU and per-object (Chamfer box) IoU on CLEVR, with ARI and foreground-ARI; with --figure
    (or --samples N) Fig. 7: decompositions with each element's boxes and the ground truth's."""
    from sslr_cli.engine.device import resolve_device
    from sslr_cli.experiments.checkpoints import inner_steps_note, load_models
    from sslr_cli.experiments.inputs import load_clevr_eval
    from sslr_cli.experiments.iou import BOX_KINDS, OVERALL_MODES, PAPER_TABLE2, PER_OBJECT_MODES, measure_iou

    use_threads(threads)
    if per_object_mode not in PER_OBJECT_MODES:
        raise SSLRError(f"--per-object-mode {per_object_mode!r}: choose one of {', '.join(PER_OBJECT_MODES)}")
    if overall_mode not in OVERALL_MODES:
        raise SSLRError(f"--overall-mode {overall_mode!r}: choose one of {', '.join(OVERALL_MODES)}")
    if boxes not in BOX_KINDS:
        raise SSLRError(f"--boxes {boxes!r}: choose one of {', '.join(BOX_KINDS)}")
    o.check_ranges({"--threshold": threshold, "--limit": limit, "--batch-size": batch_size, "--samples": samples})
    if figure is not None and samples == 0:
        samples = 4
    fig_path = None
    if samples > 0:
        from sslr_cli.experiments.figures import output_path

        fig_path = output_path(figure, Path("."), "fig7-clevr.png", force)  # checked before any work
    dev = resolve_device(device)
    loaded = load_models(list(checkpoints), dev, r=inner_steps)  # checks the task; labels "SRN <run>"
    arrays = load_clevr_eval(data, loaded, limit, boxes)
    models = [(m.label, m.path, m.model, m.config) for m in loaded]
    n = len(arrays["images"])

    results = []
    with progress_bar(disable=quiet or as_json) as bar:
        for label, _, model, _ in models:
            job = bar.add_task(label, total=n, info="")
            results.append(measure_iou(model, arrays, batch_size, dev, threshold,
                                       on_batch=lambda k, job=job: bar.advance(job, k)))

    if fig_path is not None:
        _figure7(models, arrays, samples, seed, threshold, dev, fig_path, force)
    payload = {
        "data": str(data), "source": arrays.get("source", "rendered"), "images": n, "threshold": threshold,
        "per_object_mode": per_object_mode, "overall_mode": overall_mode, "boxes": boxes,
        "figure": None if fig_path is None else str(fig_path),
        "checkpoints": [{"label": label, "checkpoint": str(path), "generator": cfg.model.generator, "preset": cfg.preset,
                         "inner_steps": m.inner_steps, "overall_iou": r.overall(overall_mode),
                         "per_object_iou": r.per_object(per_object_mode), **r.to_dict()}
                        for (label, path, _, cfg), m, r in zip(models, loaded, results)],
        "paper": PAPER_TABLE2,
    }
    if as_json:
        print_json(payload)
        return
    overall_text = {"channels": "authors' code: per channel", "pixels": "alternative: per pixel"}[overall_mode]
    mode_text = {"authors": "authors' code: each GT slot -> best element",
                 "elements": "alternative: each element -> closest GT box"}[per_object_mode]
    table = Table(title=f"Table 2: IoU on CLEVR ({data}, {n} images, threshold {threshold:g}, {boxes} boxes)",
                  caption=inner_steps_note(loaded) or None)
    table.add_column("Model Description")
    for label, *_ in models:
        table.add_column(label, justify="right")
    for name in PAPER_TABLE2:
        table.add_column(f"paper {name}", justify="right", style="dim")
    paper = list(PAPER_TABLE2.values())
    table.add_row(f"overall IoU ({overall_text})", *[_num(r.overall(overall_mode)) for r in results],
                  *[_num(p["overall_iou"]) for p in paper])
    table.add_row(f"per-object IoU ({mode_text})", *[_num(r.per_object(per_object_mode)) for r in results],
                  *[_num(p["per_object_iou"]) for p in paper])
    table.add_row("ARI (responsibility segmentation)", *[_num(r.ari) for r in results], "—", "—")
    table.add_row("foreground ARI", *[_num(r.fg_ari) for r in results], "—", "—")
    table.add_row("non-empty elements (mean)", *[f"{r.mean_nonempty:.2f}" for r in results], "—", "—")
    table.add_row("predicted boxes (mean)", *[f"{r.mean_boxes:.2f}" for r in results], "—", "—")
    out.print(table)
    skipped = [(k, v) for k, v in (("overall IoU", results[0].images_overall), ("per-object IoU", results[0].images_per_object),
                                    ("ARI", results[0].images_ari)) if v < n]
    for what, v in skipped:
        out.print(f"[yellow]{what}: {v} of {n} images have the ground truth it needs (the rest are skipped)[/yellow]")
    if fig_path is not None:
        out.print(f"figure: {fig_path}")


def _figure7(models, arrays, samples: int, seed: int, threshold: float, dev, path: Path, force: bool) -> None:
    """Fig. 7: ``samples`` images (seeded choice), each model's reconstruction and elements with their boxes."""
    import numpy as np
    import torch

    from sslr_cli.experiments.clevr_figure import decompose_with_boxes, truth_boxes
    from sslr_cli.experiments.figures import figure_samples, reconstruction_figure, save_figure

    pick = figure_samples(len(arrays["images"]), samples, seed)
    images = torch.from_numpy(np.ascontiguousarray(arrays["images"][pick]))
    boxed = [(label, decompose_with_boxes(model, images, threshold, dev)) for label, _, model, _ in models]
    fig = reconstruction_figure(images.numpy(), [(label, b.decomposition) for label, b in boxed],
                                original_boxes=[truth_boxes(arrays["boxes"][i]) for i in pick],
                                element_boxes=[b.boxes for _, b in boxed])
    save_figure(fig, path, force)
