"""Why an image is not "completely disentangled" (Table 1): how its non-empty elements share the circles.

    PYTHONPATH=$PWD python benchmarks/failure_modes.py RUN_OR_CHECKPOINT... --data k1.h5 [--data k2.h5 ...]

For each model and circle count k, over the images of that count: the distribution of the number of non-empty
elements (an element is non-empty when its weighted image has a value above --threshold, App. A.2; the image
is disentangled when that number is exactly k), and for the images with more than k non-empty elements the
share of the drawn intensity carried by the k largest elements (near 1: the extra elements are faint
fragments just above the threshold; near k/(k+1) or below: a circle really is split between elements) and
the largest value of the first extra element (how far above the threshold the fragment reaches);
for one circle, the outcome by the circle's radius; for the
images with fewer than k, the largest value of any element (below the threshold by definition) and the
effective number of elements drawing the image (exp of the entropy of the elements' intensity shares: many
faint elements blending into one circle).
Prints one table per model and, with --json, the numbers. One thread, CPU.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from sslr_cli.data.store import open_scenes
from sslr_cli.engine.checkpoint import load_model
from sslr_cli.experiments.disentanglement import element_masses
from sslr_cli.data.loader import to_float_images


@torch.no_grad()
def failure_modes(model, images: torch.Tensor, k: int, threshold: float, batch: int = 100,
                  radius: np.ndarray | None = None, inner_steps: int | None = None) -> dict:
    model.eval()
    counts, shares, peaks, fewer_peaks, fewer_spread = [], [], [], [], []
    for start in range(0, images.shape[0], batch):
        _, rec = model(to_float_images(images[start : start + batch]), inner_steps)
        w = rec.element_images.float()
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
    by_radius = {}
    if radius is not None and k == 1:  # one circle: the outcome by its radius
        for r in np.unique(radius):
            sel = radius == r
            by_radius[int(r)] = {"images": int(sel.sum()), "rate": round(100.0 * float(np.mean(n[sel] == 1)), 1),
                                 "none": round(100.0 * float(np.mean(n[sel] == 0)), 1),
                                 "more": round(100.0 * float(np.mean(n[sel] > 1)), 1)}
    hist = {int(v): round(100.0 * float(np.mean(n == v)), 1) for v in np.unique(n)}
    return {"count": k, "images": int(len(n)), "rate": round(100.0 * float(np.mean(n == k)), 1),
            "fewer": round(100.0 * float(np.mean(n < k)), 1), "more": round(100.0 * float(np.mean(n > k)), 1),
            "nonempty_histogram": hist,
            "more_top_k_mass_share_median": round(float(np.median(shares)), 3) if shares else None,
            "more_extra_peak_median": round(float(np.median(peaks)), 3) if peaks else None,
            "fewer_top_peak_median": round(float(np.median(fewer_peaks)), 3) if fewer_peaks else None,
            "fewer_effective_elements_median": round(float(np.median(fewer_spread)), 2) if fewer_spread else None,
            **({"by_radius": by_radius} if by_radius else {})}


def one_count_images(path: str, limit: int | None = None) -> tuple[int, torch.Tensor, np.ndarray]:
    """(k, uint8 images, radius of each image's first circle) of a test file whose images all hold k circles."""
    arr = open_scenes(path).load(["images", "counts", "objects"], limit=limit).arrays
    ks = np.unique(arr["counts"])
    if len(ks) != 1:
        raise SystemExit(f"{path}: expected images of one circle count, found {ks.tolist()}")
    return int(ks[0]), torch.from_numpy(arr["images"]), arr["objects"][:, 0, 2].astype(int)


def load_run(run: str):
    """(model, config, checkpoint state) of a run directory (its last.pt) or a checkpoint file, on the CPU."""
    p = Path(run)
    return load_model(p / "last.pt" if p.is_dir() else p, "cpu")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+")
    ap.add_argument("--data", action="append", required=True)
    ap.add_argument("--threshold", type=float, default=0.1)
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--inner-steps", type=int, default=None,
                    help="SRN: evaluate with this many inner steps r instead of the model's (0: S0 decoded as it is)")
    ap.add_argument("--json", default=None, help="append one JSON line per model and count to this file")
    a = ap.parse_args()
    torch.set_num_threads(1)
    sets = [one_count_images(path, a.limit) for path in a.data]
    for run in a.runs:
        model, cfg, state = load_run(run)
        print(f"{run}: {cfg.model.generator}, step {state['step']}" + ("" if a.inner_steps is None else f", r = {a.inner_steps}"))
        for k, images, radius in sets:
            row = {"run": run, "generator": cfg.model.generator, "step": state["step"],
                   **({} if a.inner_steps is None else {"inner_steps": a.inner_steps}),
                   **failure_modes(model, images, k, a.threshold, radius=radius, inner_steps=a.inner_steps)}
            print(f"  k={k}: rate {row['rate']} % | fewer {row['fewer']} % | more {row['more']} % | "
                  f"histogram {row['nonempty_histogram']} | extra: top-k mass share {row['more_top_k_mass_share_median']}, "
                  f"peak {row['more_extra_peak_median']} | fewer: top peak {row['fewer_top_peak_median']}, "
                  f"effective elements {row['fewer_effective_elements_median']}")
            for r, d in row.get("by_radius", {}).items():
                print(f"    radius {r:2d}: {d['images']:4d} images | one element {d['rate']:5.1f} % | none {d['none']:5.1f} % | "
                      f"more {d['more']:5.1f} %")
            if a.json:
                with open(a.json, "a") as f:
                    f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
