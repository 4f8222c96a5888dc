"""Why an image is not "completely disentangled" (Table 1, App. A.2): how its non-empty elements share the
circles, by circle count and, for one circle, by the circle's radius (``sslr reconstruct --by-radius``).

For each count k, over the images of that count: the distribution of the number of non-empty elements (an
element is non-empty when its weighted image has a value above the threshold; the image is disentangled when
that number is exactly k); for the images with more than k, the share of the drawn intensity carried by the k
largest elements (near 1: the extra elements are faint fragments just above the threshold; near k/(k+1) or
below: a circle really is split) and the largest value of the first extra element; for the images with fewer
than k, the largest value of any element and the effective number of elements drawing the image (exp of the
entropy of the elements' intensity shares). For one circle, the outcome by radius: one element, none, or two
or more.

For SSLR-SRN, ``refinement_by_radius`` says what z and the refinement do by radius: ``||z - z(blank image)||``,
the initial inner loss ``||H_agg(S0) - z||^2`` and the largest move of an element over the r inner steps,
``||S_r - S0||``. If small circles barely move z from a blank image's, the refinement treats them as a blank
image and no element is moved into drawing them.

torch is imported inside the functions: the CLI imports this module without loading torch.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class RadiusOutcome:
    """One-circle images of one radius: % drawn by exactly one element, by none, by two or more."""

    radius: int
    images: int
    rate: float  # one element: completely disentangled
    none: float
    more: float


@dataclass
class CountFailureModes:
    """Table 1's failure modes for the images with ``count`` circles (percentages of those images)."""

    count: int
    images: int
    rate: float  # completely disentangled: exactly ``count`` non-empty elements
    fewer: float
    more: float
    nonempty_histogram: dict[int, float]  # number of non-empty elements -> % of images
    more_top_k_mass_share_median: float | None = None
    more_extra_peak_median: float | None = None
    fewer_top_peak_median: float | None = None
    fewer_effective_elements_median: float | None = None
    by_radius: list[RadiusOutcome] = field(default_factory=list)  # one circle only

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["nonempty_histogram"] = {str(k): v for k, v in self.nonempty_histogram.items()}
        return d


@dataclass
class RefinementByRadius:
    """SSLR-SRN on one-circle images of one radius: means over those images."""

    radius: int
    images: int
    z_from_blank: float  # ||z - z(blank image)||
    initial_inner_loss: float  # ||H_agg(S0) - z||^2
    largest_element_move: float  # max over elements of ||S_r - S0||


def _pct(x) -> float:
    return round(100.0 * float(x), 1)


def _median(values: list[float], digits: int) -> float | None:
    import numpy as np

    return round(float(np.median(values)), digits) if values else None


def failure_modes(model, images, k: int, threshold: float = 0.1, batch_size: int = 100, radius=None,
                  device="cpu", inner_steps: int | None = None) -> CountFailureModes:
    """The failure modes of ``model`` on uint8 ``images`` (N, H, W, 3) that all hold ``k`` circles;
    ``radius`` (N,), for k = 1, adds the outcome by radius."""
    import numpy as np
    import torch

    from sslr_cli.data.loader import to_float_images
    from sslr_cli.experiments.disentanglement import element_masses

    model.eval()
    counts, shares, peaks, fewer_peaks, fewer_spread = [], [], [], [], []
    with torch.no_grad():
        for start in range(0, images.shape[0], batch_size):
            x = to_float_images(images[start : start + batch_size].to(device))
            # an AtR wrapper refines at its r; another r goes to the model inside it
            _, rec = model(x) if inner_steps is None else getattr(model, "model", model)(x, inner_steps)
            w = rec.element_images.float().cpu()
            peak = w.flatten(2).amax(dim=2)  # (B, n)
            mass = element_masses(w)
            nonempty = (peak > threshold).sum(dim=1)
            counts.append(nonempty)
            order = mass.argsort(dim=1, descending=True)
            for b in torch.nonzero(nonempty > k).flatten().tolist():
                m = mass[b, order[b]]
                shares.append(float(m[:k].sum() / m.sum()))
                peaks.append(float(peak[b, order[b, k]]))
            for b in torch.nonzero(nonempty < k).flatten().tolist():
                share = mass[b] / mass[b].sum()
                fewer_peaks.append(float(peak[b].max()))
                fewer_spread.append(float(torch.exp(-(share * share.clamp_min(1e-12).log()).sum())))
    n = torch.cat(counts).numpy()
    by_radius = []
    if radius is not None and k == 1:
        radius = np.asarray(radius)
        for r in np.unique(radius):
            sel = radius == r
            by_radius.append(RadiusOutcome(int(r), int(sel.sum()), _pct(np.mean(n[sel] == 1)), _pct(np.mean(n[sel] == 0)),
                                           _pct(np.mean(n[sel] > 1))))
    return CountFailureModes(
        count=k, images=int(len(n)), rate=_pct(np.mean(n == k)), fewer=_pct(np.mean(n < k)), more=_pct(np.mean(n > k)),
        nonempty_histogram={int(v): _pct(np.mean(n == v)) for v in np.unique(n)},
        more_top_k_mass_share_median=_median(shares, 3), more_extra_peak_median=_median(peaks, 3),
        fewer_top_peak_median=_median(fewer_peaks, 3), fewer_effective_elements_median=_median(fewer_spread, 2),
        by_radius=by_radius)


def failure_modes_by_count(model, images, counts, radius=None, threshold: float = 0.1, batch_size: int = 100,
                           device="cpu") -> list[CountFailureModes]:
    """``failure_modes`` for every circle count >= 1 among ``images`` (``counts``: (N,) ints); ``radius``:
    each image's first circle's radius (used for the one-circle images)."""
    import numpy as np
    import torch

    counts = np.asarray(counts)
    out = []
    for k in sorted(int(c) for c in np.unique(counts) if c >= 1):
        sel = np.flatnonzero(counts == k)
        out.append(failure_modes(model, images[torch.from_numpy(sel)], k, threshold, batch_size,
                                 None if radius is None else np.asarray(radius)[sel], device))
    return out


def refinement_by_radius(model, images, radius, batch_size: int = 100, device="cpu") -> list[RefinementByRadius]:
    """What z and SSLR-SRN's refinement do on one-circle ``images``, by ``radius``; an error for a model
    without a refinement loop."""
    import numpy as np
    import torch

    from sslr_cli.data.loader import to_float_images
    from sslr_cli.errors import SSLRError

    g = model.encoder
    if getattr(g, "refiner", None) is None:
        raise SSLRError("not an SSLR-SRN model (no refinement loop)")
    model.eval()
    size = images.shape[1]
    rows = []
    with torch.no_grad():
        z_blank = g(torch.zeros(1, 3, size, size, device=device)).embedding.float()
        for start in range(0, images.shape[0], batch_size):
            enc = g(to_float_images(images[start : start + batch_size].to(device)))
            z, s0, s = enc.embedding.float(), enc.initial_set.float(), enc.set.float()
            rows.append(torch.stack([(z - z_blank).norm(dim=1), ((g.refiner.agg(s0) - z) ** 2).sum(1),
                                     (s - s0).norm(dim=2).amax(dim=1)], 1).cpu())
    out = torch.cat(rows).numpy()
    radius = np.asarray(radius)
    return [RefinementByRadius(int(r), int((radius == r).sum()), float(out[radius == r, 0].mean()),
                               float(out[radius == r, 1].mean()), float(out[radius == r, 2].mean()))
            for r in np.unique(radius)]


def first_circle_radii(paths: list[Path], limit: int | None = None):
    """The radius of each image's first circle, for the images ``load_labelled_images(paths, limit)`` loads
    (the same files, in the same order); 0 for an image without circles."""
    import numpy as np

    from sslr_cli.data.store import open_scenes
    from sslr_cli.errors import SSLRError

    parts = []
    for p in paths:
        f = open_scenes(p, ("circles",))
        if "radius" not in f.fields:
            raise SSLRError(f"--by-radius: {p} has no circle radii")
        parts.append(f.load(["objects"], limit=limit)["objects"][:, 0, f.fields.index("radius")])
    return np.nan_to_num(np.concatenate(parts), nan=0.0).astype(int)


@dataclass
class ModelDiagnosis:
    """``sslr reconstruct --by-radius`` for one model: failure modes per count, SRN's refinement by radius."""

    label: str
    counts: list[CountFailureModes]
    refinement: list[RefinementByRadius] = field(default_factory=list)  # SSLR-SRN with one-circle images only

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "counts": [c.to_dict() for c in self.counts],
                "refinement_by_radius": [asdict(r) for r in self.refinement]}


def diagnose(models, data: list[Path], evaluation, threshold: float = 0.1, limit: int | None = None,
             batch_size: int = 100, device="cpu") -> list[ModelDiagnosis]:
    """Failure modes of each loaded model (``experiments.checkpoints.LoadedModel``) on the labelled images
    ``evaluation`` (``experiments.inputs.load_labelled_images(data, ..., limit)``)."""
    import numpy as np
    import torch

    radius = first_circle_radii(list(data), limit)
    one = np.flatnonzero(evaluation.counts == 1)
    out = []
    for m in models:
        counts = failure_modes_by_count(m.model, evaluation.images, evaluation.counts, radius, threshold, batch_size,
                                        device)
        refinement = []
        if len(one) and getattr(m.model.encoder, "refiner", None) is not None:
            refinement = refinement_by_radius(m.model, evaluation.images[torch.from_numpy(one)], radius[one], batch_size, device)
        out.append(ModelDiagnosis(m.label, counts, refinement))
    return out
