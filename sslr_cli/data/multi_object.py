"""DeepMind's multi-object datasets (CLEVR with masks, Multi-dSprites, Tetrominoes, Objects Room) from their
TFRecord files into the HDF5 store, without TensorFlow.

The files (github.com/deepmind/multi_object_datasets) are GZIP-compressed TFRecords of ``tf.train.Example``
protos. A TFRecord is a sequence of records: an 8-byte little-endian length, the masked CRC-32C of those 8
bytes, the payload and its masked CRC-32C. This module reads that framing itself (checking both CRCs with
the ``crc32c`` package) and parses each payload with the ``Example`` message that the ``tfrecord`` package
ships (protobuf); both are the optional extra ``pip install 'sslr-cli[tfrecord]'``.

The features, as the datasets' own readers declare them (``tf.io.FixedLenFeature``):

- every dataset: ``image`` (H, W, C) and ``mask`` (K entities of H x W) as byte strings, one byte per value;
  entity 0 is the background, masks are 0 / 255. ``mask`` is (K, H, W) except in Multi-dSprites, (H, W, K).
- CLEVR with masks (240 x 320, K = 11): float ``x``, ``y``, ``z``, ``pixel_coords`` (K, 3), ``rotation``,
  ``visibility``; byte codes ``size``, ``material``, ``shape``, ``color`` (one byte per entity).
- Multi-dSprites (64 x 64; K = 4 ``binarized``, grayscale image; 5 ``colored_on_colored``; 6
  ``colored_on_grayscale``): float ``x``, ``y``, ``shape``, ``color`` (K, C), ``visibility``, ``orientation``, ``scale``.
- Tetrominoes (35 x 35, K = 4): float ``x``, ``y``, ``shape``, ``color`` (K, 3), ``visibility``.
- Objects Room (64 x 64; K = 7 ``train``, 10 ``six_objects`` / ``identical_color``, 4 ``empty_room``): no attributes.

K and C are read from the first record (so every variant of a dataset imports without naming it) and
checked on every other one.

What is stored (kind ``multi_object``, the store's base schema):

- ``objects``: one row per object, i.e. per entity k >= 1 whose mask has a pixel > 0 (at the source
  resolution, before any crop), in entity order; fields ``entity`` (its index k in the file) and the
  dataset's attributes (``color`` split into ``color_r/g/b``, ``pixel_coords`` into ``pixel_x/y/z``), raw values.
- ``masks``: instance ids, 0 = background, i = the i-th object; each pixel goes to the entity with the
  largest mask value (the first on ties), so a pixel whose values are all 0 is background.
- ``images``: RGB (a grayscale image repeated in the three channels).
- ``counts``: objects per image. ``--max-objects M`` keeps the scenes with at most M objects (CLEVR6: 6, as
  the field does: at most 7 non-empty masks, background included).

Then the image and the id map are cropped (CLEVR: rows 29-221, columns 64-256, the 192 x 192 centre that
Slot Attention and IODINE use) and resized to ``size`` (images: area averaging down, nearest neighbour up;
masks: nearest neighbour), so that ARI / foreground ARI of ``sslr reconstruct`` are computed on them.
"""

from __future__ import annotations

import gzip
import io
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from sslr_cli.data.dataset_kind import BASE_SCHEMA, DatasetKind
from sslr_cli.errors import SSLRError

KIND = "multi_object"
INSTALL = "pip install 'sslr-cli[tfrecord]'"


@dataclass(frozen=True)
class MultiObjectDataset:
    name: str
    height: int
    width: int
    entities: tuple[int, ...]  # K of the dataset's variants (MAX_NUM_ENTITIES)
    float_features: tuple[tuple[str, int], ...]  # (name, values per entity; 0 = the image's channels)
    byte_features: tuple[str, ...] = ()  # one byte (a code) per entity
    mask_last: bool = False  # mask stored (H, W, K) instead of (K, H, W)
    crop: tuple[int, int, int, int] | None = None  # rows y0:y1, columns x0:x1 of the source image
    size: int = 64  # default output side
    max_objects: int | None = None  # default --max-objects
    variants: dict = field(default_factory=dict)  # K -> the variant's name in the dataset's reader

    def fields(self, channels: int) -> list[str]:
        names = ["entity"]
        for name, per in self.float_features:
            n = channels if per == 0 else per
            if n == 1:
                names.append(name)
            elif name == "color":
                names += [f"color_{c}" for c in "rgb"[:n]]
            else:
                names += [f"pixel_{c}" for c in "xyz"[:n]] if name == "pixel_coords" else [f"{name}_{i}" for i in range(n)]
        return names + list(self.byte_features)


DATASETS: dict[str, MultiObjectDataset] = {
    "clevr_with_masks": MultiObjectDataset(
        "clevr_with_masks", 240, 320, (11,),
        (("x", 1), ("y", 1), ("z", 1), ("pixel_coords", 3), ("rotation", 1), ("visibility", 1)),
        ("size", "material", "shape", "color"), crop=(29, 221, 64, 256), size=128, max_objects=6),
    "multi_dsprites": MultiObjectDataset(
        "multi_dsprites", 64, 64, (4, 5, 6),
        (("x", 1), ("y", 1), ("shape", 1), ("color", 0), ("visibility", 1), ("orientation", 1), ("scale", 1)),
        mask_last=True, variants={4: "binarized", 5: "colored_on_colored", 6: "colored_on_grayscale"}),
    "tetrominoes": MultiObjectDataset(
        "tetrominoes", 35, 35, (4,), (("x", 1), ("y", 1), ("shape", 1), ("color", 3), ("visibility", 1))),
    "objects_room": MultiObjectDataset(
        "objects_room", 64, 64, (4, 7, 10), (),
        variants={4: "empty_room", 7: "train", 10: "six_objects or identical_color"}),
}


# ---------------------------------------------------------------------------------------------------------
# TFRecord framing
# ---------------------------------------------------------------------------------------------------------


def _masked_crc(data: bytes) -> int:
    import crc32c

    crc = crc32c.crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _open(path: Path):
    with open(path, "rb") as f:
        gz = f.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rb") if gz else open(path, "rb")


def read_records(path: str | os.PathLike, check_crc: bool = True) -> Iterator[bytes]:
    """The payloads of a TFRecord file (GZIP-compressed or not), one at a time; damage is an SSLRError."""
    path = Path(path)
    index = 0
    try:
        with _open(path) as f:
            f = io.BufferedReader(f, 1 << 20) if isinstance(f, gzip.GzipFile) else f
            while True:
                head = f.read(12)
                if not head:
                    return
                if len(head) < 12:
                    raise SSLRError(f"{path}: record {index} is cut short (a truncated file)")
                (length,) = struct.unpack("<Q", head[:8])
                if check_crc and _masked_crc(head[:8]) != struct.unpack("<I", head[8:])[0]:
                    raise SSLRError(f"{path}: record {index}: the length's checksum is wrong (not a TFRecord file, or damaged)")
                data = f.read(length)
                foot = f.read(4)
                if len(data) != length or len(foot) != 4:
                    raise SSLRError(f"{path}: record {index} is cut short (a truncated file)")
                if check_crc and _masked_crc(data) != struct.unpack("<I", foot)[0]:
                    raise SSLRError(f"{path}: record {index}: the data's checksum is wrong (a damaged file)")
                yield data
                index += 1
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise SSLRError(f"{path}: cannot read record {index} ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from None


# ---------------------------------------------------------------------------------------------------------
# One record -> one scene
# ---------------------------------------------------------------------------------------------------------


def parse_example(payload: bytes) -> dict[str, np.ndarray]:
    """An ``Example`` as {feature: array}: bytes lists joined into uint8, float lists as float32."""
    from tfrecord import example_pb2

    example = example_pb2.Example()
    example.ParseFromString(payload)
    out = {}
    for key, feature in example.features.feature.items():
        kind = feature.WhichOneof("kind")
        if kind == "bytes_list":
            out[key] = np.frombuffer(b"".join(feature.bytes_list.value), np.uint8)
        elif kind == "float_list":
            out[key] = np.asarray(feature.float_list.value, np.float32)
        elif kind == "int64_list":
            out[key] = np.asarray(feature.int64_list.value, np.int64)
    return out


@dataclass
class Layout:
    """K (entities) and C (image channels) of a file, from its first record."""

    entities: int
    channels: int


def detect_layout(ds: MultiObjectDataset, features: dict[str, np.ndarray], where: str) -> Layout:
    for name in ("image", "mask"):
        if name not in features:
            raise SSLRError(f"{where}: no feature {name!r}; not a {ds.name} record (choose another --dataset)")
    pixels = ds.height * ds.width
    k, rest = divmod(features["mask"].size, pixels)
    c, rest_c = divmod(features["image"].size, pixels)
    if rest or rest_c or c not in (1, 3) or k not in ds.entities:
        raise SSLRError(f"{where}: image of {features['image'].size} bytes and mask of {features['mask'].size}; a "
                        f"{ds.name} record has {ds.height}x{ds.width}x(1 or 3) and {ds.height}x{ds.width}x"
                        f"({' or '.join(map(str, ds.entities))}) (choose another --dataset)")
    return Layout(k, c)


def scene_from_features(ds: MultiObjectDataset, layout: Layout, f: dict[str, np.ndarray], where: str):
    """(image (H, W, 3) uint8, id map (H, W) uint8, object rows (n, F) float32) at the source resolution."""
    h, w, k, c = ds.height, ds.width, layout.entities, layout.channels
    if f["image"].size != h * w * c or f["mask"].size != h * w * k:
        raise SSLRError(f"{where}: image/mask sizes differ from the first record's ({h}x{w}x{c}, {k} masks)")
    image = f["image"].reshape(h, w, c)
    if c == 1:
        image = np.repeat(image, 3, axis=2)
    masks = f["mask"].reshape(h, w, k).transpose(2, 0, 1) if ds.mask_last else f["mask"].reshape(k, h, w)
    present = [e for e in range(1, k) if masks[e].any()]
    ids = np.zeros((h, w), np.uint8)
    owner = masks.argmax(axis=0)  # the first of the largest values
    for i, e in enumerate(present, 1):
        ids[owner == e] = i
    columns = [np.arange(k, dtype=np.float32)[:, None]]
    for name, per in ds.float_features:
        n = c if per == 0 else per
        if name not in f:
            raise SSLRError(f"{where}: no feature {name!r}; not a {ds.name} record (choose another --dataset)")
        if f[name].size != k * n:
            raise SSLRError(f"{where}: feature {name!r} has {f[name].size} values, expected {k} x {n}")
        columns.append(f[name].reshape(k, n).astype(np.float32))
    for name in ds.byte_features:
        if name not in f or f[name].size != k:
            raise SSLRError(f"{where}: feature {name!r} should hold one byte per entity ({k})")
        columns.append(f[name].reshape(k, 1).astype(np.float32))
    rows = np.concatenate(columns, axis=1)[present] if present else np.zeros((0, sum(x.shape[1] for x in columns)), np.float32)
    return np.ascontiguousarray(image), ids, rows


def _fit(image: np.ndarray, ids: np.ndarray, crop, size: int) -> tuple[np.ndarray, np.ndarray]:
    import cv2

    if crop is not None:
        y0, y1, x0, x1 = crop
        image, ids = image[y0:y1, x0:x1], ids[y0:y1, x0:x1]
    h, w = ids.shape
    if (h, w) == (size, size):
        return np.ascontiguousarray(image), np.ascontiguousarray(ids)
    smaller = size < min(h, w)
    image = cv2.resize(np.ascontiguousarray(image), (size, size), interpolation=cv2.INTER_AREA if smaller else cv2.INTER_NEAREST)
    ids = cv2.resize(np.ascontiguousarray(ids), (size, size), interpolation=cv2.INTER_NEAREST)
    return image, ids


# ---------------------------------------------------------------------------------------------------------
# The import
# ---------------------------------------------------------------------------------------------------------


def check_installed() -> None:
    import importlib.util

    for module in ("tfrecord", "crc32c"):
        if importlib.util.find_spec(module) is None:
            raise SSLRError(f"import-multi-object: the {module} package is not installed; install it with: {INSTALL}")


@dataclass
class ImportPlan:
    """What pass 1 found: which records are kept (``--max-objects``, ``--limit``), and the file's layout."""

    dataset: MultiObjectDataset
    layout: Layout
    keep: np.ndarray  # bool per record read
    counts: np.ndarray  # objects per kept scene
    records: int

    @property
    def n(self) -> int:
        return int(self.keep.sum())


def plan_import(path: Path, ds: MultiObjectDataset, max_objects: int | None, limit: int | None,
                progress: Callable[[int], None] | None = None, skip: int = 0) -> ImportPlan:
    """Pass 1: parse every record for its object count (the filter), keeping nothing else in memory.
    ``skip``: the first ``skip`` scenes that pass the filter are left out (a split: --limit N, then --skip N)."""
    keep, counts, layout, skipped = [], [], None, 0
    for i, payload in enumerate(read_records(path)):
        f = parse_example(payload)
        where = f"{path} record {i}"
        if layout is None:
            layout = detect_layout(ds, f, where)
        masks = f["mask"]
        if masks.size != ds.height * ds.width * layout.entities:
            raise SSLRError(f"{where}: mask of {masks.size} bytes; the first record's has {ds.height * ds.width * layout.entities}")
        masks = masks.reshape(ds.height, ds.width, -1).transpose(2, 0, 1) if ds.mask_last else masks.reshape(layout.entities, -1)
        n_obj = int(masks.reshape(layout.entities, -1)[1:].any(axis=1).sum())
        ok = max_objects is None or n_obj <= max_objects
        if ok and skipped < skip:
            ok, skipped = False, skipped + 1
        keep.append(ok)
        if ok:
            counts.append(n_obj)
        if progress is not None:
            progress(1)
        if limit is not None and len(counts) >= limit:
            break
    if layout is None:
        raise SSLRError(f"{path}: holds no records")
    if not counts:
        if skipped:
            raise SSLRError(f"{path}: no scene left after the {skipped} skipped (--skip)")
        raise SSLRError(f"{path}: none of its {len(keep)} scenes has at most {max_objects} objects (--max-objects)")
    return ImportPlan(ds, layout, np.asarray(keep, bool), np.asarray(counts, np.int16), len(keep))


def import_blocks(path: Path, plan: ImportPlan, size: int, max_objects: int | None, block: int = 256,
                  progress: Callable[[int], None] | None = None) -> Iterator:
    """Pass 2: the kept scenes as ``SceneArrays`` blocks of ``block`` scenes (memory: one block)."""
    from sslr_cli.data.scenes import SceneArrays

    ds, layout = plan.dataset, plan.layout
    k_max = max(1, int(plan.counts.max()))
    fields = ds.fields(layout.channels)
    params = {"generator": "import-multi-object", "dataset": ds.name, "source": Path(path).name, "size": size,
              "crop": list(ds.crop) if ds.crop else None, "entities": layout.entities, "channels": layout.channels,
              "variant": ds.variants.get(layout.entities), "records": plan.records, "n": plan.n,
              "max_objects": max_objects, "fields": "raw values of the dataset's features; entity = index in the file"}
    buf: dict[str, list] = {"images": [], "masks": [], "objects": [], "counts": []}

    def flush():
        arrays = {"images": np.stack(buf["images"]), "masks": np.stack(buf["masks"]),
                  "objects": np.stack(buf["objects"]), "counts": np.asarray(buf["counts"], np.int16)}
        for v in buf.values():
            v.clear()
        return SceneArrays(KIND, arrays, fields, params=params, seed=None)

    for i, payload in enumerate(read_records(path)):
        if i >= len(plan.keep):
            break
        if not plan.keep[i]:
            continue
        image, ids, rows = scene_from_features(ds, layout, parse_example(payload), f"{path} record {i}")
        image, ids = _fit(image, ids, ds.crop, size)
        objects = np.full((k_max, len(fields)), np.nan, np.float32)
        objects[: len(rows)] = rows
        buf["images"].append(image)
        buf["masks"].append(ids)
        buf["objects"].append(objects)
        buf["counts"].append(len(rows))
        if progress is not None:
            progress(1)
        if len(buf["counts"]) == block:
            yield flush()
    if buf["counts"]:
        yield flush()


def get_dataset(name: str) -> MultiObjectDataset:
    if name not in DATASETS:
        raise SSLRError(f"--dataset {name!r}: choose one of {', '.join(DATASETS)}")
    return DATASETS[name]


def multi_object_preset(f, task: str) -> str:
    """``clevr6-paper`` for 128-pixel images (CLEVR6), ``multi-object-tiny`` otherwise (``tiny`` for another task)."""
    if task != "reconstruct":
        return "tiny"
    return "clevr6-paper" if f.image_size == 128 else "multi-object-tiny"


MULTI_OBJECT = DatasetKind(
    KIND, "reconstruct", BASE_SCHEMA, multi_object_preset,
    "DeepMind multi-object TFRecords -> HDF5 (images, instance masks, object attributes), no TensorFlow.")
