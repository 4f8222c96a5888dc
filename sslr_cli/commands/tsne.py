"""`sslr tsne`: t-SNE of the elements that draw a single circle (Fig. 5 in 2-D, Fig. 6 in 3-D), how
well the circle's attributes can be read off them, and an HDF5 embeddings file per checkpoint."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Optional

from rich.table import Table

from sslr_cli.commands import options as o
from sslr_cli.commands.common import out, print_json, progress_bar, use_threads, user_errors
from sslr_cli.errors import SSLRError


def _radii(text: Optional[str], dims: int) -> tuple[int, ...]:
    if text is None:
        return (6,) if dims == 2 else (3, 6, 9)
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise SSLRError(f"--radii {text!r}: give integers separated by commas, e.g. 3,6,9") from None
    if not values:
        raise SSLRError(f"--radii {text!r}: give at least one radius")
    return values


def embeddings_paths(path: Path, labels: list[str]) -> list[Path]:
    """One file per checkpoint: ``path`` itself for one, ``<stem>-<label><suffix>`` for several."""
    if len(labels) == 1:
        return [path]
    suffix = path.suffix or ".h5"
    return [path.with_name(f"{path.stem}-{re.sub(r'[^A-Za-z0-9._-]+', '-', label).strip('-')}{suffix}") for label in labels]


def _fmt(v: float) -> str:
    return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.3f}"


@user_errors
def tsne_command(
    checkpoints: o.Checkpoints,
    dims: o.Dims = 2,
    grid: o.Grid = 16,
    radii: o.Radii = None,
    seed: o.TsneSeed = 0,
    batch_size: o.EvalBatchSize = 128,
    inner_steps: o.InnerStepsOption = None,
    figure: o.Figure = None,
    out_dir: o.OutDir = Path("."),
    no_figure: o.NoFigure = False,
    device: o.DeviceOption = "auto",
    threads: o.Threads = None,
    embeddings: o.Embeddings = None,
    quiet: o.QuietOption = False,
    as_json: o.JsonOption = False,
    force: o.Overwrite = False,
) -> None:
    """Fig. 5 / Fig. 6: t-SNE of the latent element of one-circle images, and how consistent it is."""
    from sslr_cli.atomic import check_output
    from sslr_cli.engine.device import resolve_device
    from sslr_cli.experiments import tsne_analysis as ta
    from sslr_cli.experiments.checkpoints import inner_steps_note, load_models

    use_threads(threads)
    if dims not in (2, 3):
        raise SSLRError(f"--dims {dims}: choose 2 or 3")
    o.check_ranges({"--batch-size": batch_size})
    radii_t = _radii(radii, dims)
    dev = resolve_device(device)
    fig_path = None
    if not no_figure:
        from sslr_cli.experiments.figures import output_path

        fig_path = output_path(figure, out_dir, f"tsne-{dims}d.png", force)
    models = load_models(list(checkpoints), dev, r=inner_steps)
    emb_paths = embeddings_paths(embeddings, [m.label for m in models]) if embeddings else []
    for p in emb_paths:
        try:
            check_output(p, force)
        except SSLRError as exc:
            raise SSLRError(f"--embeddings {exc}") from None
    size = models[0].config.model.image_size
    circles = ta.grid_circles(grid, radii_t, size)
    images = ta.render_grid(circles, size)
    results = []
    with progress_bar(disable=quiet or as_json) as bar:
        for m in models:
            job = bar.add_task(m.label, total=len(images), info="encoding")
            res = ta.run_tsne(m.model, m.label, str(m.path), m.generator, circles, images, dims, seed, batch_size, dev,
                              on_batch=lambda k, job=job: bar.advance(job, k))
            bar.update(job, info="done")
            results.append(res)
    params = {"grid": grid, "radii": list(radii_t), "dims": dims, "seed": seed, "size": size}
    for p, res in zip(emb_paths, results):
        ta.write_embeddings(p, res, params, force)
    if fig_path is not None:
        from sslr_cli.experiments.figures import save_figure, tsne_figure

        save_figure(tsne_figure(results), fig_path, force)

    payload = {**params, "points": int(len(circles)), "figure": str(fig_path) if fig_path else None,
               "embeddings": [str(p) for p in emb_paths],
               "checkpoints": [{**r.summary(), "inner_steps": m.inner_steps} for m, r in zip(models, results)]}
    if as_json:
        print_json(payload)
        return
    title = (f"Fig. {5 if dims == 2 else 6}: {len(circles)} one-circle images; attributes predicted from the circle's "
             f"element (5-fold CV)")
    table = Table(title=title, caption=inner_steps_note(models) or None)
    cols = ["checkpoint", "elements used", "x kNN R²", "y kNN R²"] + (["radius kNN R²"] if len(radii_t) > 1 else [])
    cols += ["colour kNN acc.", "x linear R²", "y linear R²", "trustworthiness"]
    for col in cols:
        table.add_column(col, justify="left" if col == "checkpoint" else "right")
    for r in results:
        s = r.scores
        row = [r.label, str(len(set(r.chosen.tolist()))), _fmt(s["x_r2"]), _fmt(s["y_r2"])]
        row += [_fmt(s["radius_r2"])] if len(radii_t) > 1 else []
        row += [_fmt(s["color_accuracy"]), _fmt(s["x_linear_r2"]), _fmt(s["y_linear_r2"]), _fmt(s["trustworthiness"])]
        table.add_row(*row)
    out.print(table)
    for p in emb_paths:
        out.print(f"embeddings: {p}")
    if fig_path is not None:
        out.print(f"figure: {fig_path}")
