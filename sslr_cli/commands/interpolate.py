"""`sslr interpolate`: who draws a moving circle (Fig. 2, --mode shift) and what lies between an empty
element and a circle element in latent space (Fig. 4, --mode latent), one row per checkpoint."""

from __future__ import annotations

from pathlib import Path

from rich.table import Table

from sslr_cli.commands import options as o
from sslr_cli.commands.common import out, print_json, progress_bar, use_threads, user_errors
from sslr_cli.errors import SSLRError


@user_errors
def interpolate_command(
    checkpoints: o.Checkpoints,
    mode: o.Mode = "shift",
    frames: o.Frames = 10,
    steps: o.Steps = 10,
    threshold: o.ShiftThreshold = 0.1,
    pixel_threshold: o.PixelThreshold = 0.5,
    circle_element: o.CircleElement = None,
    empty_element: o.EmptyElement = None,
    color: o.Color = "green",
    radius: o.Radius = 8,
    x: o.CentreX = None,
    y: o.CentreY = None,
    inner_steps: o.InnerStepsOption = None,
    figure: o.Figure = None,
    out_dir: o.OutDir = Path("."),
    no_figure: o.NoFigure = False,
    device: o.DeviceOption = "auto",
    threads: o.Threads = None,
    quiet: o.QuietOption = False,
    as_json: o.JsonOption = False,
    force: o.Overwrite = False,
) -> None:
    """Fig. 2 (--mode shift) and Fig. 4 (--mode latent): responsibility hand-over and latent interpolation."""
    from sslr_cli.engine.device import resolve_device
    from sslr_cli.experiments import interpolation as interp
    from sslr_cli.experiments.checkpoints import inner_steps_note, load_models

    use_threads(threads)
    if mode not in ("shift", "latent"):
        raise SSLRError(f"--mode {mode!r}: choose shift or latent")
    if color not in interp.COLORS:
        raise SSLRError(f"--color {color!r}: choose green or red")
    o.check_ranges({"--threshold": threshold, "--pixel-threshold": pixel_threshold})
    dev = resolve_device(device)
    fig_path = None
    if not no_figure:
        from sslr_cli.experiments.figures import output_path

        fig_path = output_path(figure, out_dir, f"interpolate-{mode}.png", force)
    models = load_models(list(checkpoints), dev, r=inner_steps)
    size = models[0].config.model.image_size
    c = interp.COLORS[color]
    cy = size // 2 if y is None else y
    with progress_bar(disable=quiet or as_json) as bar:
        job = bar.add_task(f"interpolate {mode}", total=len(models), info="")
        if mode == "shift":
            x0 = size // 2 - frames // 2 if x is None else x
            inputs, masks = interp.shift_frames(c, radius, x0, cy, frames, size)
            results = []
            for m in models:
                results.append(interp.run_shift(m.model, m.label, inputs, masks, threshold, dev))
                bar.advance(job)
        else:
            image, mask = interp.one_circle_image(c, radius, size // 2 if x is None else x, cy, size)
            results = []
            for m in models:
                results.append(interp.run_latent(m.model, m.label, image, mask, c, steps, dev, circle_element,
                                                 empty_element, pixel_threshold))
                bar.advance(job)

    if fig_path is not None:
        from sslr_cli.experiments.figures import latent_figure, save_figure, shift_figure

        fig = shift_figure(inputs, results) if mode == "shift" else latent_figure(results)
        save_figure(fig, fig_path, force)

    payload = {"mode": mode, "color": color, "radius": radius, "figure": str(fig_path) if fig_path else None,
               "checkpoints": [{"checkpoint": str(m.path), "generator": m.generator, "inner_steps": m.inner_steps, **r.summary()}
                               for m, r in zip(models, results)]}
    if mode == "shift":
        payload.update(frames=frames, x=x0, y=cy, threshold=threshold)
    else:
        payload.update(steps=steps, x=size // 2 if x is None else x, y=cy, pixel_threshold=pixel_threshold)
    if as_json:
        print_json(payload)
        return
    if mode == "shift":
        table = Table(title=f"Fig. 2: a {color} circle (r={radius}) moved {frames - 1} px; elements drawing it (> {threshold:g})")
        for col in ("checkpoint", "mean elements per frame", "frames with one element", "hand-overs", "elements per frame"):
            table.add_column(col, justify="left" if col in ("checkpoint", "elements per frame") else "right")
        for r in results:
            table.add_row(r.label, f"{r.mean_sharing:.2f}", f"{r.single_frames}/{len(r.sharing)}", str(r.handovers),
                          " ".join(map(str, r.sharing)))
    else:
        table = Table(title=f"Fig. 4: empty element -> {color} circle element, {steps} points decoded alone")
        for col in ("checkpoint", "elements", "one circle", "wrong colour", "empty", "several regions"):
            table.add_column(col, justify="left" if col == "checkpoint" else "right")
        for r in results:
            n = len(r.shapes)
            table.add_row(r.label, f"{r.empty_element} -> {r.circle_element}", f"{r.one_circle_frames}/{n}",
                          f"{r.wrong_color_frames}/{n}", f"{r.empty_frames}/{n}", f"{r.multi_component_frames}/{n}")
    table.caption = inner_steps_note(models) or None
    out.print(table)
    if fig_path is not None:
        out.print(f"figure: {fig_path}")
