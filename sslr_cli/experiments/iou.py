"""Table 2's metrics (Sec. 4.2, App. B.2): overall IoU and per-object (Chamfer box) IoU on CLEVR,
plus ARI / foreground-ARI against the instance masks.

All masks come from one threshold t = 0.01 (App. B.2: "pixels with all channels smaller than 0.01
are set to zero"): a pixel of a predicted image is on when **any** channel is >= t.

Overall IoU (per image, then averaged over images): P = on-pixels of the reconstruction Y_hat,
G = pixels where any channel of the ground-truth ``foreground`` is > 0; IoU = |P & G| / |P | G|,
and 1 when both are empty. (The reference ``full_iou_clevr.py`` thresholds and intersects each
colour channel separately and sums intersections and unions over (C, H, W); with the paper's
"all channels" wording we count pixels. Images whose file has no real foreground, ``has_foreground``
= 0 from the importer, are skipped.)

Per-object IoU: each set element's weighted image softmax_i(I) * sigmoid(I_i) is thresholded the
same way; ``cv2.findContours(RETR_EXTERNAL)`` finds its connected components and every component's
``cv2.boundingRect`` is filled, so an element that failed to separate two objects yields one mask
holding two boxes. Ground-truth boxes (x0, y0, x1, y1), exclusive ends, are filled as
``[floor(y0):floor(y1), floor(x0):floor(x1)]`` (the reference truncates to integers too). Two
variants:

- ``paper`` (App. B.2, the default): Chamfer matching "each prediction is matched with the closest
  ground truth bounding box", cost = IoU. Only non-empty elements are predictions; an empty element
  (no pixel on) is no prediction and is ignored. Per image: the mean over its predictions of the
  best IoU with any ground-truth box; an image without any prediction scores 0 (it found nothing);
  an image without a visible ground-truth object is skipped. Averaged over images.
- ``reference`` (``chamfer_iou_clevr.py``, ref. notes Sec. 6): the direction is reversed, and
  slots are padded: the ground truth is a stack of max(|S|, K) box masks whose unused slots are
  empty, the predictions are all |S| elements (empty ones give empty masks), IoU = (|A & B| + 1e-6)
  / (|A | B| + 1e-6), and the image scores the mean over **ground-truth slots** of the best IoU with
  any prediction. An empty slot scores 1 as soon as one element is empty, so the padded slots
  inflate the score of a model with spare empty elements.

ARI: each pixel goes to the element with the largest channel-summed weighted value there; a pixel
where no element has a channel >= t is background (label 0). ARI compares this labelling with the
instance masks over all pixels (the ground as one more cluster), foreground-ARI over the object
pixels (mask > 0); images without masks (``has_mask`` = 0) are skipped.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import cv2
import numpy as np
import torch

from sslr_cli.data.loader import to_float_images
from sslr_cli.experiments.disentanglement import ari_scores

THRESHOLD = 0.01
MODES = ("paper", "reference")
PAPER_TABLE2 = {  # Table 2
    "SSLR-MLP": {"overall_iou": 0.9193, "per_object_iou": 0.7737},
    "SSLR-SRN": {"overall_iou": 0.9345, "per_object_iou": 0.8305},
}
_SMOOTH = 1e-6  # the reference's smoothing in its IoU matrix


def on_pixels(images: np.ndarray, threshold: float = THRESHOLD) -> np.ndarray:
    """(..., 3, H, W) values in [0, 1] -> (..., H, W) bool: any channel >= threshold."""
    return (np.asarray(images) >= threshold).any(axis=-3)


def overall_iou(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Per image IoU of two (N, H, W) boolean masks; 1 where both are empty."""
    pred = pred.reshape(len(pred), -1)
    target = target.reshape(len(target), -1)
    inter = (pred & target).sum(1)
    union = (pred | target).sum(1)
    return np.where(union > 0, inter / np.maximum(union, 1), 1.0)


def component_boxes(mask: np.ndarray) -> list[tuple[int, int, int, int]]:
    """(x0, y0, x1, y1), exclusive ends, of every outer contour of a boolean (H, W) mask."""
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    boxes = []
    for c in contours:
        x, y, w, h = cv2.boundingRect(c)
        boxes.append((x, y, x + w, y + h))
    return boxes


def fill_boxes(boxes, height: int, width: int) -> np.ndarray:
    """Boolean (H, W) union of the filled boxes (x0, y0, x1, y1), coordinates truncated to pixels."""
    out = np.zeros((height, width), bool)
    for x0, y0, x1, y1 in boxes:
        out[max(int(math.floor(y0)), 0): max(int(math.floor(y1)), 0), max(int(math.floor(x0)), 0): max(int(math.floor(x1)), 0)] = True
    return out


def gt_box_masks(boxes: np.ndarray, height: int, width: int) -> np.ndarray:
    """(K, 4) boxes, NaN rows = padding or hidden objects -> (K_visible, H, W) filled masks."""
    boxes = np.asarray(boxes, float).reshape(-1, 4)
    boxes = boxes[~np.isnan(boxes).any(1)]
    if len(boxes) == 0:
        return np.zeros((0, height, width), bool)
    return np.stack([fill_boxes([b], height, width) for b in boxes])


def iou_matrix(a: np.ndarray, b: np.ndarray, smooth: float = 0.0) -> np.ndarray:
    """(P, H, W) x (G, H, W) boolean masks -> (P, G) IoU. With ``smooth`` = 0, empty vs empty = 1."""
    a = a.reshape(len(a), -1).astype(np.float32)
    b = b.reshape(len(b), -1).astype(np.float32)
    inter = a @ b.T
    union = a.sum(1)[:, None] + b.sum(1)[None, :] - inter
    if smooth:
        return (inter + smooth) / (union + smooth)
    return np.where(union > 0, inter / np.maximum(union, 1), 1.0)


def element_box_masks(element_on: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(n, H, W) thresholded elements -> ((n, H, W) filled component boxes, (n,) number of boxes)."""
    n, h, w = element_on.shape
    masks = np.zeros((n, h, w), bool)
    counts = np.zeros(n, int)
    for i in range(n):
        if element_on[i].any():
            boxes = component_boxes(element_on[i])
            masks[i] = fill_boxes(boxes, h, w)
            counts[i] = len(boxes)
    return masks, counts


def per_object_iou_paper(pred_boxes: np.ndarray, nonempty: np.ndarray, gt: np.ndarray) -> float:
    """App. B.2: mean over non-empty elements of the best IoU with a ground-truth box mask.

    ``pred_boxes`` (n, H, W) filled element boxes, ``nonempty`` (n,) bool, ``gt`` (K, H, W).
    NaN when there is no ground-truth box (the image is skipped); 0 when no element is non-empty.
    """
    if len(gt) == 0:
        return math.nan
    if not nonempty.any():
        return 0.0
    return float(iou_matrix(pred_boxes[nonempty], gt).max(1).mean())


def per_object_iou_reference(pred_boxes: np.ndarray, gt: np.ndarray) -> float:
    """The reference code: max(|S|, K) ground-truth slots (empty padding), each takes its best
    prediction among all |S| elements, smoothed IoU; the mean over slots."""
    n, h, w = pred_boxes.shape
    slots = max(n, len(gt))
    padded = np.zeros((slots, h, w), bool)
    padded[: len(gt)] = gt
    return float(iou_matrix(padded, pred_boxes, smooth=_SMOOTH).max(1).mean())


def segmentation(element_images: np.ndarray, threshold: float = THRESHOLD) -> np.ndarray:
    """(B, n, 3, H, W) weighted element images -> (B, H, W) labels: 1 + most responsible element, 0 = nothing drawn."""
    labels = element_images.sum(axis=2).argmax(axis=1) + 1
    drawn = (element_images >= threshold).any(axis=(1, 2))
    return np.where(drawn, labels, 0)


@dataclass
class ImageScores:
    """Per-image values (NaN where an image is skipped)."""

    overall: np.ndarray
    per_object_paper: np.ndarray
    per_object_reference: np.ndarray
    ari: np.ndarray
    fg_ari: np.ndarray
    nonempty: np.ndarray  # non-empty elements
    boxes: np.ndarray  # predicted boxes (connected components over all elements)


def score_images(image: np.ndarray, element_images: np.ndarray, foreground: np.ndarray, boxes: np.ndarray,
                 masks: np.ndarray, has_foreground: np.ndarray | None = None, has_mask: np.ndarray | None = None,
                 threshold: float = THRESHOLD) -> ImageScores:
    """Score a batch. ``image`` (B, 3, H, W) and ``element_images`` (B, n, 3, H, W) in [0, 1];
    ``foreground`` uint8 (B, H, W, 3); ``boxes`` (B, K, 4); ``masks`` (B, H, W)."""
    b = len(image)
    has_foreground = np.ones(b, bool) if has_foreground is None else np.asarray(has_foreground).astype(bool)
    has_mask = np.ones(b, bool) if has_mask is None else np.asarray(has_mask).astype(bool)
    h, w = image.shape[-2:]
    overall = np.where(has_foreground, overall_iou(on_pixels(image, threshold), (foreground > 0).any(-1)), np.nan)
    paper = np.full(b, np.nan)
    reference = np.full(b, np.nan)
    ari = np.full(b, np.nan)
    fg_ari = np.full(b, np.nan)
    element_on = on_pixels(element_images, threshold)  # (B, n, H, W)
    nonempty = element_on.any(axis=(2, 3))
    n_boxes = np.zeros(b, int)
    seg = segmentation(element_images, threshold)
    for i in range(b):
        pred_boxes, counts = element_box_masks(element_on[i])
        n_boxes[i] = counts.sum()
        gt = gt_box_masks(boxes[i], h, w)
        paper[i] = per_object_iou_paper(pred_boxes, nonempty[i], gt)
        reference[i] = per_object_iou_reference(pred_boxes, gt)
    if has_mask.any():  # one ARI implementation for circles and CLEVR
        ari[has_mask], fg_ari[has_mask] = ari_scores(seg[has_mask], masks[has_mask])
    return ImageScores(overall, paper, reference, ari, fg_ari, nonempty.sum(1), n_boxes)


@dataclass
class IoUResult:
    overall_iou: float
    per_object_iou_paper: float
    per_object_iou_reference: float
    ari: float
    fg_ari: float
    images: int
    images_overall: int  # images scored for overall IoU (with a real foreground)
    images_per_object: int  # images with at least one visible ground-truth box
    images_ari: int  # images with instance masks
    mean_nonempty: float
    mean_boxes: float
    threshold: float

    def per_object(self, mode: str) -> float:
        return self.per_object_iou_paper if mode == "paper" else self.per_object_iou_reference

    def to_dict(self) -> dict:
        return asdict(self)


def _mean(values: np.ndarray) -> tuple[float, int]:
    keep = ~np.isnan(values)
    return (float(values[keep].mean()) if keep.any() else math.nan), int(keep.sum())


def summarize(scores: list[ImageScores], threshold: float = THRESHOLD) -> IoUResult:
    cat = {k: np.concatenate([getattr(s, k) for s in scores]) for k in ImageScores.__dataclass_fields__}
    overall, n_overall = _mean(cat["overall"])
    paper, n_obj = _mean(cat["per_object_paper"])
    reference, _ = _mean(cat["per_object_reference"])
    ari, n_ari = _mean(cat["ari"])
    fg_ari, _ = _mean(cat["fg_ari"])
    return IoUResult(overall, paper, reference, ari, fg_ari, len(cat["overall"]), n_overall, n_obj, n_ari,
                     float(cat["nonempty"].mean()), float(cat["boxes"].mean()), threshold)


@torch.no_grad()
def measure_iou(model, arrays: dict[str, np.ndarray], batch_size: int = 32, device: torch.device | str = "cpu",
                threshold: float = THRESHOLD, on_batch=None) -> IoUResult:
    """Run a SetAutoencoder (eval mode) over a CLEVR dataset's arrays: ``images``, ``foreground``,
    ``boxes``, ``masks`` and optionally ``has_foreground`` / ``has_mask``."""
    model.eval()
    n = len(arrays["images"])
    scores = []
    for start in range(0, n, batch_size):
        sl = slice(start, start + batch_size)
        x = to_float_images(torch.from_numpy(np.ascontiguousarray(arrays["images"][sl])).to(device))
        _, rec = model(x)
        scores.append(score_images(
            rec.image.float().cpu().numpy(), rec.element_images.float().cpu().numpy(), arrays["foreground"][sl],
            arrays["boxes"][sl], arrays["masks"][sl],
            arrays["has_foreground"][sl] if "has_foreground" in arrays else None,
            arrays["has_mask"][sl] if "has_mask" in arrays else None, threshold))
        if on_batch:
            on_batch(x.shape[0])
    return summarize(scores, threshold)
