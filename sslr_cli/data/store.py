"""The HDF5 dataset store: one schema for every scene kind, validated on open, written atomically.

Layout (schema version 1, see DESIGN.md):

- ``images``  uint8 (N, H, W, 3), chunked per sample, gzip-compressed
- ``masks``   uint8 (N, H, W) instance ids, 0 = background, i = object i (1-based, in ``objects`` order)
- ``objects`` float32 (N, K_max, F), attribute names in ``objects.attrs['fields']``; rows past
  ``counts[n]`` are NaN
- ``counts``  int16 (N,)
- pair kinds (``isocircles``) add ``images_b``, ``masks_b``, ``objects_b``, ``correspondence``
  (N, K_max) int16, ``targets`` (N, K_max) float32 raw squared distances and ``target`` (N,) float32
- file attributes: ``kind``, ``schema_version``, ``seed``, ``params`` (JSON of the generator settings)
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from sslr_cli.atomic import atomic_path
from sslr_cli.errors import SSLRError

SCHEMA_VERSION = 1

# name -> (dtype, rank) of every dataset a kind must have. Shapes are cross-checked in validate().
_BASE = {
    "images": (np.uint8, 4),
    "masks": (np.uint8, 3),
    "objects": (np.float32, 3),
    "counts": (np.int16, 1),
}
_PAIR = {
    "images_b": (np.uint8, 4),
    "masks_b": (np.uint8, 3),
    "objects_b": (np.float32, 3),
    "correspondence": (np.int16, 2),
    "targets": (np.float32, 2),
    "target": (np.float32, 1),
}
KIND_SCHEMAS: dict[str, dict[str, tuple[type, int]]] = {
    "circles": dict(_BASE),
    "isocircles": {**_BASE, **_PAIR},
    "clevr": {**_BASE, "foreground": (np.uint8, 4), "boxes": (np.float32, 3)},
}


def register_kind(kind: str, schema: dict[str, tuple[type, int]]) -> None:
    """Add a scene kind (used by generators that live in their own module)."""
    KIND_SCHEMAS[kind] = dict(schema)


@dataclass
class SceneArrays:
    """In-memory scenes of one kind, exactly the arrays that go into / come out of a file."""

    kind: str
    arrays: dict[str, np.ndarray]
    fields: list[str]
    params: dict = field(default_factory=dict)
    seed: int | None = None

    def __len__(self) -> int:
        return int(self.arrays["images"].shape[0])

    def __getitem__(self, name: str) -> np.ndarray:
        return self.arrays[name]


def write_scenes(path: str | os.PathLike, scenes: SceneArrays, force: bool = False, block: int = 2048) -> Path:
    """Write ``scenes`` to ``path`` atomically, chunked per sample and gzip-compressed."""
    schema = KIND_SCHEMAS.get(scenes.kind)
    if schema is None:
        raise SSLRError(f"unknown scene kind {scenes.kind!r}")
    missing = [k for k in schema if k not in scenes.arrays]
    if missing:
        raise ValueError(f"scenes of kind {scenes.kind} lack arrays {missing}")
    path = Path(path)
    with atomic_path(path, force=force) as tmp:
        with h5py.File(tmp, "w") as f:
            f.attrs["kind"] = scenes.kind
            f.attrs["schema_version"] = SCHEMA_VERSION
            f.attrs["seed"] = -1 if scenes.seed is None else int(scenes.seed)
            f.attrs["params"] = json.dumps(scenes.params, sort_keys=True)
            for name, array in scenes.arrays.items():
                dtype = schema[name][0] if name in schema else array.dtype
                array = np.asarray(array, dtype=dtype)
                n = array.shape[0]
                chunks = (1,) + array.shape[1:] if n > 0 else None
                big = array.ndim >= 3
                ds = f.create_dataset(
                    name,
                    shape=array.shape,
                    dtype=array.dtype,
                    chunks=chunks if big else None,
                    compression="gzip" if big else None,
                    compression_opts=1 if big else None,
                    shuffle=False,
                )
                # Slabs of many samples amortise h5py's per-call overhead over per-sample chunks.
                for start in range(0, n, block):
                    ds[start : start + block] = array[start : start + block]
                if name.startswith("objects"):
                    ds.attrs["fields"] = json.dumps(scenes.fields)
    return path


@dataclass
class SceneFile:
    """A validated dataset file. ``load()`` reads every array into memory (uint8 stays uint8)."""

    path: Path
    kind: str
    n: int
    image_size: int
    fields: list[str]
    params: dict
    seed: int
    names: list[str]

    def load(self, names: list[str] | None = None, limit: int | None = None) -> SceneArrays:
        names = names or self.names
        arrays: dict[str, np.ndarray] = {}
        try:
            with h5py.File(self.path, "r") as f:
                for name in names:
                    if name not in f:
                        raise SSLRError(f"{self.path}: has no dataset {name!r}")
                    ds = f[name]
                    arrays[name] = ds[:limit] if limit is not None else ds[()]
        except OSError as exc:  # a chunk that fails to decompress: truncated or damaged file
            raise SSLRError(f"{self.path}: cannot read data ({_short(exc)}); the file is damaged or truncated") from None
        return SceneArrays(kind=self.kind, arrays=arrays, fields=self.fields, params=self.params, seed=self.seed)


def _short(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def open_scenes(path: str | os.PathLike, kinds: tuple[str, ...] | str | None = None) -> SceneFile:
    """Open and validate a dataset file; raise ``SSLRError`` naming the file and the problem.

    ``kinds``: the kinds the caller accepts (e.g. ``"circles"``); ``None`` accepts any known kind.
    """
    path = Path(path)
    if isinstance(kinds, str):
        kinds = (kinds,)
    if not path.exists():
        raise SSLRError(f"{path}: no such file")
    if path.is_dir():
        raise SSLRError(f"{path}: is a directory, expected an HDF5 dataset file")
    if not h5py.is_hdf5(path):
        raise SSLRError(f"{path}: not an HDF5 file (truncated, or not made by 'sslr gen-data')")
    try:
        with h5py.File(path, "r") as f:
            return _validate(path, f, kinds)
    except SSLRError:
        raise
    except (OSError, KeyError, ValueError) as exc:
        raise SSLRError(f"{path}: cannot read HDF5 structure ({_short(exc)}); the file is damaged or truncated") from None


def _validate(path: Path, f: h5py.File, kinds: tuple[str, ...] | None) -> SceneFile:
    kind = f.attrs.get("kind")
    if kind is None:
        raise SSLRError(f"{path}: no 'kind' attribute; not an sslr dataset")
    kind = kind.decode() if isinstance(kind, bytes) else str(kind)
    version = f.attrs.get("schema_version")
    if version is None or int(version) != SCHEMA_VERSION:
        raise SSLRError(f"{path}: unknown schema version {version!r} (this sslr reads version {SCHEMA_VERSION})")
    schema = KIND_SCHEMAS.get(kind)
    if schema is None:
        raise SSLRError(f"{path}: unknown dataset kind {kind!r}")
    if kinds is not None and kind not in kinds:
        raise SSLRError(f"{path}: is a {kind!r} dataset, this command needs {' or '.join(repr(k) for k in kinds)}")
    for name, (dtype, rank) in schema.items():
        if name not in f:
            raise SSLRError(f"{path}: missing dataset {name!r} required for kind {kind!r}")
        ds = f[name]
        if not isinstance(ds, h5py.Dataset):
            raise SSLRError(f"{path}: {name!r} is not a dataset")
        if ds.dtype != np.dtype(dtype):
            raise SSLRError(f"{path}: dataset {name!r} has dtype {ds.dtype}, expected {np.dtype(dtype)}")
        if ds.ndim != rank:
            raise SSLRError(f"{path}: dataset {name!r} has shape {ds.shape}, expected {rank} dimensions")
    n, h, w, c = f["images"].shape
    if c != 3 or h != w:
        raise SSLRError(f"{path}: images have shape {f['images'].shape}, expected (N, S, S, 3)")
    for name in schema:
        if f[name].shape[0] != n:
            raise SSLRError(f"{path}: dataset {name!r} has {f[name].shape[0]} rows, images have {n}")
    if f["masks"].shape[1:] != (h, w):
        raise SSLRError(f"{path}: masks have shape {f['masks'].shape}, expected (N, {h}, {w})")
    try:
        fields = json.loads(f["objects"].attrs.get("fields", "[]"))
        params = json.loads(f.attrs.get("params", "{}"))
    except json.JSONDecodeError:
        raise SSLRError(f"{path}: attributes 'fields'/'params' are not valid JSON") from None
    if f["objects"].shape[2] != len(fields):
        raise SSLRError(f"{path}: objects have {f['objects'].shape[2]} fields, the 'fields' attribute names {len(fields)}")
    return SceneFile(
        path=path,
        kind=kind,
        n=int(n),
        image_size=int(h),
        fields=list(fields),
        params=params,
        seed=int(f.attrs.get("seed", -1)),
        names=list(f.keys()),
    )
