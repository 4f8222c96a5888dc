"""`sslr reconstruct`: Table 1 (complete disentanglement, App. A.2), ARI / foreground-ARI, MSE, and
a Fig. 3 / Fig. 8 style figure, for one or more checkpoints side by side."""

from __future__ import annotations

import math
from pathlib import Path

from rich.table import Table

from sslr_cli.commands import options as o
from sslr_cli.commands.common import out, print_json, progress_bar, use_threads, user_errors
from sslr_cli.errors import SSLRError

SECONDARY_THRESHOLD = 0.5  # SRN's elements carry faint residue; report the looser threshold too


def _pct(v: float | None) -> str:
    return "" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.1f}%"


def _rate(v: float | None) -> str:
    return "" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.1f}"


def _num(v: float, fmt: str = ".3f") -> str:
    return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, fmt)


def rates_table(title: str, counts: list[int], images: dict[int, int], labels: list[str],
                rates: list[dict[int, float]], paper: dict[str, dict[int, float]] | None) -> Table:
    table = Table(title=title)
    table.add_column("# circles", justify="right")
    table.add_column("images", justify="right")
    for label in labels:
        table.add_column(label, justify="right")
    for name in paper or {}:
        table.add_column(f"paper {name}", justify="right", style="dim")
    for k in counts:
        row = [str(k), str(images[k])] + [_pct(r.get(k)) for r in rates]
        row += [_pct(values.get(k)) for values in (paper or {}).values()]
        table.add_row(*row)
    return table


@user_errors
def reconstruct_command(
    checkpoints: o.ReconstructInputs,
    data: o.CirclesData = None,
    limit: o.Limit = None,
    curve: o.Curve = False,
    threshold: o.ElementThreshold = 0.1,
    batch_size: o.EvalBatchSize = 100,
    by_radius: o.ByRadius = False,
    inner_steps: o.InnerStepsOption = None,
    samples: o.Samples = 5,
    figure: o.Figure = None,
    out_dir: o.OutDir = Path("."),
    seed: o.FigureSeed = 0,
    device: o.DeviceOption = "auto",
    threads: o.Threads = None,
    quiet: o.QuietOption = False,
    as_json: o.JsonOption = False,
    force: o.Overwrite = False,
) -> None:
    """Table 1: % of images completely disentangled per number of circles, plus ARI, FG-ARI and MSE; Fig. 3/8."""
    from sslr_cli.engine.device import resolve_device
    from sslr_cli.experiments.checkpoints import inner_steps_note, load_models
    from sslr_cli.experiments.inputs import load_labelled_images
    from sslr_cli.experiments.disentanglement import PAPER_TABLE1, decompose, measure_disentanglement

    use_threads(threads)
    if curve:
        if data or limit is not None or inner_steps is not None:
            raise SSLRError("--curve: reads the runs' eval lines; --data, --limit and --inner-steps do not apply")
        return _curves(checkpoints, threshold, samples, figure, out_dir, force, as_json)
    if not data:
        raise SSLRError("--data: give the circles dataset(s) to evaluate on (or --curve for learning curves)")
    o.check_ranges({"--limit": limit, "--batch-size": batch_size, "--samples": samples, "--threshold": threshold})
    dev = resolve_device(device)
    fig_path = None
    if samples > 0:
        from sslr_cli.experiments.figures import output_path

        fig_path = output_path(figure, out_dir, "reconstruct.png", force)
    models = load_models(list(checkpoints), dev, r=inner_steps)
    evaluation = load_labelled_images(list(data), models[0].config.model.image_size, limit)
    images, counts, masks, n = evaluation.images, evaluation.counts, evaluation.masks, len(evaluation)

    results = []
    with progress_bar(disable=quiet or as_json) as bar:
        for m in models:
            job = bar.add_task(m.label, total=n, info="")
            results.append(measure_disentanglement(
                m.model, images, counts, threshold, extra_thresholds=(SECONDARY_THRESHOLD,), batch_size=batch_size,
                device=dev, on_batch=lambda k, job=job: bar.advance(job, k), masks=masks))

    if fig_path is not None:
        import torch

        from sslr_cli.experiments.figures import figure_samples, reconstruction_figure, save_figure

        pick = figure_samples(n, samples, seed)
        chosen = images[torch.from_numpy(pick)]
        decs = [(m.label, decompose(m.model, chosen, threshold, dev)) for m in models]
        save_figure(reconstruction_figure(chosen.numpy(), decs), fig_path, force)

    failure_modes = None
    if by_radius:  # experiments/failure_modes.py
        from sslr_cli.experiments.failure_modes import diagnose
        failure_modes = diagnose(models, list(data), evaluation, threshold, limit, batch_size, dev)
    ks = sorted(results[0].images)
    payload = {
        "data": [str(p) for p in data], "images": n, "threshold": threshold, "secondary_threshold": SECONDARY_THRESHOLD,
        "figure": str(fig_path) if fig_path else None,
        "checkpoints": [{"label": m.label, "checkpoint": str(m.path), "generator": m.generator,
                         "preset": m.config.preset, "inner_steps": m.inner_steps, **r.to_dict()}
                        for m, r in zip(models, results)],
        "paper": {name: {str(k): v for k, v in vals.items()} for name, vals in PAPER_TABLE1.items()},
    }
    if failure_modes:
        payload["failure_modes"] = [d.to_dict() for d in failure_modes]
    if as_json:
        print_json(payload)
        return
    labels = [m.label for m in models]
    table1 = rates_table(f"Table 1: % of images completely disentangled (threshold {threshold:g})", ks,
                         results[0].images, labels, [r.rates for r in results], PAPER_TABLE1)
    table1.caption = inner_steps_note(models) or None
    out.print(table1)
    out.print(rates_table(f"% completely disentangled at threshold {SECONDARY_THRESHOLD:g} (not in the paper)", ks,
                          results[0].images, labels, [r.extra_thresholds[SECONDARY_THRESHOLD] for r in results], None))
    table = Table(title="Decomposition quality")
    table.add_column("measure")
    for label in labels:
        table.add_column(label, justify="right")
    table.add_row("r (SRN refinement steps)", *["-" if m.inner_steps is None else str(m.inner_steps) for m in models])
    table.add_row("MSE per pixel and channel", *[_num(r.mse, ".5f") for r in results])
    table.add_row("ARI (responsibility segmentation)", *[_num(r.ari) for r in results])
    table.add_row("foreground ARI", *[_num(r.fg_ari) for r in results])
    for k in ks:
        table.add_row(f"non-empty elements, {k} circle{'s' if k != 1 else ''}", *[_num(r.mean_nonempty[k], ".2f") for r in results])
    out.print(table)
    if failure_modes:
        from sslr_cli.commands.diagnostics import print_failure_modes
        print_failure_modes(failure_modes, threshold)
    if fig_path is not None:
        out.print(f"figure: {fig_path}")


def _curves(runs, threshold, samples, figure, out_dir, force, as_json) -> None:
    """--curve: Table 1 against optimizer steps and training minutes, from the eval lines of several runs."""
    from sslr_cli.experiments.curves import SECONDARY_THRESHOLD, curve_counts, curve_figure, load_curves
    from sslr_cli.experiments.disentanglement import PAPER_TABLE1

    if threshold not in (0.1, SECONDARY_THRESHOLD):
        raise SSLRError(f"--threshold {threshold:g}: the eval lines carry thresholds 0.1 and {SECONDARY_THRESHOLD:g} only")
    o.check_ranges({"--samples": samples})
    fig_path = None
    if samples > 0:
        from sslr_cli.experiments.figures import output_path

        fig_path = output_path(figure, out_dir, "curve.png", force)
    curves = load_curves(list(runs))
    paper = PAPER_TABLE1 if threshold == 0.1 else None  # the paper reports threshold 0.1 only
    if fig_path is not None:
        from sslr_cli.experiments.figures import save_figure

        save_figure(curve_figure(curves, threshold, paper), fig_path, force)
    ks = curve_counts(curves)
    payload = {
        "threshold": threshold, "figure": str(fig_path) if fig_path else None,
        "runs": [{"label": c.label, "source": c.source, "generator": c.generator,
                  "points": [{"step": p.step, "minutes": p.minutes, "r": p.r, "rates": p.rates_at(threshold),
                              "mse": p.mse, "ari": p.ari} for p in c.points]} for c in curves],
        "paper": {name: {str(k): v for k, v in vals.items()} for name, vals in (paper or {}).items()},
    }
    if as_json:
        print_json(payload)
        return
    from rich import box

    table = Table(title=f"Learning curves: % of images completely disentangled per number of circles "
                        f"(threshold {threshold:g})", box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("run", overflow="fold")  # the numbers keep their width on a narrow terminal; labels wrap
    for col, width in (("step", 5), ("min", 4), ("r", 2), *((str(k), 4) for k in ks), ("MSE", 6), ("ARI", 5)):
        table.add_column(col, justify="right", no_wrap=True, min_width=width)
    for c in curves:
        for i, p in enumerate(c.points):
            rates = p.rates_at(threshold)
            table.add_row(c.label if i == 0 else "", str(p.step), f"{p.minutes:.1f}", "" if p.r is None or c.generator == "mlp" else str(p.r),
                          *[_rate(rates.get(k)) for k in ks], _num(p.mse, ".4f"), _num(p.ari, ".2f"))
        table.add_section()
    for name, vals in (paper or {}).items():
        table.add_row(f"paper {name.removeprefix('SSLR-')}", "", "", "", *[_rate(vals.get(k)) for k in ks], "", "",
                      style="dim")
    out.print(table)
    if fig_path is not None:
        out.print(f"figure: {fig_path}")
