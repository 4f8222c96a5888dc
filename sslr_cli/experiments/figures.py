"""PNG figures of the reconstruction analysis: Fig. 3/8 (decompositions), Fig. 2 (shift), Fig. 4
(latent interpolation), Fig. 5/6 (t-SNE). One row (or column block) per checkpoint.

Figures are built on ``matplotlib.figure.Figure`` with the Agg canvas (no pyplot state, no display)
and written atomically; an existing file is replaced only with ``force``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from sslr_cli.atomic import atomic_path, make_folder
from sslr_cli.errors import SSLRError
from sslr_cli.experiments.disentanglement import Decomposition
from sslr_cli.experiments.interpolation import LatentResult, ShiftResult
from sslr_cli.experiments.tsne_analysis import TsneResult

CELL = 1.0  # inches per image cell
DPI = 100


def output_path(explicit: Path | None, out_dir: Path, default_name: str, force: bool, option: str = "--figure") -> Path:
    """Where an output goes: ``explicit`` if given, else ``out_dir/default_name`` (``out_dir`` is
    created). Checked before any work is done: an existing file needs ``force``."""
    if explicit is None:
        if out_dir.exists() and not out_dir.is_dir():
            raise SSLRError(f"--out-dir {out_dir}: exists and is not a directory")
        make_folder(out_dir, f"--out-dir {out_dir}")
        path = out_dir / default_name
    else:
        path = Path(explicit)
    if path.is_dir():
        raise SSLRError(f"{option} {path}: is a directory")
    if path.exists() and not force:
        raise SSLRError(f"{option} {path}: already exists (use --force to overwrite)")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise SSLRError(f"{option} {path}: folder {parent} does not exist")
    return path


def figure_samples(n: int, samples: int, seed: int) -> np.ndarray:
    """Which of ``n`` images a decomposition figure shows: ``samples`` of them (all if fewer), drawn with
    ``seed``, in file order; the same seed picks the same images in every command."""
    return np.sort(np.random.default_rng(seed).choice(n, size=min(samples, n), replace=False))


def save_figure(fig: Figure, path: str | os.PathLike, force: bool = False) -> Path:
    """Write ``fig`` as PNG through a temporary file and a rename."""
    path = Path(path)
    FigureCanvasAgg(fig)
    with atomic_path(path, force=force, suffix=".png.tmp") as tmp:
        fig.savefig(tmp, format="png", dpi=DPI, bbox_inches="tight")
    return path


def _blank(ax) -> None:
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)


def _show(ax, image: np.ndarray | None, title: str | None = None) -> None:
    _blank(ax)
    if image is not None:
        ax.imshow(np.clip(image, 0, 1) if image.dtype != np.uint8 else image, interpolation="nearest")
        for spine in ax.spines.values():
            spine.set_visible(True)
            spine.set_color("0.6")
    if title:
        ax.set_title(title, fontsize=7)


def _draw_boxes(ax, boxes, color: str) -> None:
    """Rectangles (x0, y0, x1, y1) with exclusive ends, in pixel coordinates of the image on ``ax``."""
    from matplotlib.patches import Rectangle

    for x0, y0, x1, y1 in boxes:
        ax.add_patch(Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0, fill=False, edgecolor=color, linewidth=0.8))


def reconstruction_figure(originals: np.ndarray, decompositions: Sequence[tuple[str, Decomposition]],
                          original_boxes: Sequence | None = None,
                          element_boxes: Sequence | None = None) -> Figure:
    """Fig. 3 / Fig. 8: per sample a row: original | per checkpoint: reconstruction, non-empty elements.
    Fig. 7 adds boxes: ``original_boxes`` per sample (the ground truth, green) and ``element_boxes`` per
    checkpoint, per sample, per shown element (its predicted boxes, red)."""
    n = len(originals)
    widths = [1.0]
    blocks = []
    for label, dec in decompositions:
        k = max(1, max((len(e) for e in dec.elements), default=1))
        blocks.append((label, dec, len(widths) + 1, k))  # +1: a gap column before each block
        widths += [0.25, 1.0] + [1.0] * k
    fig = Figure(figsize=(CELL * sum(widths), CELL * 1.15 * n + 0.4))
    gs = fig.add_gridspec(n, len(widths), width_ratios=widths, wspace=0.05, hspace=0.15)
    for row in range(n):
        ax = fig.add_subplot(gs[row, 0])
        _show(ax, originals[row], "original" if row == 0 else None)
        if original_boxes is not None:
            _draw_boxes(ax, original_boxes[row], "limegreen")
        for m, (label, dec, col, k) in enumerate(blocks):
            _blank(fig.add_subplot(gs[row, col - 1]))
            _show(fig.add_subplot(gs[row, col]), dec.reconstructions[row], f"{label}\nreconstruction" if row == 0 else None)
            elements = dec.elements[row]
            for j in range(k):
                ax = fig.add_subplot(gs[row, col + 1 + j])
                title = f"element {dec.element_ids[row][j]}" if j < len(elements) else None
                _show(ax, elements[j] if j < len(elements) else None, title)
                if element_boxes is not None and j < len(elements):
                    _draw_boxes(ax, element_boxes[m][row][j], "red")
    return fig


def _palette(n: int) -> np.ndarray:
    cmap = colormaps["tab20"] if n > 10 else colormaps["tab10"]
    return np.array([cmap(i % cmap.N)[:3] for i in range(n)])


def responsibility_image(labels: np.ndarray, n_elements: int) -> np.ndarray:
    """(H, W) labels (0 = nothing drawn, 1 + element) -> RGB image, one colour per element, black background."""
    colors = np.vstack([np.zeros((1, 3)), _palette(n_elements)])
    return colors[labels]


def shift_figure(inputs: np.ndarray, results: Sequence[ShiftResult]) -> Figure:
    """Fig. 2: the input frames, then per checkpoint a row of frames coloured by the responsible element."""
    frames = len(inputs)
    fig = Figure(figsize=(CELL * frames + 1.2, CELL * 1.25 * (1 + len(results))))
    gs = fig.add_gridspec(1 + len(results), frames, wspace=0.05, hspace=0.35)
    for f in range(frames):
        ax = fig.add_subplot(gs[0, f])
        _show(ax, inputs[f], f"+{f} px")
        if f == 0:
            ax.set_ylabel("input", fontsize=7)
    for r, res in enumerate(results, start=1):
        for f in range(frames):
            ax = fig.add_subplot(gs[r, f])
            _show(ax, responsibility_image(res.responsibility[f], res.set_size))
            ax.set_xlabel(f"{res.sharing[f]} el.", fontsize=6)
            if f == 0:
                ax.set_ylabel(res.label, fontsize=7)
    return fig


def latent_figure(results: Sequence[LatentResult]) -> Figure:
    """Fig. 4: per checkpoint a row, from the empty element (left) to the circle element (right)."""
    steps = max(len(r.frames) for r in results)
    fig = Figure(figsize=(CELL * steps + 1.2, CELL * 1.3 * len(results)))
    gs = fig.add_gridspec(len(results), steps, wspace=0.05, hspace=0.4)
    for r, res in enumerate(results):
        for f, frame in enumerate(res.frames):
            ax = fig.add_subplot(gs[r, f])
            _show(ax, frame, f"a={res.alphas[f]:.2f}" if r == 0 else None)
            shape = res.shapes[f]
            mark = "circle" if shape.one_circle else ("empty" if shape.empty else f"{shape.components} comp.")
            ax.set_xlabel(mark + (" +wrong" if shape.wrong_color else ""), fontsize=6)
            if f == 0:
                ax.set_ylabel(f"{res.label}\n{res.empty_element}->{res.circle_element}", fontsize=7)
    return fig


def tsne_figure(results: Sequence[TsneResult]) -> Figure:
    """Fig. 5 (2-D: x, y, colour) / Fig. 6 (3-D: x, y, radius, colour); one row per checkpoint."""
    dims = results[0].dims
    panels = [("x", 0), ("y", 1)] + ([("radius", 2)] if dims == 3 else []) + [("color", 3)]
    fig = Figure(figsize=(3.0 * len(panels), 3.0 * len(results)))
    for r, res in enumerate(results):
        for p, (name, j) in enumerate(panels):
            kw = {"projection": "3d"} if dims == 3 else {}
            ax = fig.add_subplot(len(results), len(panels), r * len(panels) + p + 1, **kw)
            pts = res.tsne
            if name == "color":
                c = np.where(res.circles[:, 3][:, None] == 0, [[0.85, 0.1, 0.1]], [[0.1, 0.7, 0.1]])
                art = ax.scatter(*pts.T, c=c, s=4)
            else:
                art = ax.scatter(*pts.T, c=res.circles[:, j], cmap="viridis", s=4)
                fig.colorbar(art, ax=ax, fraction=0.046, pad=0.04).ax.tick_params(labelsize=6)
            ax.set_title(f"{res.label}: by {name}" if p == 0 else f"by {name}", fontsize=8)
            ax.tick_params(labelsize=5)
    fig.tight_layout()
    return fig
