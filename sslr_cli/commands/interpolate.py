"""`sslr interpolate`: who draws a moving circle (Fig. 2, --mode shift) and what lies between an empty
element and a circle element in latent space (Fig. 4, --mode latent), one row per checkpoint."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer
from rich.table import Table

from sslr_cli.commands.common import DeviceOption, InnerStepsOption, QuietOption, out, print_json, progress_bar, user_errors
from sslr_cli.errors import SSLRError


def interpolate_command(
    checkpoints: List[Path] = typer.Argument(..., help="Checkpoint files or run directories (best.pt is used)."),
    mode: str = typer.Option("shift", "--mode", "-m", help="shift: move a circle 1 px per frame (Fig. 2); latent: walk from an empty element to a circle element (Fig. 4)."),
    frames: int = typer.Option(10, "--frames", help="shift: number of frames (the circle moves frames-1 pixels)."),
    steps: int = typer.Option(10, "--steps", help="latent: interpolation points, end points included."),
    color: str = typer.Option("green", "--color", help="Circle colour: green (the paper) or red."),
    radius: int = typer.Option(8, "--radius", help="Circle radius in pixels."),
    x: Optional[int] = typer.Option(None, "--x", help="Circle centre x, of the first frame in shift mode (default: centred)."),
    y: Optional[int] = typer.Option(None, "--y", help="Circle centre y (default: centred)."),
    threshold: float = typer.Option(0.1, "--threshold", help="shift: an element is responsible when its weighted image exceeds this on the circle."),
    pixel_threshold: float = typer.Option(0.5, "--pixel-threshold", help="latent: a decoded pixel is drawn when a channel exceeds this."),
    circle_element: Optional[int] = typer.Option(None, "--circle-element", help="latent: index of the circle element (default: the one drawing the circle)."),
    empty_element: Optional[int] = typer.Option(None, "--empty-element", help="latent: index of the empty element (default: the emptiest decoded element)."),
    figure: Optional[Path] = typer.Option(None, "--figure", help="Figure file (default: <out-dir>/interpolate-<mode>.png).", dir_okay=False),
    out_dir: Path = typer.Option(Path("."), "--out-dir", help="Folder for the default figure name."),
    no_figure: bool = typer.Option(False, "--no-figure", help="Print the table only."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing figure."),
    inner_steps: InnerStepsOption = None,
    device: DeviceOption = "auto",
    quiet: QuietOption = False,
    as_json: bool = typer.Option(False, "--json", help="Print the results as JSON."),
) -> None:
    """Fig. 2 (--mode shift) and Fig. 4 (--mode latent): responsibility hand-over and latent interpolation."""
    _interpolate(**locals())


@user_errors
def _interpolate(checkpoints, mode, frames, steps, color, radius, x, y, threshold, pixel_threshold, circle_element,
                 empty_element, figure, out_dir, no_figure, force, device, quiet, as_json, inner_steps=None) -> None:
    from sslr_cli.engine.device import resolve_device
    from sslr_cli.experiments import interpolation as interp
    from sslr_cli.experiments.checkpoints import inner_steps_note, load_models

    if mode not in ("shift", "latent"):
        raise SSLRError(f"--mode {mode!r}: choose shift or latent")
    if color not in interp.COLORS:
        raise SSLRError(f"--color {color!r}: choose green or red")
    if not 0.0 < threshold < 1.0:
        raise SSLRError(f"--threshold {threshold}: must be in (0, 1)")
    if not 0.0 < pixel_threshold < 1.0:
        raise SSLRError(f"--pixel-threshold {pixel_threshold}: must be in (0, 1)")
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
