"""Fig. 7: CLEVR decompositions, each shown element with the boxes Table 2's per-object IoU gives it.

The elements and boxes are the ones the per-object IoU scores (``experiments.iou``): an element is shown
when one of its pixels is on (any channel >= the IoU threshold, 0.01), and its boxes are the bounding
rectangles of its connected components, so a picture of an element that holds two objects shows two boxes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from sslr_cli.data.loader import to_float_images
from sslr_cli.experiments.disentanglement import Decomposition, decomposition_of
from sslr_cli.experiments.iou import THRESHOLD, component_boxes, on_pixels


@dataclass
class BoxedDecomposition:
    """A ``Decomposition`` (its elements: those with an on pixel, largest first) and per image, per shown
    element, its component boxes (x0, y0, x1, y1), exclusive ends."""

    decomposition: Decomposition
    boxes: list[list[list[tuple[int, int, int, int]]]]


@torch.no_grad()
def decompose_with_boxes(model, images_u8: torch.Tensor, threshold: float = THRESHOLD,
                         device: torch.device | str = "cpu") -> BoxedDecomposition:
    """Reconstruct uint8 images (n, H, W, 3); keep each image's elements with an on pixel and their boxes."""
    model.eval()
    _, rec = model(to_float_images(images_u8.to(device)))
    weighted = rec.element_images.float().clamp(0, 1)
    on = on_pixels(weighted.cpu().numpy(), threshold)  # (n, |S|, H, W)
    dec = decomposition_of(rec.image, weighted, torch.from_numpy(on.any(axis=(-2, -1))))
    boxes = [[component_boxes(on[b, i]) for i in idx] for b, idx in enumerate(dec.element_ids)]
    return BoxedDecomposition(dec, boxes)


def truth_boxes(boxes: np.ndarray) -> list[tuple[float, float, float, float]]:
    """(K, 4) ground-truth boxes with NaN padding rows -> the real ones as tuples."""
    boxes = np.asarray(boxes, float).reshape(-1, 4)
    return [tuple(float(v) for v in b) for b in boxes if not np.isnan(b).any()]
