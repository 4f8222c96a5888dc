"""Table 1's metric (App. A.2): how often an image is completely disentangled, plus the measures the
object-centric literature uses (ARI, foreground-ARI) and the reconstruction error.

An element is non-empty when any value of its weighted image softmax_i(I) * sigmoid(I_i) (the
term summed into the reconstruction) exceeds the threshold (0.1 in the paper); an image is
completely disentangled when its number of non-empty elements equals its number of circles.

Segmentation for ARI: each pixel goes to the element with the largest weighted value there
(summed over the colour channels), the "most responsible" element; a pixel where no element has
any channel above the same threshold is background. ARI compares this labelling with the instance
masks over all pixels, foreground-ARI over the pixels the masks mark as an object (mask > 0).
As everywhere in the literature, foreground-ARI of a one-object image is 1 whenever its object
pixels carry a single label, even the background label; read it beside the MSE and Table 1.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from sklearn.metrics import adjusted_rand_score

from sslr_cli.data.loader import to_float_images

PAPER_TABLE1 = {  # % of images completely disentangled, per number of circles
    "SSLR-MLP": {1: 45.1, 2: 16.5, 3: 7.8, 4: 3.2, 5: 1.9},
    "SSLR-SRN": {1: 95.8, 2: 88.7, 3: 79.9, 4: 72.7, 5: 65.2},
}


def nonempty_elements(element_images: torch.Tensor, threshold: float = 0.1) -> torch.Tensor:
    """(B, n, 3, H, W) weighted element images -> (B,) number of elements with any value > threshold."""
    return (element_images.flatten(2).amax(dim=2) > threshold).sum(dim=1)


def nonempty_mask(element_images: torch.Tensor, threshold: float = 0.1) -> torch.Tensor:
    """(B, n, 3, H, W) -> (B, n) bool: which elements are non-empty."""
    return element_images.flatten(2).amax(dim=2) > threshold


def element_masses(element_images: torch.Tensor) -> torch.Tensor:
    """(B, n, 3, H, W) -> (B, n): the total weighted intensity each element adds to the reconstruction."""
    return element_images.flatten(2).sum(dim=2)


def responsibility_segmentation(element_images: torch.Tensor, threshold: float = 0.1) -> torch.Tensor:
    """(B, n, 3, H, W) -> (B, H, W) int64 labels: 1 + the most responsible element, 0 = background.

    Most responsible = largest weighted value summed over channels; background = no element has a
    channel above ``threshold`` at that pixel (nothing is drawn there).
    """
    per_pixel = element_images.sum(dim=2)  # (B, n, H, W)
    labels = per_pixel.argmax(dim=1) + 1
    drawn = element_images.amax(dim=(1, 2)) > threshold  # (B, H, W)
    return torch.where(drawn, labels, torch.zeros_like(labels))


def ari_scores(segmentation: np.ndarray, masks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per image: (ARI over all pixels, foreground-ARI over pixels with mask > 0).

    ``segmentation`` and ``masks`` are (B, H, W) integer labellings. Foreground-ARI is NaN for an
    image without foreground. Label values need not agree: ARI is invariant to renaming.
    """
    segmentation = np.asarray(segmentation).reshape(len(segmentation), -1)
    masks = np.asarray(masks).reshape(len(masks), -1)
    ari = np.empty(len(masks))
    fg = np.full(len(masks), np.nan)
    for i, (pred, true) in enumerate(zip(segmentation, masks)):
        ari[i] = adjusted_rand_score(true, pred)
        sel = true > 0
        if sel.any():
            fg[i] = adjusted_rand_score(true[sel], pred[sel])
    return ari, fg


@dataclass
class DisentanglementResult:
    threshold: float
    rates: dict[int, float]  # count -> % completely disentangled
    images: dict[int, int]  # count -> number of images
    mean_nonempty: dict[int, float]  # count -> mean number of non-empty elements
    mse: float  # mean squared error per pixel and channel over all images
    extra_thresholds: dict[float, dict[int, float]] = field(default_factory=dict)
    ari: float = math.nan  # mean over images; NaN when no masks were given
    fg_ari: float = math.nan  # mean over images with foreground
    ari_by_count: dict[int, float] = field(default_factory=dict)
    fg_ari_by_count: dict[int, float] = field(default_factory=dict)

    @property
    def n_images(self) -> int:
        return int(sum(self.images.values()))

    def to_dict(self) -> dict:
        d = asdict(self)
        d["extra_thresholds"] = {str(t): v for t, v in self.extra_thresholds.items()}
        d["n_images"] = self.n_images
        return d


def rates_from_counts(nonempty: np.ndarray, counts: np.ndarray) -> tuple[dict[int, float], dict[int, int], dict[int, float]]:
    rates, images, mean_ne = {}, {}, {}
    for k in sorted(np.unique(counts).tolist()):
        sel = counts == k
        images[int(k)] = int(sel.sum())
        rates[int(k)] = float(100.0 * (nonempty[sel] == k).mean())
        mean_ne[int(k)] = float(nonempty[sel].mean())
    return rates, images, mean_ne


def _mean_by_count(values: np.ndarray, counts: np.ndarray) -> dict[int, float]:
    out = {}
    for k in sorted(np.unique(counts).tolist()):
        v = values[counts == k]
        v = v[~np.isnan(v)]
        out[int(k)] = float(v.mean()) if v.size else math.nan
    return out


def _nanmean(values: np.ndarray) -> float:
    values = values[~np.isnan(values)]
    return float(values.mean()) if values.size else math.nan


@torch.no_grad()
def measure_disentanglement(model, images_u8: torch.Tensor, counts: np.ndarray, threshold: float = 0.1,
                            extra_thresholds: tuple[float, ...] = (), batch_size: int = 100,
                            device: torch.device | str = "cpu", on_batch=None,
                            masks: np.ndarray | None = None) -> DisentanglementResult:
    """Run ``model`` (a SetAutoencoder in eval mode) over uint8 images (N, H, W, 3) with known counts.

    With ``masks`` (N, H, W instance ids) also the ARI and foreground-ARI of the responsibility
    segmentation (threshold ``threshold``). ``no_grad`` rather than ``inference_mode``: SRN's
    inner loop needs autograd even at evaluation.
    """
    model.eval()
    thresholds = (threshold, *extra_thresholds)
    found = {t: [] for t in thresholds}
    aris, fg_aris = [], []
    sq_err, n_values = 0.0, 0
    for start in range(0, images_u8.shape[0], batch_size):
        x = to_float_images(images_u8[start : start + batch_size].to(device))
        _, rec = model(x)
        weighted = rec.element_images.float()
        for t in thresholds:
            found[t].append(nonempty_elements(weighted, t).cpu())
        if masks is not None:
            seg = responsibility_segmentation(weighted, threshold).cpu().numpy()
            a, f = ari_scores(seg, np.asarray(masks[start : start + x.shape[0]]))
            aris.append(a)
            fg_aris.append(f)
        sq_err += float((rec.image.float() - x).pow(2).sum())
        n_values += x.numel()
        if on_batch:
            on_batch(x.shape[0])
    counts = np.asarray(counts)
    rates, images, mean_ne = rates_from_counts(torch.cat(found[threshold]).numpy(), counts)
    extra = {t: rates_from_counts(torch.cat(found[t]).numpy(), counts)[0] for t in extra_thresholds}
    result = DisentanglementResult(threshold, rates, images, mean_ne, sq_err / max(n_values, 1), extra)
    if masks is not None:
        ari, fg = np.concatenate(aris), np.concatenate(fg_aris)
        result.ari, result.fg_ari = _nanmean(ari), _nanmean(fg)
        result.ari_by_count, result.fg_ari_by_count = _mean_by_count(ari, counts), _mean_by_count(fg, counts)
    return result


@dataclass
class Decomposition:
    """Fig. 3 / Fig. 8 material for a few images of one model (float images in [0, 1], HWC)."""

    reconstructions: np.ndarray  # (n, H, W, 3)
    elements: list[np.ndarray]  # per image: (k, H, W, 3) weighted images of its non-empty elements, largest first
    element_ids: list[list[int]]  # per image: which set elements those are


@torch.no_grad()
def decompose(model, images_u8: torch.Tensor, threshold: float = 0.1, device: torch.device | str = "cpu") -> Decomposition:
    """Reconstruct uint8 images (n, H, W, 3) and keep each image's non-empty weighted elements."""
    model.eval()
    x = to_float_images(images_u8.to(device))
    _, rec = model(x)
    weighted = rec.element_images.float()
    return decomposition_of(rec.image, weighted, nonempty_mask(weighted, threshold))


def decomposition_of(image: torch.Tensor, weighted: torch.Tensor, keep: torch.Tensor) -> Decomposition:
    """A model's output as figure material: its reconstruction ``image`` (n, 3, H, W) and, per image, the
    ``weighted`` element images (n, |S|, 3, H, W) that ``keep`` (n, |S|) marks, largest total intensity first."""
    mass = element_masses(weighted)
    elements, ids = [], []
    for b in range(weighted.shape[0]):
        idx = [int(i) for i in torch.argsort(mass[b], descending=True) if keep[b, i]]
        ids.append(idx)
        elements.append(weighted[b, idx].clamp(0, 1).permute(0, 2, 3, 1).cpu().numpy())
    return Decomposition(image.float().clamp(0, 1).permute(0, 2, 3, 1).cpu().numpy(), elements, ids)
