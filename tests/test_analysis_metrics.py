"""The reconstruction-analysis metrics on hand-made decompositions with known answers."""

from __future__ import annotations

import math
from types import SimpleNamespace

import h5py
import numpy as np
import pytest
import torch
from torch import nn

import conftest

from sslr_cli.data.circles import render_circles
from sslr_cli.errors import SSLRError
from sslr_cli.experiments.disentanglement import (
    ari_scores,
    decompose,
    measure_disentanglement,
    nonempty_elements,
    rates_from_counts,
    responsibility_segmentation,
)
from sslr_cli.experiments.interpolation import (
    ShiftResult,
    frame_shape,
    responsible_elements,
    run_latent,
    run_shift,
    shift_frames,
)
from sslr_cli.experiments.tsne_analysis import (
    TsneResult,
    grid_circles,
    predictability,
    render_grid,
    write_embeddings,
)
from sslr_cli.models.decoder import Reconstruction, compose

S = 16  # image side for hand-made inputs


def disc(x: int, y: int, r: int, size: int = S) -> torch.Tensor:
    return torch.from_numpy(conftest.disc(x, y, r, size))


def elements(*planes) -> torch.Tensor:
    """Weighted element images (1, n, 3, S, S) from (mask, channel, value) triples, one per element."""
    out = torch.zeros(1, len(planes), 3, S, S)
    for i, (mask, channel, value) in enumerate(planes):
        out[0, i, channel][mask] = value
    return out


A, B = disc(4, 4, 2), disc(11, 11, 3)


def test_exactly_disentangled_two_circles():
    faint = torch.ones(S, S, dtype=torch.bool)
    e = elements((A, 1, 1.0), (B, 0, 1.0), (faint, 1, 0.05))  # third element: faint everywhere, below 0.1
    assert nonempty_elements(e).tolist() == [2]
    rates, images, mean_ne = rates_from_counts(nonempty_elements(e).numpy(), np.array([2]))
    assert rates == {2: 100.0} and images == {2: 1} and mean_ne == {2: 2.0}


def test_split_circle_is_not_disentangled():
    left = B.clone()
    left[:, 11:] = False
    right = B & ~left
    e = elements((A, 1, 1.0), (left, 0, 0.6), (right, 0, 0.6))
    assert nonempty_elements(e).tolist() == [3]
    assert rates_from_counts(nonempty_elements(e).numpy(), np.array([2]))[0] == {2: 0.0}


def test_threshold_is_strict_and_movable():
    e = elements((A, 1, 1.0), (B, 0, 0.1), (B, 1, 0.3))
    assert nonempty_elements(e, 0.1).tolist() == [2]  # exactly 0.1 is not "more than .1"
    assert nonempty_elements(e, 0.5).tolist() == [1]


def test_segmentation_labels_and_background():
    e = elements((A, 1, 0.9), (B, 0, 0.8), (A | B, 2, 0.05))
    seg = responsibility_segmentation(e)[0]
    assert (seg[A] == 1).all() and (seg[B] == 2).all()
    assert (seg[~(A | B)] == 0).all()  # nothing above 0.1 there: background


def test_ari_perfect_relabelled_merged_and_empty():
    mask = np.zeros((1, S, S), np.int64)
    mask[0][A.numpy()] = 1
    mask[0][B.numpy()] = 2
    relabelled = np.where(mask == 1, 7, np.where(mask == 2, 3, 0))
    ari, fg = ari_scores(relabelled, mask)
    assert ari[0] == pytest.approx(1.0) and fg[0] == pytest.approx(1.0)
    merged = (mask > 0).astype(np.int64)  # one element draws both circles
    _, fg = ari_scores(merged, mask)
    assert fg[0] == pytest.approx(0.0)
    ari, fg = ari_scores(np.zeros((1, S, S), np.int64), np.zeros((1, S, S), np.int64))
    assert ari[0] == pytest.approx(1.0) and math.isnan(fg[0])


class ChannelSplit(nn.Module):
    """A stand-in autoencoder whose element i is colour channel i of the input: it reconstructs
    exactly and puts every red circle in element 0 and every green circle in element 1."""

    def forward(self, x):
        weighted = torch.stack([x * (torch.arange(3) == c).view(1, 3, 1, 1) for c in range(3)], dim=1)
        enc = SimpleNamespace(set=x.flatten(2).mean(2)[:, :, None].repeat(1, 1, 2), embedding=None)
        return enc, Reconstruction(weighted.sum(1), weighted)


def _two_colour_scenes(n: int = 3):
    images, masks = [], []
    for i in range(n):
        im, m = render_circles([(5 + i, 5, 3, 0), (20, 20 + i, 4, 1)], 32)
        images.append(im)
        masks.append(m)
    return torch.from_numpy(np.stack(images)), np.stack(masks)


def test_measure_disentanglement_on_exact_model():
    images, masks = _two_colour_scenes()
    res = measure_disentanglement(ChannelSplit(), images, np.full(3, 2), extra_thresholds=(0.5,), batch_size=2, masks=masks)
    assert res.rates == {2: 100.0} and res.extra_thresholds[0.5] == {2: 100.0}
    assert res.mse == pytest.approx(0.0) and res.ari == pytest.approx(1.0) and res.fg_ari == pytest.approx(1.0)
    assert res.n_images == 3 and res.to_dict()["fg_ari_by_count"] == {2: pytest.approx(1.0)}
    res = measure_disentanglement(ChannelSplit(), images, np.full(3, 3))  # claimed 3 circles, 2 found
    assert res.rates == {3: 0.0} and math.isnan(res.ari)


def test_decompose_keeps_non_empty_elements_largest_first():
    images, _ = _two_colour_scenes(1)
    dec = decompose(ChannelSplit(), images)
    assert dec.element_ids == [[1, 0]]  # the green circle (r=4) outweighs the red one (r=3)
    assert dec.elements[0].shape == (2, 32, 32, 3) and dec.reconstructions.shape == (1, 32, 32, 3)


# --- interpolation -----------------------------------------------------------------------------


def test_responsible_elements_only_count_pixels_on_the_circle():
    off = disc(12, 12, 2)
    e = elements((A, 1, 0.9), (off, 1, 0.9), (A & disc(4, 4, 0), 0, 0.15))
    assert responsible_elements(e, A[None]).tolist() == [[True, False, True]]


def test_shift_result_counts():
    r = ShiftResult("x", 4, np.zeros((4, 2, 2, 3)), np.zeros((4, 2, 2), int), [1, 1, 2, 1], [0, 0, 1, 1])
    assert r.mean_sharing == 1.25 and r.single_frames == 3 and r.handovers == 1


def test_shift_frames_move_one_pixel_and_check_bounds():
    images, masks = shift_frames(1, 3, 10, 12, 5, 32)
    assert images.shape == (5, 32, 32, 3) and (images[..., 0] == 0).all()
    for f in range(5):
        assert (masks[f] == np.roll(masks[0], f, axis=1)).all()
    with pytest.raises(SSLRError, match="--frames"):
        shift_frames(1, 3, 20, 12, 10, 32)


def test_run_shift_with_one_element_per_colour():
    images, masks = shift_frames(1, 4, 10, 16, 3, 32)
    res = run_shift(ChannelSplit(), "split", images, masks)
    assert res.sharing == [1, 1, 1] and res.dominant == [1, 1, 1] and res.handovers == 0
    assert set(np.unique(res.responsibility)) == {0, 2}


def _image(*circles, size=32):
    return render_circles(list(circles), size)[0] / 255.0


def test_frame_shape_classes():
    assert frame_shape(_image((16, 16, 6, 1)), 1).one_circle
    two = frame_shape(_image((8, 8, 3, 1), (22, 22, 3, 1)), 1)
    assert two.components == 2 and not two.one_circle
    red = _image((16, 16, 6, 1))
    red[2, 2, 0] = 1.0
    assert frame_shape(red, 1).wrong_color and not frame_shape(red, 1).one_circle
    assert frame_shape(np.zeros((32, 32, 3)), 1).empty
    ring = _image((16, 16, 8, 1)) - _image((16, 16, 6, 1))
    bar = np.zeros((32, 32, 3))
    bar[10, 2:30, 1] = 1.0
    assert frame_shape(ring, 1).components == 1 and not frame_shape(ring, 1).round
    assert not frame_shape(bar, 1).round


class GrowingDisc(nn.Module):
    """A stand-in whose 1-D element v decodes to a green disc of radius 8 v at the centre."""

    def __init__(self, size: int = 32):
        super().__init__()
        yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
        self.d2 = ((xx - size // 2) ** 2 + (yy - size // 2) ** 2).float()

    def decode(self, s):
        r = 8 * s[..., 0]  # (B, n)
        inside = (self.d2 <= r[..., None, None] ** 2) & (r[..., None, None] > 0)
        logits = torch.full((*s.shape[:2], 3, *self.d2.shape), -12.0)
        logits[:, :, 1] = torch.where(inside, 12.0, -12.0)
        return compose(logits)

    def forward(self, x):
        s = torch.tensor([[0.0], [1.0], [0.0]]).expand(x.shape[0], 3, 1)
        return SimpleNamespace(set=s, embedding=None), self.decode(s)


def test_latent_interpolation_grows_a_circle():
    image, mask = render_circles([(16, 16, 8, 1)], 32)
    res = run_latent(GrowingDisc(), "grow", image, mask, color=1, steps=5)
    assert (res.circle_element, res.empty_element) == (1, 0)
    assert res.empty_frames == 1 and res.one_circle_frames == 4 and res.wrong_color_frames == 0
    assert [s.components for s in res.shapes] == [0, 1, 1, 1, 1]
    with pytest.raises(SSLRError, match="--circle-element"):
        run_latent(GrowingDisc(), "grow", image, mask, color=1, circle_element=3)


# --- t-SNE --------------------------------------------------------------------------------------


def test_grid_circles_render_one_circle_each():
    circles = grid_circles(4, (3, 5), 32)
    assert circles.shape == (4 * 4 * 2 * 2, 4) and len({tuple(c) for c in circles}) == len(circles)
    assert circles[:, :2].min() >= 5 and circles[:, :2].max() <= 26
    images = render_grid(circles[:6], 32)
    for img, (x, y, r, c) in zip(images, circles[:6]):
        assert (img[..., 1 - c] == 0).all() and img[y, x, c] == 255
        assert (img[..., c] > 0).sum() == (render_circles([(x, y, r, c)], 32)[1] > 0).sum()


def test_predictability_of_an_exact_code_and_of_noise():
    circles = grid_circles(8, (4,), 32)
    exact = np.column_stack([circles[:, 0], circles[:, 1], 100.0 * circles[:, 3]]).astype(float)
    s = predictability(exact, circles)
    assert s["x_r2"] > 0.9 and s["y_r2"] > 0.9 and s["x_linear_r2"] > 0.99 and s["color_accuracy"] == 1.0
    assert math.isnan(s["radius_r2"])  # one radius: nothing to predict
    # noise predicts nothing: R^2 at or below 0 (measured -0.45..-0.04), colour at chance over a few draws
    noise = [predictability(np.random.default_rng(seed).normal(size=(len(circles), 3)), circles) for seed in range(4)]
    for key in ("x_r2", "y_r2", "x_linear_r2", "y_linear_r2"):
        assert max(n[key] for n in noise) < 0.05, key
    assert 0.35 < np.mean([n["color_accuracy"] for n in noise]) < 0.65


def test_embeddings_file_schema(tmp_path):
    n, size_s, d = 6, 4, 3
    circles = grid_circles(2, (3,), 32)[:n]
    sets = np.random.default_rng(0).normal(size=(n, size_s, d)).astype(np.float32)
    res = TsneResult("MLP run", "runs/mlp/best.pt", "mlp", 2, circles, sets, None, np.arange(n) % size_s,
                     np.zeros((n, 2), np.float32), 1.5, {"x_r2": float("nan")})
    path = write_embeddings(tmp_path / "e.h5", res, {"grid": 2})
    with h5py.File(path) as f:
        assert f["sets"].shape == (n, size_s, d) and f["embedding"].shape == (n, 0)
        assert f["elements"].shape == (n, d) and f["tsne"].shape == (n, 2) and f["objects"].shape == (n, 4)
        assert np.allclose(f["elements"][()], sets[np.arange(n), np.arange(n) % size_s])
        assert f.attrs["checkpoint"] == "runs/mlp/best.pt" and f.attrs["kind"] == "embeddings"
    with pytest.raises(SSLRError, match="already exists"):
        write_embeddings(path, res, {})
