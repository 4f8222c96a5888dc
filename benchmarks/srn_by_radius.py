"""Why SSLR-SRN leaves small circles undrawn: what z and the refinement do, by the circle's radius.

For one-circle images: ||z - z(empty image)|| (how far the image's embedding is from a blank image's),
the initial inner loss ||H_agg(S0) - z||^2, and how far the r inner steps move the set's furthest element,
||S_r - S0||, averaged per radius. If small circles barely move z from the blank image's, the refinement
treats them as a blank image and no element is moved into drawing them.

    python benchmarks/srn_by_radius.py RUN_OR_CKPT... --data k1.h5 [--json OUT]
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch

from failure_modes import load_run, one_count_images  # the sibling script (benchmarks/ is the script's path[0])
from sslr_cli.data.loader import to_float_images


@torch.no_grad()
def by_radius(model, images: torch.Tensor, radius: np.ndarray, batch: int = 100) -> dict[int, dict[str, float]]:
    g = model.encoder
    if getattr(g, "refiner", None) is None:
        raise SystemExit("not an SSLR-SRN model (no refinement loop)")
    model.eval()
    size = images.shape[1]
    z_blank = g(torch.zeros(1, 3, size, size)).embedding.float()
    rows = []
    for start in range(0, images.shape[0], batch):
        enc = g(to_float_images(images[start : start + batch]))
        z, s0, s = enc.embedding.float(), enc.initial_set.float(), enc.set.float()
        rows.append(torch.stack([(z - z_blank).norm(dim=1), ((g.refiner.agg(s0) - z) ** 2).sum(1),
                                 (s - s0).norm(dim=2).amax(dim=1)], 1))
    out = torch.cat(rows).numpy()
    return {int(r): {"images": int((radius == r).sum()), "z_from_blank": float(out[radius == r, 0].mean()),
                     "initial_inner_loss": float(out[radius == r, 1].mean()),
                     "largest_element_move": float(out[radius == r, 2].mean())} for r in np.unique(radius)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+")
    ap.add_argument("--data", required=True, help="one-circle images (gen-data circles --min-count 1 --max-count 1)")
    ap.add_argument("--json", default=None, help="append one JSON line per model")
    a = ap.parse_args()
    torch.set_num_threads(1)
    k, images, radius = one_count_images(a.data)
    if k != 1:
        raise SystemExit(f"{a.data}: expected one circle per image, found {k}")
    for run in a.runs:
        model, cfg, state = load_run(run)
        rows = by_radius(model, images, radius)
        print(f"{run}: step {state['step']}, r = {cfg.model.inner_steps}")
        print("  radius | ||z - z(blank)|| | ||H_agg(S0) - z||^2 | largest ||S_r - S0||")
        for r, d in rows.items():
            print(f"  {r:6d} | {d['z_from_blank']:16.2f} | {d['initial_inner_loss']:19.1f} | {d['largest_element_move']:20.2f}")
        if a.json:
            with open(a.json, "a") as f:
                f.write(json.dumps({"run": run, "step": state["step"], "data": a.data, "by_radius": rows}) + "\n")


if __name__ == "__main__":
    main()
