"""The HDF5 dataset store: one schema for every scene kind, validated on open, written atomically.

Layout (schema version 1):

- ``images``  uint8 (N, H, W, 3), chunked per sample, gzip-compressed
- ``masks``   uint8 (N, H, W) instance ids, 0 = background, i = object i (1-based, in ``objects`` order)
- ``objects`` float32 (N, K_max, F), attribute names in ``objects.attrs['fields']``; rows past
  ``counts[n]`` are NaN
- ``counts``  int16 (N,)
- pair kinds (``isocircles``) add ``images_b``, ``masks_b``, ``objects_b``, ``correspondence``
  (N, K_max) int16, ``targets`` (N, K_max) float32 raw squared distances and ``target`` (N,) float32
- file attributes: ``kind``, ``schema_version``, ``seed``, ``params`` (JSON of the generator settings)

Each kind's arrays (name, dtype, rank) are its ``DatasetKind.schema`` in ``data/registry.py`` ``DATASETS``.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import h5py
import numpy as np

from sslr_cli.atomic import atomic_path
from sslr_cli.data.registry import DATASETS
from sslr_cli.data.scenes import SceneArrays
from sslr_cli.errors import SSLRError

SCHEMA_VERSION = 1

WRITE_BLOCK = 1024  # samples per slab written to each dataset in turn: fixed, so the file's layout never
# depends on how the samples arrived (in one array or in generated chunks of any size)


def write_scenes(path: str | os.PathLike, scenes: SceneArrays, force: bool = False) -> Path:
    """Write ``scenes`` to ``path`` atomically, chunked per sample and gzip-compressed."""
    return write_scene_blocks(path, len(scenes), [scenes], force=force)


def write_scene_blocks(path: str | os.PathLike, n: int, blocks: Iterable[SceneArrays], force: bool = False) -> Path:
    """Write ``n`` scenes arriving as consecutive ``blocks`` to ``path`` atomically, holding at most
    one block and one write slab in memory. The bytes depend on the scenes only, not on the blocks."""
    path = Path(path)
    with atomic_path(path, force=force) as tmp:
        with h5py.File(tmp, "w", locking=False) as f:
            _write_blocks(f, n, blocks, str(path))
    return path


def _write_blocks(f: h5py.File, n: int, blocks: Iterable[SceneArrays], name_for_errors: str) -> None:
    datasets: dict[str, h5py.Dataset] = {}
    pending: list[dict[str, np.ndarray]] = []  # pieces of the next slab
    written = 0

    def create(first: SceneArrays) -> None:
        if first.kind not in DATASETS:
            raise SSLRError(f"unknown scene kind {first.kind!r}")
        schema = DATASETS[first.kind].schema
        missing = [k for k in schema if k not in first.arrays]
        if missing:
            raise ValueError(f"scenes of kind {first.kind} lack arrays {missing}")
        f.attrs["kind"] = first.kind
        f.attrs["schema_version"] = SCHEMA_VERSION
        f.attrs["seed"] = -1 if first.seed is None else int(first.seed)
        f.attrs["params"] = json.dumps(first.params, sort_keys=True)
        for name, array in first.arrays.items():
            dtype = np.dtype(schema[name][0] if name in schema else np.asarray(array).dtype)
            shape = (n,) + np.shape(array)[1:]
            big = len(shape) >= 3
            datasets[name] = f.create_dataset(
                name, shape=shape, dtype=dtype,
                chunks=(1,) + shape[1:] if big and n > 0 else None,
                compression="gzip" if big else None,
                compression_opts=1 if big else None,
                shuffle=False,
            )
            if name.startswith("objects"):
                datasets[name].attrs["fields"] = json.dumps(first.fields)

    def flush() -> None:
        nonlocal written
        slab = {k: np.concatenate([p[k] for p in pending]) if len(pending) > 1 else pending[0][k] for k in datasets}
        size = len(next(iter(slab.values())))
        if written + size > n:
            raise ValueError(f"{name_for_errors}: more than the {n} scenes announced")
        for name, ds in datasets.items():  # slab by slab, each dataset in turn: the order fixes the layout
            ds[written : written + size] = slab[name]
        written += size
        pending.clear()

    for block in blocks:
        if not datasets:
            create(block)
        arrays = {k: np.asarray(block.arrays[k], dtype=datasets[k].dtype) for k in datasets}
        m, at = len(block), 0
        while at < m:
            have = sum(len(next(iter(p.values()))) for p in pending)
            take = min(WRITE_BLOCK - have, m - at)
            pending.append({k: v[at : at + take] for k, v in arrays.items()})
            at += take
            if have + take == WRITE_BLOCK:
                flush()
    if pending:
        flush()
    if written != n:
        raise ValueError(f"{name_for_errors}: {written} scenes written, {n} announced")


def estimate_file_bytes(n: int, probe: Iterable[SceneArrays], probe_n: int) -> int:
    """The size of a file of ``n`` scenes, extrapolated from writing the first ``probe_n`` in memory."""
    with h5py.File(f"probe-{id(probe)}.h5", "w", driver="core", backing_store=False) as f:
        _write_blocks(f, probe_n, probe, "probe")
        f.flush()
        size = len(f.id.get_file_image())
    return int(size * n / probe_n)


def check_free_space(path: Path, needed: int, what: str, margin: float = 1.1) -> None:
    """Refuse up front a file that cannot fit on its file system or under the file-size limit (``needed``,
    an estimate, with ``margin`` for its error)."""
    folder = path.parent if str(path.parent) else Path(".")
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    usage = shutil.disk_usage(folder)
    if usage.total and needed * margin > usage.free:  # (a virtual file system, /proc say, reports 0 in all)
        raise SSLRError(f"{what}: the file would need about {_bytes(needed)}, and {folder} has {_bytes(usage.free)} free")
    limit = file_size_limit()
    if limit is not None and needed * margin > limit:
        raise SSLRError(f"{what}: the file would need about {_bytes(needed)}, over this process's file-size limit "
                        f"of {_bytes(limit)} (ulimit -f)")


def file_size_limit() -> int | None:
    """The soft limit on the size of a file this process writes (RLIMIT_FSIZE), or None."""
    try:
        import resource
    except ImportError:  # not on POSIX
        return None
    soft, _ = resource.getrlimit(resource.RLIMIT_FSIZE)
    return None if soft == resource.RLIM_INFINITY else soft


def _bytes(n: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB", "TB", "PB"):
        if n < 1000 or unit == "PB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} PB"


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
                check_fits_memory(self.path, [f[name] for name in names], limit)
                for name in names:
                    ds = f[name]
                    arrays[name] = ds[:limit] if limit is not None else ds[()]
                for name in ("target", "targets"):  # Table 3 divides by them: a NaN would leave blank cells
                    if name in arrays and not np.isfinite(arrays[name]).all():
                        i = int(np.flatnonzero(~np.isfinite(arrays[name]).reshape(len(arrays[name]), -1).all(axis=1))[0])
                        raise SSLRError(f"{self.path}: {name}[{i}] is not a finite number; the file is damaged")
                if "masks" in arrays:  # already in memory: checking the ids costs one pass over them
                    counts = arrays["counts"] if "counts" in arrays else f["counts"][:limit]
                    check_masks(self.path, arrays["masks"], counts, f["objects"].shape[1])
        except OSError as exc:  # a chunk that fails to decompress: truncated or damaged file
            raise SSLRError(f"{self.path}: cannot read data ({_short(exc)}); the file is damaged or truncated") from None
        return SceneArrays(kind=self.kind, arrays=arrays, fields=self.fields, params=self.params, seed=self.seed)


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation (Linux: MemAvailable), or None where unknown."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def check_fits_memory(path: Path, datasets: list, limit: int | None) -> None:
    """Refuse before reading arrays whose declared size (rows x shape x dtype) exceeds the available memory
    (a file can declare far more rows than it stores: HDF5 fills what is missing)."""
    total = 0
    for ds in datasets:
        rows = ds.shape[0] if limit is None else min(ds.shape[0], limit)
        total += rows * int(np.prod(ds.shape[1:], dtype=np.int64)) * ds.dtype.itemsize
    free = available_memory()
    if free is not None and total > free:
        raise SSLRError(f"{path}: reading it needs {_bytes(total)}, more than the {_bytes(free)} of memory available "
                        f"(its datasets declare {datasets[0].shape[0]} rows; use --limit, or check the file)")


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


def _text_attr(path: Path, name: str, value) -> str:
    """An HDF5 attribute that must be text (str or bytes); anything else is an error naming it."""
    if isinstance(value, bytes):
        try:
            return value.decode()
        except UnicodeDecodeError:
            raise SSLRError(f"{path}: attribute {name!r} is not UTF-8 text") from None
    if isinstance(value, str):
        return value
    raise SSLRError(f"{path}: attribute {name!r} must be text, got {type(value).__name__} {value!r:.60}")


def _check_counts(path: Path, counts: h5py.Dataset, capacity: int, block: int = 1 << 22) -> None:
    """Every count in [0, capacity] (the objects' K_max): 2 bytes an image, read in blocks."""
    for start in range(0, counts.shape[0], block):
        part = counts[start : start + block]
        bad = np.flatnonzero((part < 0) | (part > capacity))
        if bad.size:
            i = start + int(bad[0])
            raise SSLRError(f"{path}: counts[{i}] = {int(part[bad[0]])} is out of range (0..{capacity}, the objects' "
                            f"capacity); {bad.size} such image(s) in rows {start}..{start + len(part) - 1}")


def check_masks(path: Path, masks: np.ndarray, counts: np.ndarray | None, capacity: int) -> None:
    """Instance ids of loaded masks: at most the image's count (or K_max without counts)."""
    if masks.size == 0:
        return
    top = masks.reshape(masks.shape[0], -1).max(axis=1)
    limit = np.minimum(counts.astype(np.int64), capacity) if counts is not None else capacity
    bad = np.flatnonzero(top > limit)
    if bad.size:
        i = int(bad[0])
        raise SSLRError(f"{path}: masks[{i}] holds instance id {int(top[i])}, but the image has "
                        f"{int(counts[i]) if counts is not None else capacity} object(s)")


def _validate(path: Path, f: h5py.File, kinds: tuple[str, ...] | None) -> SceneFile:
    kind = f.attrs.get("kind")
    if kind is None:
        raise SSLRError(f"{path}: no 'kind' attribute; not an sslr dataset")
    kind = _text_attr(path, "kind", kind)
    version = f.attrs.get("schema_version")
    if isinstance(version, np.ndarray) and version.shape == ():
        version = version.item()
    if not isinstance(version, (int, np.integer)) or isinstance(version, bool) or int(version) != SCHEMA_VERSION:
        raise SSLRError(f"{path}: unknown schema version {version!r} (this sslr reads version {SCHEMA_VERSION})")
    if kind not in DATASETS:
        raise SSLRError(f"{path}: unknown dataset kind {kind!r}")
    schema = DATASETS[kind].schema
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
        fields = json.loads(_text_attr(path, "fields", f["objects"].attrs.get("fields", "[]")))
        params = json.loads(_text_attr(path, "params", f.attrs.get("params", "{}")))
    except json.JSONDecodeError:
        raise SSLRError(f"{path}: attributes 'fields'/'params' are not valid JSON") from None
    if not isinstance(fields, list) or not all(isinstance(x, str) for x in fields):
        raise SSLRError(f"{path}: attribute 'fields' must be a JSON list of names, got {fields!r:.80}")
    if not isinstance(params, dict):
        raise SSLRError(f"{path}: attribute 'params' must be a JSON object, got {params!r:.80}")
    seed = f.attrs.get("seed", -1)
    if isinstance(seed, np.ndarray) and seed.shape == ():
        seed = seed.item()
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise SSLRError(f"{path}: attribute 'seed' must be an integer, got {seed!r:.80}")
    if f["objects"].shape[2] != len(fields):
        raise SSLRError(f"{path}: objects have {f['objects'].shape[2]} fields, the 'fields' attribute names {len(fields)}")
    _check_counts(path, f["counts"], f["objects"].shape[1])
    return SceneFile(
        path=path,
        kind=kind,
        n=int(n),
        image_size=int(h),
        fields=list(fields),
        params=params,
        seed=int(seed),
        names=list(f.keys()),
    )
