"""Table 1's metric (App. A.2): how often an image is completely disentangled.

An element is non-empty when any value of its weighted image softmax_i(I) * sigmoid(I_i) (the
term summed into the reconstruction) exceeds the threshold (0.1 in the paper); an image is
completely disentangled when its number of non-empty elements equals its number of circles.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from sslr_cli.data.loader import to_float_images

PAPER_TABLE1 = {  # % of images completely disentangled, per number of circles
    "SSLR-MLP": {1: 45.1, 2: 16.5, 3: 7.8, 4: 3.2, 5: 1.9},
    "SSLR-SRN": {1: 95.8, 2: 88.7, 3: 79.9, 4: 72.7, 5: 65.2},
}


def nonempty_elements(element_images: torch.Tensor, threshold: float = 0.1) -> torch.Tensor:
    """(B, n, 3, H, W) weighted element images -> (B,) number of elements with any value > threshold."""
    return (element_images.flatten(2).amax(dim=2) > threshold).sum(dim=1)


@dataclass
class DisentanglementResult:
    threshold: float
    rates: dict[int, float]  # count -> % completely disentangled
    images: dict[int, int]  # count -> number of images
    mean_nonempty: dict[int, float]  # count -> mean number of non-empty elements
    mse: float  # mean squared error per pixel and channel over all images
    extra_thresholds: dict[float, dict[int, float]] = field(default_factory=dict)


def rates_from_counts(nonempty: np.ndarray, counts: np.ndarray) -> tuple[dict[int, float], dict[int, int], dict[int, float]]:
    rates, images, mean_ne = {}, {}, {}
    for k in sorted(np.unique(counts).tolist()):
        sel = counts == k
        images[int(k)] = int(sel.sum())
        rates[int(k)] = float(100.0 * (nonempty[sel] == k).mean())
        mean_ne[int(k)] = float(nonempty[sel].mean())
    return rates, images, mean_ne


@torch.no_grad()
def measure_disentanglement(model, images_u8: torch.Tensor, counts: np.ndarray, threshold: float = 0.1,
                            extra_thresholds: tuple[float, ...] = (), batch_size: int = 100,
                            device: torch.device | str = "cpu", on_batch=None) -> DisentanglementResult:
    """Run ``model`` (a SetAutoencoder in eval mode) over uint8 images (N, H, W, 3) with known counts."""
    model.eval()
    thresholds = (threshold, *extra_thresholds)
    found = {t: [] for t in thresholds}
    sq_err, n_values = 0.0, 0
    for start in range(0, images_u8.shape[0], batch_size):
        x = to_float_images(images_u8[start : start + batch_size].to(device))
        _, rec = model(x)
        for t in thresholds:
            found[t].append(nonempty_elements(rec.element_images, t).cpu())
        sq_err += float((rec.image - x).pow(2).sum())
        n_values += x.numel()
        if on_batch:
            on_batch(x.shape[0])
    counts = np.asarray(counts)
    rates, images, mean_ne = rates_from_counts(torch.cat(found[threshold]).numpy(), counts)
    extra = {t: rates_from_counts(torch.cat(found[t]).numpy(), counts)[0] for t in extra_thresholds}
    return DisentanglementResult(threshold, rates, images, mean_ne, sq_err / max(n_values, 1), extra)
