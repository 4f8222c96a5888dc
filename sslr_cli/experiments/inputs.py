"""The evaluation data of the analysis commands, loaded and checked against the models.

Commands parse options and render results; what they evaluate on comes from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sslr_cli.data.loader import scene_tensors
from sslr_cli.data.registry import kinds_for
from sslr_cli.data.store import open_scenes
from sslr_cli.errors import SSLRError


@dataclass
class LabelledImages:
    """Circles (or CLEVR) images with their object counts and instance masks, from one or more files."""

    images: torch.Tensor  # uint8 (N, H, W, 3)
    counts: np.ndarray  # int64 (N,)
    masks: np.ndarray  # uint8 (N, H, W)

    def __len__(self) -> int:
        return len(self.counts)


def load_labelled_images(paths: list[Path], image_size: int, limit: int | None = None) -> LabelledImages:
    """``images``, ``counts`` and ``masks`` of every file (the first ``limit`` of each), concatenated.

    Fails naming the file when its images are not ``image_size`` pixels or it has none at all.
    """
    files = [open_scenes(p, kinds_for("reconstruct")) for p in paths]
    for f in files:
        if f.image_size != image_size:
            raise SSLRError(f"--data {f.path}: images are {f.image_size}px, the checkpoints expect {image_size}px")
    loaded = [f.load(["images", "counts", "masks"], limit=limit) for f in files]
    images = torch.from_numpy(np.ascontiguousarray(np.concatenate([s["images"] for s in loaded])))
    counts = np.concatenate([s["counts"] for s in loaded]).astype(np.int64)
    masks = np.concatenate([s["masks"] for s in loaded])
    if len(counts) == 0:
        raise SSLRError(f"--data {paths[0]}: has no images")
    return LabelledImages(images, counts, masks)


def load_match_pairs(path: Path, limit: int | None = None) -> tuple[dict[str, torch.Tensor], int]:
    """(pairs: images, images_b, target tensors; image size) of an iso-circles file."""
    names = ("images", "images_b", "target")
    scene_file = open_scenes(path, kinds_for("match"))
    return scene_tensors(scene_file.load(list(names), limit=limit), names), scene_file.image_size


def load_clevr_eval(path: Path, models: list, limit: int | None = None, boxes: str = "amodal") -> dict[str, Any]:
    """The arrays Table 2 needs (images, foreground, the ground-truth ``boxes`` of that kind, masks and
    the has_* flags; ``experiments.iou.iou_arrays``), checked against ``models`` (``LoadedModel``s)."""
    from sslr_cli.experiments.iou import iou_arrays

    scene_file = open_scenes(path, "clevr")
    for m in models:
        if m.config.model.image_size != scene_file.image_size:
            raise SSLRError(f"{m.path}: the model works on {m.config.model.image_size}px images, "
                            f"--data has {scene_file.image_size}px")
    arrays = iou_arrays(scene_file, boxes, limit)
    if len(arrays["images"]) == 0:
        raise SSLRError(f"--data {path}: has no images")
    return arrays
