"""t-SNE of the latent elements that draw a single circle (Fig. 5 in 2-D, Fig. 6 in 3-D).

Images with exactly one circle (red or green) are grid-sampled over positions (and radii); each
is encoded and the element with the largest weighted mass sum softmax_i(I) * sigmoid(I_i) (the
one that draws the circle) is kept. scikit-learn's TSNE at default settings embeds those elements.

"Globally consistent" gets numbers: how well the circle's x, y, radius (cross-validated R^2) and
colour (accuracy) are predicted from its element by k nearest neighbours in latent space (and,
as a stricter test of one global coordinate system, by a linear map), and the t-SNE
trustworthiness. The paper: SRN's elements vary continuously with the circle, MLP's fall into
discontinuous clusters that are consistent only inside each cluster.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np
import torch
from sklearn.linear_model import LinearRegression
from sklearn.manifold import TSNE, trustworthiness
from sklearn.model_selection import KFold, StratifiedKFold, cross_val_score
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor

from sslr_cli.data.circles import CIRCLE_FIELDS, render_circles
from sslr_cli.data.loader import to_float_images
from sslr_cli.atomic import atomic_path
from sslr_cli.errors import SSLRError
from sslr_cli.experiments.disentanglement import element_masses

EMBEDDINGS_SCHEMA_VERSION = 1


def grid_circles(grid: int, radii: tuple[int, ...], size: int = 64) -> np.ndarray:
    """(N, 4) int rows (x, y, radius, color) for every grid position x radius x colour.

    Positions: ``grid`` evenly spaced integer coordinates per axis, inside the margin of the
    largest radius, so every circle of the grid lies fully inside the image.
    """
    if not 2 <= grid <= 64:  # t-SNE of grid^2 x radii x 2 images: past 64 it would run for hours
        raise SSLRError(f"--grid {grid}: must be in 2..64 positions per axis")
    if not radii or min(radii) < 1:
        raise SSLRError(f"--radii {','.join(map(str, radii))}: radii must be >= 1")
    margin = max(radii)
    if 2 * margin + 1 > size:
        raise SSLRError(f"--radii: radius {margin} does not fit in a {size}x{size} image")
    coords = np.unique(np.round(np.linspace(margin, size - 1 - margin, grid)).astype(np.int64))
    rows = [(x, y, r, c) for c in (0, 1) for r in radii for y in coords for x in coords]
    return np.array(rows, dtype=np.int64)


def render_grid(circles: np.ndarray, size: int = 64) -> np.ndarray:
    """uint8 images (N, H, W, 3), one circle each."""
    return np.stack([render_circles([row], size)[0] for row in circles])


@torch.no_grad()
def encode_grid(model, images_u8: np.ndarray, batch_size: int = 128, device: torch.device | str = "cpu",
                on_batch=None) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """(sets (N, |S|, D), embeddings z (N, E) or None for SSLR-MLP, chosen element index (N,))."""
    model.eval()
    sets, zs, chosen = [], [], []
    for start in range(0, len(images_u8), batch_size):
        x = to_float_images(torch.from_numpy(images_u8[start : start + batch_size]).to(device))
        enc, rec = model(x)
        sets.append(enc.set.float().cpu().numpy())
        if enc.embedding is not None:
            zs.append(enc.embedding.float().cpu().numpy())
        chosen.append(element_masses(rec.element_images.float()).argmax(dim=1).cpu().numpy())
        if on_batch:
            on_batch(x.shape[0])
    return np.concatenate(sets), (np.concatenate(zs) if zs else None), np.concatenate(chosen)


def _cv(n: int, folds: int) -> int:
    return max(2, min(folds, n))


def predictability(elements: np.ndarray, circles: np.ndarray, k: int = 5, folds: int = 5, seed: int = 0) -> dict[str, float]:
    """Cross-validated R^2 of x, y, radius (k-NN and linear) and accuracy of colour (k-NN) from the elements.

    A target that does not vary in the grid (the radius of a 2-D grid) gets NaN.
    """
    n = len(elements)
    k = max(1, min(k, n - n // _cv(n, folds) - 1))
    out: dict[str, float] = {}
    kfold = KFold(_cv(n, folds), shuffle=True, random_state=seed)
    for j, name in enumerate(CIRCLE_FIELDS[:3]):
        y = circles[:, j].astype(np.float64)
        if np.ptp(y) == 0:
            out[f"{name}_r2"] = out[f"{name}_linear_r2"] = math.nan
            continue
        out[f"{name}_r2"] = float(cross_val_score(KNeighborsRegressor(k), elements, y, cv=kfold, scoring="r2").mean())
        out[f"{name}_linear_r2"] = float(cross_val_score(LinearRegression(), elements, y, cv=kfold, scoring="r2").mean())
    colors = circles[:, 3]
    if len(np.unique(colors)) < 2 or np.bincount(colors).min() < 2:
        out["color_accuracy"] = math.nan
    else:
        strat = StratifiedKFold(max(2, min(folds, int(np.bincount(colors).min()))), shuffle=True, random_state=seed)
        out["color_accuracy"] = float(cross_val_score(KNeighborsClassifier(k), elements, colors, cv=strat,
                                                      scoring="accuracy").mean())
    return out


def tsne_embed(elements: np.ndarray, dims: int = 2, seed: int = 0) -> tuple[np.ndarray, float]:
    """scikit-learn TSNE at its default settings (perplexity lowered only when there are too few points)."""
    n = len(elements)
    if n < 4:
        raise SSLRError(f"--grid: {n} images are too few for t-SNE")
    perplexity = min(30.0, (n - 1) / 3.0)
    emb = TSNE(n_components=dims, perplexity=perplexity, random_state=seed).fit_transform(elements.astype(np.float64))
    return emb.astype(np.float32), perplexity


@dataclass
class TsneResult:
    label: str
    checkpoint: str
    generator: str
    dims: int
    circles: np.ndarray  # (N, 4) x, y, radius, color
    sets: np.ndarray  # (N, |S|, D)
    embeddings: np.ndarray | None  # (N, E) z = H_embed(X); None for SSLR-MLP
    chosen: np.ndarray  # (N,) index of the element that draws the circle
    tsne: np.ndarray  # (N, dims)
    perplexity: float
    scores: dict[str, float] = field(default_factory=dict)

    @property
    def elements(self) -> np.ndarray:
        return self.sets[np.arange(len(self.sets)), self.chosen]

    def summary(self) -> dict:
        return {"label": self.label, "checkpoint": self.checkpoint, "generator": self.generator, "dims": self.dims,
                "points": int(len(self.circles)), "perplexity": self.perplexity,
                "distinct_elements_used": int(len(np.unique(self.chosen))), **self.scores}


def run_tsne(model, label: str, checkpoint: str, generator: str, circles: np.ndarray, images_u8: np.ndarray,
             dims: int = 2, seed: int = 0, batch_size: int = 128, device: torch.device | str = "cpu",
             on_batch=None) -> TsneResult:
    if dims not in (2, 3):
        raise SSLRError(f"--dims {dims}: choose 2 or 3")
    sets, z, chosen = encode_grid(model, images_u8, batch_size, device, on_batch)
    elements = sets[np.arange(len(sets)), chosen]
    emb, perplexity = tsne_embed(elements, dims, seed)
    scores = predictability(elements, circles, seed=seed)
    scores["trustworthiness"] = float(trustworthiness(elements, emb, n_neighbors=min(5, (len(elements) - 1) // 2)))
    return TsneResult(label, checkpoint, generator, dims, circles, sets, z, chosen, emb, perplexity, scores)


def write_embeddings(path: str | Path, result: TsneResult, grid_params: dict, force: bool = False) -> Path:
    """The embeddings file: ``sets`` (N, |S|, D), ``embedding`` (N, E) = z, plus the chosen
    elements, their t-SNE coordinates and the circles; attributes name the checkpoint. Atomic.

    SSLR-MLP has no H_embed: its ``embedding`` is (N, 0) and the attribute ``embedding_source`` says so.
    """
    path = Path(path)
    n = len(result.sets)
    emb = result.embeddings if result.embeddings is not None else np.zeros((n, 0), np.float32)
    with atomic_path(path, force=force, suffix=".h5.tmp") as tmp:
        with h5py.File(tmp, "w", locking=False) as f:
            f.attrs["kind"] = "embeddings"
            f.attrs["schema_version"] = EMBEDDINGS_SCHEMA_VERSION
            f.attrs["checkpoint"] = result.checkpoint
            f.attrs["label"] = result.label
            f.attrs["generator"] = result.generator
            f.attrs["source"] = "sslr tsne: grid of one-circle images"
            f.attrs["params"] = json.dumps(grid_params, sort_keys=True)
            f.attrs["embedding_source"] = "z = H_embed(X)" if result.embeddings is not None else "none (SSLR-MLP has no H_embed)"
            f.attrs["perplexity"] = result.perplexity
            f.attrs["scores"] = json.dumps({k: (None if isinstance(v, float) and math.isnan(v) else v)
                                            for k, v in result.scores.items()})
            f.create_dataset("sets", data=result.sets.astype(np.float32))
            f.create_dataset("embedding", data=emb.astype(np.float32))
            f.create_dataset("elements", data=result.elements.astype(np.float32))
            f.create_dataset("chosen", data=result.chosen.astype(np.int16))
            f.create_dataset("tsne", data=result.tsne.astype(np.float32))
            ds = f.create_dataset("objects", data=result.circles.astype(np.float32))
            ds.attrs["fields"] = json.dumps(CIRCLE_FIELDS)
    return path
