"""Import a real CLEVR_v1.0-layout folder into the ``clevr`` HDF5 schema (the one the renderer writes).

Layout read::

    DIR/images/<split>/CLEVR_<split>_000000.png          the renders (480x320, RGBA or RGB)
    DIR/images/<split>/CLEVR_<split>_000000_mask.png     optional: the paper's shadeless render
    DIR/images/<split>/CLEVR_<split>_000000_foreground.png  optional: the objects without the ground
    DIR/scenes/CLEVR_<split>_scenes.json                 CLEVR's scene file

The paper's data (its reference README) adds ``render_shadeless(..., path=..._mask.png)`` to CLEVR's
``render_images.py``: every object is drawn in its own flat random colour on the background, with
no anti-aliasing. Per image this importer stores:

- ``images``: the render resized to ``size`` x ``size`` with ``cv2.INTER_AREA`` (the 3:2 frame is
  squeezed into a square, as the paper's ``Resize((128, 128))`` does); an alpha channel, if any,
  multiplies the colours (transparent = black).
- ``masks``: with a ``_mask.png``, its flat colours become instance ids. The background is the most
  frequent colour on the image border; colours covering fewer than ``MIN_REGION`` pixels are noise.
  Colours are assigned to the scene's objects by a minimum-cost matching (scipy's
  ``linear_sum_assignment``) whose cost is the distance from the object's ``pixel_coords`` to the
  nearest pixel of that colour (0 when the centre is visible), ties broken by the distance to the
  colour's centroid. The id map is resized with ``INTER_NEAREST``. Without a mask: all zeros.
- ``boxes``: from the scene file by the heuristic that the paper's reference code uses for its
  Chamfer IoU (larchen/clevr-vqa ``bounding_box.py``, used for "Object-based Reasoning in VQA"),
  described at ``heuristic_box``; scaled from 480x320 to ``size`` and clipped to the image. Like the
  authors' boxes they are amodal: they cover occluded parts and exist for hidden objects.
- ``boxes_visible``: where a mask exists, the tight boxes of each object's visible pixels in the
  resized id map (exclusive ends, as the renderer's); NaN elsewhere.
- ``foreground`` (the training target): the ``_foreground.png`` resized like the image; else, with
  a mask, the image's object pixels (at full resolution, then resized). An image with neither has no
  target, and the import stops with an error naming the files it lacks (the whole image as a
  target would teach a model the ground too), unless ``allow_no_foreground`` (``--no-foreground``:
  a file for per-object IoU only); such an image gets a black foreground. ``has_mask`` /
  ``has_foreground`` (uint8, one per image) record which case applied, the params' ``foreground``
  how many images took each source, and ``sslr train`` refuses a file with a missing target.
- ``objects``: ``CLEVR_FIELDS`` from the scene file (``3d_coords``, ``rotation``, names as indices,
  ``pixel_coords`` scaled to ``size``); ``counts``: objects per scene.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
from scipy.optimize import linear_sum_assignment

from sslr_cli.data.clevr import CLEVR_FIELDS, COLOR_NAMES, MATERIALS, SHAPES, SIZE_NAMES, boxes_from_mask
from sslr_cli.data.scenes import SceneArrays
from sslr_cli.errors import SSLRError

MIN_REGION = 4  # pixels (at full resolution) for a mask colour to count as an object
SPLITS = ("train", "val", "test")


def read_png(path: Path) -> np.ndarray:
    """RGB uint8 (H, W, 3); alpha, if present, multiplies the colour."""
    raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if raw is None:
        raise SSLRError(f"{path}: cannot read the image (not a PNG or damaged)")
    if raw.dtype != np.uint8:  # 16-bit PNGs
        raw = (raw.astype(np.float64) / np.iinfo(raw.dtype).max * 255.0 + 0.5).astype(np.uint8)
    if raw.ndim == 2:
        raw = np.repeat(raw[..., None], 3, axis=2)
    if raw.shape[2] == 4:
        alpha = raw[..., 3:4].astype(np.uint16)
        raw = ((raw[..., :3].astype(np.uint16) * alpha + 127) // 255).astype(np.uint8)
    return np.ascontiguousarray(raw[..., 2::-1])  # BGR -> RGB


def heuristic_box(obj: dict, right: tuple[float, float]) -> tuple[float, float, float, float]:
    """(x0, y0, x1, y1) in the original 480x320 pixels from the scene file alone.

    The reference code's heuristic (larchen/clevr-vqa): with (u, v) = ``pixel_coords``, (X, Y, Z) =
    ``3d_coords`` and (cos, sin) = the scene's ``directions.right``:
    ``X' = X cos + Y sin``, ``Y' = -X' sin + Y cos`` (the published code feeds the already rotated
    X' into Y'; kept, so boxes equal the reference's), ``h = 6.9 Z (15 - Y') / 2``; the box is
    [u - h, v - h, u + h, v + h]. A cylinder (d = 9.4 + Y', height 6.4, s = Z) gets
    ``up = h s (6.4/d + 1) / (s (6.4/d + 1) - s (6.4 - s)/d)``, ``down = up (6.4 - s + d)/(6.4 + s + d)``
    and half-width ``h 11/(10 + Y')``; a cube gets all four ``h 1.3 * 10/(10 + Y')``. The box is
    [u - left, v - down, u + right, v + up].
    """
    u, v = float(obj["pixel_coords"][0]), float(obj["pixel_coords"][1])
    x, y, z = (float(c) for c in obj["3d_coords"])
    cos_t, sin_t = right
    x = x * cos_t + y * sin_t
    y = x * -sin_t + y * cos_t
    h = 6.9 * z * (15.0 - y) / 2.0
    up = down = left = rgt = h
    if obj["shape"] == "cylinder":
        d, height, s = 9.4 + y, 6.4, z
        up = h * (s * (height / d + 1)) / ((s * (height / d + 1)) - (s * (height - s) / d))
        down = up * (height - s + d) / (height + s + d)
        left = rgt = h * 11.0 / (10.0 + y)
    elif obj["shape"] == "cube":
        up = h * 1.3 * 10.0 / (10.0 + y)
        down = left = rgt = up
    return u - left, v - down, u + rgt, v + up


def _index(names: tuple[str, ...], value, what: str, where: str) -> int:
    try:
        return names.index(value)
    except ValueError:
        raise SSLRError(f"{where}: unknown {what} {value!r} (expected one of {', '.join(names)})") from None


def instance_ids(mask_rgb: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """Flat-colour mask (H, W, 3) + object centres (K, 2) as (x, y) pixels -> ids (H, W) uint8, 0 = none."""
    h, w, _ = mask_rgb.shape
    code = (mask_rgb[..., 0].astype(np.int64) << 16) | (mask_rgb[..., 1].astype(np.int64) << 8) | mask_rgb[..., 2]
    border = np.concatenate([code[0], code[-1], code[:, 0], code[:, -1]])
    values, counts = np.unique(border, return_counts=True)
    background = values[counts.argmax()]
    colours, inverse, sizes = np.unique(code.ravel(), return_inverse=True, return_counts=True)
    regions = [i for i, c in enumerate(colours) if c != background and sizes[i] >= MIN_REGION]
    ids = np.zeros(h * w, np.uint8)
    k = len(centers)
    if not regions or k == 0:
        return ids.reshape(h, w)
    cost = np.zeros((k, len(regions)))
    flat_y, flat_x = np.divmod(np.arange(h * w), w)
    for j, region in enumerate(regions):
        where = np.flatnonzero(inverse == region)
        px = np.stack([flat_x[where] + 0.5, flat_y[where] + 0.5], axis=1)
        dist = np.sqrt(((px[None] - centers[:, None]) ** 2).sum(-1))  # (K, pixels)
        centroid = px.mean(0)
        cost[:, j] = dist.min(1) + 1e-3 * np.sqrt(((centers - centroid) ** 2).sum(-1))
    rows, cols = linear_sum_assignment(cost)
    for obj, j in zip(rows, cols):
        ids[inverse == regions[j]] = obj + 1
    return ids.reshape(h, w)


def _resize(image: np.ndarray, size: int) -> np.ndarray:
    return cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)


def _companion(path: Path, suffix: str) -> Path:
    """CLEVR_val_000000.png -> CLEVR_val_000000<suffix>.png beside it."""
    stem = path.with_suffix("")
    return stem.parent / (stem.name + suffix + ".png")


def import_clevr(root: str | Path, split: str = "train", size: int = 128, limit: int | None = None,
                 progress=None, allow_no_foreground: bool = False) -> SceneArrays:
    """Read ``root`` (CLEVR_v1.0 layout) into SceneArrays of kind ``clevr``; see the module docstring."""
    root = Path(root)
    if not root.is_dir():
        raise SSLRError(f"--from {root}: not a folder")
    if split not in SPLITS:
        raise SSLRError(f"--split {split!r}: choose one of {', '.join(SPLITS)}")
    if not 8 <= size <= 1024:
        raise SSLRError(f"--size {size}: must be between 8 and 1024 pixels")
    if limit is not None and limit < 1:
        raise SSLRError(f"--limit {limit}: must be >= 1")
    scene_path = root / "scenes" / f"CLEVR_{split}_scenes.json"
    image_dir = root / "images" / split
    if not scene_path.exists():
        extra = " (CLEVR's test split has no scene file)" if split == "test" else ""
        raise SSLRError(f"--from {root}: no scene file {scene_path}{extra}")
    if not image_dir.is_dir():
        raise SSLRError(f"--from {root}: no image folder {image_dir}")
    try:
        scenes = json.loads(scene_path.read_text())["scenes"]
    except (json.JSONDecodeError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise SSLRError(f"{scene_path}: not a CLEVR scene file ({type(exc).__name__}: {exc})") from None
    if not isinstance(scenes, list) or not scenes:
        raise SSLRError(f"{scene_path}: holds no scenes")
    scenes = sorted(scenes, key=lambda s: int(s.get("image_index", 0)))
    if limit is not None:
        scenes = scenes[:limit]
    n = len(scenes)
    if not allow_no_foreground:
        lacking = [s["image_filename"] for s in scenes if s.get("image_filename")
                   and (image_dir / s["image_filename"]).exists()  # a missing render is reported below
                   and not _companion(image_dir / s["image_filename"], "_foreground").exists()
                   and not _companion(image_dir / s["image_filename"], "_mask").exists()]
        if lacking:
            first = image_dir / lacking[0]
            more = f" (and {len(lacking) - 1} more of {n} images)" if len(lacking) > 1 else ""
            raise SSLRError(f"--from {root}: {first.name} has no {_companion(first, '_foreground').name} and no "
                            f"{_companion(first, '_mask').name}{more}, so it has no training target (objects on black); "
                            "render them (App. B) or pass --no-foreground for a file that only scores per-object IoU")
    k_max = max(1, max(len(s.get("objects", [])) for s in scenes))
    if k_max > 255:
        raise SSLRError(f"{scene_path}: a scene has {k_max} objects; instance masks hold at most 255")
    images = np.zeros((n, size, size, 3), np.uint8)
    foreground = np.zeros((n, size, size, 3), np.uint8)
    masks = np.zeros((n, size, size), np.uint8)
    objects = np.full((n, k_max, len(CLEVR_FIELDS)), np.nan, np.float32)
    boxes = np.full((n, k_max, 4), np.nan, np.float32)
    boxes_visible = np.full((n, k_max, 4), np.nan, np.float32)
    counts = np.zeros(n, np.int16)
    has_mask = np.zeros(n, np.uint8)
    has_fg = np.zeros(n, np.uint8)
    for i, scene in enumerate(scenes):
        name = scene.get("image_filename")
        if not name:
            raise SSLRError(f"{scene_path}: scene {i} has no image_filename")
        path = image_dir / name
        if not path.exists():
            raise SSLRError(f"{path}: image named in {scene_path.name} does not exist")
        full = read_png(path)
        h0, w0 = full.shape[:2]
        where = f"{scene_path.name} ({name})"
        objs = scene.get("objects", [])
        rows, centers = [], []
        for obj in objs:
            try:
                x, y, z = (float(c) for c in obj["3d_coords"])
                u, v = float(obj["pixel_coords"][0]), float(obj["pixel_coords"][1])
                rows.append([_index(SHAPES, obj["shape"], "shape", where), _index(COLOR_NAMES, obj["color"], "color", where),
                             _index(MATERIALS, obj["material"], "material", where), _index(SIZE_NAMES, obj["size"], "size", where),
                             x, y, z, float(obj.get("rotation", 0.0)), u * size / w0, v * size / h0])
            except (KeyError, TypeError, ValueError, IndexError) as exc:
                raise SSLRError(f"{where}: object lacks a valid field ({type(exc).__name__}: {exc})") from None
            centers.append((u, v))
        k = len(objs)
        counts[i] = k
        if k:
            objects[i, :k] = np.asarray(rows, np.float32)
        images[i] = _resize(full, size)
        mask_path = _companion(path, "_mask")
        fg_path = _companion(path, "_foreground")
        ids_full = None
        if mask_path.exists():
            mask_rgb = read_png(mask_path)
            if mask_rgb.shape[:2] != (h0, w0):
                raise SSLRError(f"{mask_path}: size {mask_rgb.shape[1]}x{mask_rgb.shape[0]} differs from the image's {w0}x{h0}")
            ids_full = instance_ids(mask_rgb, np.asarray(centers, float).reshape(-1, 2))
            masks[i] = cv2.resize(ids_full, (size, size), interpolation=cv2.INTER_NEAREST)
            boxes_visible[i, :k] = boxes_from_mask(masks[i], k)
            has_mask[i] = 1
        if k:
            right = scene.get("directions", {}).get("right")
            if right is None:
                raise SSLRError(f"{where}: no directions.right, needed for the objects' boxes")
            raw = np.array([heuristic_box(obj, (float(right[0]), float(right[1]))) for obj in objs], float)
            raw *= np.array([size / w0, size / h0, size / w0, size / h0])
            boxes[i, :k] = np.clip(raw, 0.0, size)
        if fg_path.exists():
            fg = read_png(fg_path)
            if fg.shape[:2] != (h0, w0):
                raise SSLRError(f"{fg_path}: size {fg.shape[1]}x{fg.shape[0]} differs from the image's {w0}x{h0}")
            foreground[i] = _resize(fg, size)
            has_fg[i] = 1
        elif ids_full is not None:
            foreground[i] = _resize(np.where(ids_full[..., None] > 0, full, 0).astype(np.uint8), size)
            has_fg[i] = 1
        if progress is not None:
            progress(1)
    arrays = {"images": images, "foreground": foreground, "masks": masks, "objects": objects, "counts": counts,
              "boxes": boxes, "boxes_visible": boxes_visible, "has_mask": has_mask, "has_foreground": has_fg}
    from_render = int(sum(_companion(image_dir / s["image_filename"], "_foreground").exists() for s in scenes))
    params = {"generator": "clevr-import", "source": str(root), "split": split, "size": size, "n": n,
              "limit": limit, "with_mask": int(has_mask.sum()), "with_foreground": int(has_fg.sum()),
              "foreground": {"render": from_render, "mask": int(has_fg.sum()) - from_render,
                             "none": int(n - has_fg.sum())},
              "boxes": "amodal: the reference's scene-file heuristic (pixel_coords, 3d_coords); "
                       "boxes_visible: from the _mask.png where present, else NaN",
              "shapes": list(SHAPES), "colors": list(COLOR_NAMES), "materials": list(MATERIALS), "sizes": list(SIZE_NAMES)}
    return SceneArrays("clevr", arrays, CLEVR_FIELDS, params=params, seed=None)
