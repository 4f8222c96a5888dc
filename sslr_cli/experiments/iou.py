"""Table 2's metrics (Sec. 4.2, App. B.2): overall IoU and per-object (Chamfer box) IoU on CLEVR,
plus ARI / foreground-ARI against the instance masks.

Each metric has a default that follows the authors' code (CUVL/SSLR ``full_iou_clevr.py`` and
``chamfer_iou_clevr.py``, the scripts behind Table 2's numbers) and an alternative that follows one
reading of App. B.2's text; both are computed and reported, the mode picks the headline number.
Everything starts from one threshold t = 0.01 (App. B.2).

Overall IoU, per image, then averaged over the images that have a real foreground (``has_foreground``):

- ``channels`` (default, the code): each colour channel of the reconstruction is on where it is
  >= t and each channel of the ground-truth ``foreground`` where it is > 0; intersections and
  unions are summed over (C, H, W) and IoU = (|P & G| + 1e-6) / (|P | G| + 1e-6).
- ``pixels`` (alternative, the text's "pixels with all channels smaller than 0.01 are set to zero"):
  a pixel is on when any channel is on; IoU = |P & G| / |P | G| over pixels, 1 when both are empty.

Per-object IoU: each set element's weighted image softmax_i(I) * sigmoid(I_i) is thresholded (a
pixel is on when any channel is >= t, as the code sums the thresholded channels and clamps);
``cv2.findContours(RETR_EXTERNAL)`` finds its connected components and every component's
``cv2.boundingRect`` is filled, so an element that failed to separate two objects yields one mask
holding two boxes. Ground-truth boxes (x0, y0, x1, y1), exclusive ends, are filled as
``[floor(y0):floor(y1), floor(x0):floor(x1)]`` (the code truncates to integers too).

- ``authors`` (default, the code): the ground truth is a stack of max(|S|, K) box masks whose
  unused slots are empty (the code pads the K <= 10 boxes to 16 = |S| slots); the predictions are
  all |S| element masks (an empty element gives an empty mask). With the smoothed IoU (|A & B| +
  1e-6) / (|A | B| + 1e-6), each ground-truth slot takes its best-matching element, and the image
  scores the mean over the slots. An empty slot scores 1 as soon as one element is empty and ~0
  otherwise, so the padding rewards a model that leaves spare elements empty.
- ``elements`` (alternative, App. B.2's "each prediction is matched with the closest ground truth
  bounding box"): only non-empty elements are predictions; each takes its best IoU with any
  ground-truth box, and the image scores the mean over its predictions (0 if it has none).

Images without a ground-truth box, or whose boxes are unknown (``has_boxes`` = 0), are skipped.

Ground-truth boxes: ``amodal`` (default, the paper's kind: the code derives them from the scene
file, so they cover an object's occluded parts and exist for hidden objects too) or ``visible``
(the tight box of an object's visible pixels). Rendered datasets store both (``boxes`` amodal,
``boxes_visible``); imported real CLEVR stores the scene-file boxes as ``boxes`` and, where a
``_mask.png`` exists, the visible ones.

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
PER_OBJECT_MODES = ("authors", "elements")  # the first is the default: the authors' code
OVERALL_MODES = ("channels", "pixels")  # the first is the default: the authors' code
BOX_KINDS = ("amodal", "visible")  # the first is the default: the paper's kind
PAPER_TABLE2 = {  # Table 2
    "SSLR-MLP": {"overall_iou": 0.9193, "per_object_iou": 0.7737},
    "SSLR-SRN": {"overall_iou": 0.9345, "per_object_iou": 0.8305},
}
_SMOOTH = 1e-6  # the authors' smoothing of every IoU


def on_pixels(images: np.ndarray, threshold: float = THRESHOLD) -> np.ndarray:
    """(..., 3, H, W) values in [0, 1] -> (..., H, W) bool: any channel >= threshold."""
    return (np.asarray(images) >= threshold).any(axis=-3)


def overall_iou_pixels(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Per image IoU of two (N, H, W) boolean masks; 1 where both are empty."""
    pred = pred.reshape(len(pred), -1)
    target = target.reshape(len(target), -1)
    inter = (pred & target).sum(1)
    union = (pred | target).sum(1)
    return np.where(union > 0, inter / np.maximum(union, 1), 1.0)


def overall_iou_channels(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Per image smoothed IoU of two (N, C, H, W) boolean stacks, counted over (C, H, W) (the code's)."""
    pred = pred.reshape(len(pred), -1)
    target = target.reshape(len(target), -1)
    inter = (pred & target).sum(1)
    union = (pred | target).sum(1)
    return (inter + _SMOOTH) / (union + _SMOOTH)


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
    a = a.reshape(len(a), -1).astype(np.float64)  # exact counts up to 2**53 pixels
    b = b.reshape(len(b), -1).astype(np.float64)
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


def per_object_iou_elements(pred_boxes: np.ndarray, nonempty: np.ndarray, gt: np.ndarray) -> float:
    """The alternative (App. B.2's text): mean over non-empty elements of the best IoU with a ground-truth box mask.

    ``pred_boxes`` (n, H, W) filled element boxes, ``nonempty`` (n,) bool, ``gt`` (K, H, W).
    NaN when there is no ground-truth box (the image is skipped); 0 when no element is non-empty.
    """
    if len(gt) == 0:
        return math.nan
    if not nonempty.any():
        return 0.0
    return float(iou_matrix(pred_boxes[nonempty], gt).max(1).mean())


def per_object_iou_authors(pred_boxes: np.ndarray, gt: np.ndarray) -> float:
    """The default (the authors' code): max(|S|, K) ground-truth slots (empty padding), each takes its
    best prediction among all |S| elements, smoothed IoU; the mean over slots. NaN without ground truth."""
    if len(gt) == 0:
        return math.nan
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

    overall_channels: np.ndarray
    overall_pixels: np.ndarray
    per_object_authors: np.ndarray
    per_object_elements: np.ndarray
    ari: np.ndarray
    fg_ari: np.ndarray
    nonempty: np.ndarray  # non-empty elements
    boxes: np.ndarray  # predicted boxes (connected components over all elements)


def _flags(values, b: int) -> np.ndarray:
    return np.ones(b, bool) if values is None else np.asarray(values).astype(bool)


def score_images(image: np.ndarray, element_images: np.ndarray, foreground: np.ndarray, boxes: np.ndarray,
                 masks: np.ndarray, has_foreground: np.ndarray | None = None, has_mask: np.ndarray | None = None,
                 threshold: float = THRESHOLD, has_boxes: np.ndarray | None = None) -> ImageScores:
    """Score a batch. ``image`` (B, 3, H, W) and ``element_images`` (B, n, 3, H, W) in [0, 1];
    ``foreground`` uint8 (B, H, W, 3); ``boxes`` (B, K, 4), NaN rows = padding; ``masks`` (B, H, W);
    the optional ``has_*`` flags (B,) say which images have that ground truth (default: all)."""
    b = len(image)
    has_foreground, has_mask, has_boxes = (_flags(v, b) for v in (has_foreground, has_mask, has_boxes))
    h, w = image.shape[-2:]
    fg = np.asarray(foreground) > 0  # (B, H, W, 3)
    channels = overall_iou_channels(np.asarray(image) >= threshold, fg.transpose(0, 3, 1, 2))
    pixels = overall_iou_pixels(on_pixels(image, threshold), fg.any(-1))
    overall_channels = np.where(has_foreground, channels, np.nan)
    overall_pixels = np.where(has_foreground, pixels, np.nan)
    authors = np.full(b, np.nan)
    elements = np.full(b, np.nan)
    ari = np.full(b, np.nan)
    fg_ari = np.full(b, np.nan)
    element_on = on_pixels(element_images, threshold)  # (B, n, H, W)
    nonempty = element_on.any(axis=(2, 3))
    n_boxes = np.zeros(b, int)
    seg = segmentation(element_images, threshold)
    for i in range(b):
        pred_boxes, counts = element_box_masks(element_on[i])
        n_boxes[i] = counts.sum()
        if has_boxes[i]:
            gt = gt_box_masks(boxes[i], h, w)
            authors[i] = per_object_iou_authors(pred_boxes, gt)
            elements[i] = per_object_iou_elements(pred_boxes, nonempty[i], gt)
    if has_mask.any():  # one ARI implementation for circles and CLEVR
        ari[has_mask], fg_ari[has_mask] = ari_scores(seg[has_mask], masks[has_mask])
    return ImageScores(overall_channels, overall_pixels, authors, elements, ari, fg_ari, nonempty.sum(1), n_boxes)


@dataclass
class IoUResult:
    overall_iou_channels: float  # the default (the authors' code)
    overall_iou_pixels: float  # the alternative (App. B.2's text)
    per_object_iou_authors: float  # the default (the authors' code)
    per_object_iou_elements: float  # the alternative (App. B.2's text)
    ari: float
    fg_ari: float
    images: int
    images_overall: int  # images scored for overall IoU (with a real foreground)
    images_per_object: int  # images with at least one known ground-truth box
    images_ari: int  # images with instance masks
    mean_nonempty: float
    mean_boxes: float
    threshold: float

    def overall(self, mode: str = OVERALL_MODES[0]) -> float:
        return self.overall_iou_channels if mode == "channels" else self.overall_iou_pixels

    def per_object(self, mode: str = PER_OBJECT_MODES[0]) -> float:
        return self.per_object_iou_authors if mode == "authors" else self.per_object_iou_elements

    def to_dict(self) -> dict:
        return asdict(self)


def _mean(values: np.ndarray) -> tuple[float, int]:
    keep = ~np.isnan(values)
    return (float(values[keep].mean()) if keep.any() else math.nan), int(keep.sum())


def summarize(scores: list[ImageScores], threshold: float = THRESHOLD) -> IoUResult:
    cat = {k: np.concatenate([getattr(s, k) for s in scores]) for k in ImageScores.__dataclass_fields__}
    channels, n_overall = _mean(cat["overall_channels"])
    pixels, _ = _mean(cat["overall_pixels"])
    authors, n_obj = _mean(cat["per_object_authors"])
    elements, _ = _mean(cat["per_object_elements"])
    ari, n_ari = _mean(cat["ari"])
    fg_ari, _ = _mean(cat["fg_ari"])
    return IoUResult(channels, pixels, authors, elements, ari, fg_ari, len(cat["overall_channels"]), n_overall, n_obj,
                     n_ari, float(cat["nonempty"].mean()), float(cat["boxes"].mean()), threshold)


def iou_arrays(scene_file, boxes: str = BOX_KINDS[0], limit: int | None = None) -> dict[str, np.ndarray]:
    """The arrays ``measure_iou`` needs from an opened clevr dataset, with the ground-truth boxes of
    kind ``boxes`` under the key ``boxes`` and a per-image ``has_boxes`` flag.

    Files written before amodal boxes existed have only ``boxes`` (the visible pixels') and no
    ``boxes_visible``: they serve ``visible`` and refuse ``amodal``.
    """
    from sslr_cli.errors import SSLRError

    if boxes not in BOX_KINDS:
        raise SSLRError(f"--boxes {boxes!r}: choose one of {', '.join(BOX_KINDS)}")
    names = set(scene_file.names)
    new_layout = "boxes_visible" in names
    if boxes == "amodal" and not new_layout:
        raise SSLRError(f"{scene_file.path}: its boxes cover visible pixels only (made before amodal boxes were "
                        "stored); make it again with `sslr gen-data clevr`, or score it with --boxes visible")
    key = "boxes_visible" if boxes == "visible" and new_layout else "boxes"
    wanted = ["images", "foreground", key, "masks"] + [k for k in ("has_foreground", "has_mask") if k in names]
    arrays = dict(scene_file.load(wanted, limit=limit).arrays)
    arrays["boxes"] = arrays.pop(key)
    n = len(arrays["images"])
    # imported real CLEVR has visible boxes only where a _mask.png existed
    known = arrays.get("has_mask") if boxes == "visible" and "has_mask" in arrays else None
    arrays["has_boxes"] = np.ones(n, np.uint8) if known is None else np.asarray(known, np.uint8)
    # where the scenes come from, for the report: the real CLEVR (imported) or this project's renderer
    imported = scene_file.params.get("generator") == "clevr-import"
    arrays["source"] = f"CLEVR ({scene_file.params.get('source')})" if imported else "rendered"
    return arrays


@torch.no_grad()
def measure_iou(model, arrays: dict[str, np.ndarray], batch_size: int = 32, device: torch.device | str = "cpu",
                threshold: float = THRESHOLD, on_batch=None) -> IoUResult:
    """Run a SetAutoencoder (eval mode) over a CLEVR dataset's arrays: ``images``, ``foreground``,
    ``boxes``, ``masks`` and optionally ``has_foreground`` / ``has_mask`` / ``has_boxes``
    (``iou_arrays`` reads them from a file)."""
    model.eval()
    n = len(arrays["images"])
    scores = []
    for start in range(0, n, batch_size):
        sl = slice(start, start + batch_size)
        x = to_float_images(torch.from_numpy(np.ascontiguousarray(arrays["images"][sl])).to(device))
        _, rec = model(x)
        flags = {k: arrays[k][sl] if k in arrays else None for k in ("has_foreground", "has_mask", "has_boxes")}
        scores.append(score_images(
            rec.image.float().cpu().numpy(), rec.element_images.float().cpu().numpy(), arrays["foreground"][sl],
            arrays["boxes"][sl], arrays["masks"][sl], threshold=threshold, **flags))
        if on_batch:
            on_batch(x.shape[0])
    return summarize(scores, threshold)
