"""The figure builders: one row (or column block) per checkpoint, and each cell shows the image it should.

A blank or mislaid figure still saves as a valid PNG, so these tests read the matplotlib figure itself:
which axes sit in which grid cell and what array each shows.
"""

from __future__ import annotations

import numpy as np
import pytest

from sslr_cli.experiments.disentanglement import Decomposition
from sslr_cli.experiments.figures import (latent_figure, reconstruction_figure, responsibility_image, save_figure,
                                          shift_figure, tsne_figure)
from sslr_cli.experiments.interpolation import FrameShape, LatentResult, ShiftResult
from sslr_cli.experiments.tsne_analysis import TsneResult

RNG = np.random.default_rng(0)
H = 8


def images(n: int) -> np.ndarray:
    return RNG.random((n, H, H, 3))


def cells(fig) -> dict[tuple[int, int], object]:
    """(row, column) of the grid -> the axes there (colour bars, which have no grid cell, are left out)."""
    out = {}
    for ax in fig.axes:
        spec = ax.get_subplotspec()
        if spec is None or ax.get_label() == "<colorbar>":
            continue
        spec = spec.get_topmost_subplotspec()  # a colour bar nests its axes in a sub-grid of the cell
        key = (spec.rowspan.start, spec.colspan.start)
        assert key not in out, f"two axes in cell {key}"
        out[key] = ax
    return out


def grid_shape(fig) -> tuple[int, int]:
    spec = next(ax.get_subplotspec() for ax in fig.axes if ax.get_subplotspec() is not None)
    return spec.get_topmost_subplotspec().get_gridspec().get_geometry()


def shown(ax) -> np.ndarray | None:
    return np.asarray(ax.images[0].get_array()) if ax.images else None


def test_reconstruction_figure_rows_per_sample_and_a_column_block_per_checkpoint():
    originals = images(3)
    # checkpoint A keeps 2, 0, 1 elements per image (block of 2 element columns), B keeps 1, 3, 0 (3 columns)
    dec_a = Decomposition(images(3), [images(2), images(0), images(1)], [[4, 1], [], [0]])
    dec_b = Decomposition(images(3), [images(1), images(3), images(0)], [[2], [0, 1, 3], []])
    fig = reconstruction_figure(originals, [("A", dec_a), ("B", dec_b)])
    # original | gap, reconstruction, 2 elements | gap, reconstruction, 3 elements
    assert grid_shape(fig) == (3, 1 + (2 + 2) + (2 + 3))
    grid = cells(fig)
    assert len(grid) == 3 * 10
    for row in range(3):
        np.testing.assert_array_equal(shown(grid[row, 0]), originals[row])
        for dec, col, k in ((dec_a, 2, 2), (dec_b, 6, 3)):
            assert shown(grid[row, col - 1]) is None  # the gap column
            np.testing.assert_array_equal(shown(grid[row, col]), dec.reconstructions[row])
            for j in range(k):
                if j < len(dec.elements[row]):
                    np.testing.assert_array_equal(shown(grid[row, col + 1 + j]), dec.elements[row][j])
                    assert grid[row, col + 1 + j].get_title() == f"element {dec.element_ids[row][j]}"
                else:
                    assert shown(grid[row, col + 1 + j]) is None
    assert grid[0, 2].get_title() == "A\nreconstruction" and grid[0, 6].get_title() == "B\nreconstruction"


def _shift(label: str, frames: int, set_size: int = 4) -> ShiftResult:
    resp = RNG.integers(0, set_size + 1, size=(frames, H, H))
    return ShiftResult(label, set_size, images(frames), resp, list(range(frames)), [0] * frames)


def test_shift_figure_input_row_then_a_row_per_checkpoint():
    inputs = (images(5) * 255).astype(np.uint8)
    results = [_shift("SRN a", 5), _shift("MLP b", 5)]
    fig = shift_figure(inputs, results)
    assert grid_shape(fig) == (3, 5)
    grid = cells(fig)
    assert len(grid) == 15
    for f in range(5):
        np.testing.assert_array_equal(shown(grid[0, f]), inputs[f])
        for r, res in enumerate(results, start=1):
            np.testing.assert_array_equal(shown(grid[r, f]), responsibility_image(res.responsibility[f], res.set_size))
            assert grid[r, f].get_xlabel() == f"{res.sharing[f]} el."
    assert [grid[r, 0].get_ylabel() for r in range(3)] == ["input", "SRN a", "MLP b"]


def test_responsibility_image_gives_each_element_its_own_colour_and_black_background():
    labels = np.array([[0, 1], [2, 3]])
    img = responsibility_image(labels, 3)
    assert (img[0, 0] == 0).all()
    colours = {tuple(img[0, 1]), tuple(img[1, 0]), tuple(img[1, 1])}
    assert len(colours) == 3 and (0.0, 0.0, 0.0) not in colours


def test_latent_figure_a_row_per_checkpoint_a_column_per_step():
    shape = FrameShape(components=1, wrong_color=False, round=True, empty=False)
    results = [LatentResult("SRN a", 2, 0, np.linspace(0, 1, 4), images(4), [shape] * 4),
               LatentResult("MLP b", 1, 3, np.linspace(0, 1, 4), images(4), [shape] * 4)]
    fig = latent_figure(results)
    assert grid_shape(fig) == (2, 4)
    grid = cells(fig)
    assert len(grid) == 8
    for r, res in enumerate(results):
        for f in range(4):
            np.testing.assert_array_equal(shown(grid[r, f]), res.frames[f])
        assert grid[r, 0].get_ylabel() == f"{res.label}\n{res.empty_element}->{res.circle_element}"


@pytest.mark.parametrize("dims, panels", [(2, ["x", "y", "color"]), (3, ["x", "y", "radius", "color"])])
def test_tsne_figure_a_row_per_checkpoint_a_panel_per_attribute(dims, panels):
    n = 12
    circles = np.column_stack([RNG.integers(5, 60, n), RNG.integers(5, 60, n), RNG.integers(3, 9, n),
                               RNG.integers(0, 2, n)]).astype(float)

    def result(label):
        return TsneResult(label, "x.pt", "srn", dims, circles, RNG.random((n, 4, 3)), None, np.zeros(n, int),
                          RNG.random((n, dims)), 5.0)

    results = [result("SRN a"), result("MLP b")]
    fig = tsne_figure(results)
    assert grid_shape(fig) == (2, len(panels))
    grid = cells(fig)
    assert len(grid) == 2 * len(panels)
    for r, res in enumerate(results):
        assert grid[r, 0].get_title() == f"{res.label}: by x"
        for p, name in enumerate(panels):
            ax = grid[r, p]
            (points,) = ax.collections
            if dims == 2:
                np.testing.assert_allclose(points.get_offsets(), res.tsne)
            else:
                np.testing.assert_allclose(np.column_stack(points._offsets3d), res.tsne)
            if name != "color":
                attribute = {"x": 0, "y": 1, "radius": 2}[name]
                np.testing.assert_allclose(points.get_array(), circles[:, attribute])


def test_save_figure_writes_the_figure_and_needs_force(tmp_path):
    from sslr_cli.errors import SSLRError

    shape = FrameShape(components=0, wrong_color=False, round=False, empty=True)
    fig = latent_figure([LatentResult("a", 0, 1, np.linspace(0, 1, 3), images(3), [shape] * 3)])
    path = save_figure(fig, tmp_path / "f.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and list(tmp_path.iterdir()) == [path]
    with pytest.raises(SSLRError, match="already exists"):
        save_figure(fig, path)
    save_figure(fig, path, force=True)
