"""Every dataset kind, in one plain dict: ``DATASETS[name]`` -> ``DatasetKind`` (``data/dataset_kind.py``).

A new kind is one module in ``data/`` (its generator returning ``SceneArrays``, and its ``DatasetKind``) and one
entry here. What reads it: the store (a file's arrays are checked against its kind's schema, on writing and on
opening), the tasks (``kinds_for``: the kinds a task trains on), ``engine/run_config.default_preset``, the
learning curves (``experiments/curves.heldout_for``) and ``sslr gen-data --help`` (the help lines).

Importing it imports numpy only (no h5py): the CLI reads it to build ``sslr gen-data``.
"""

from __future__ import annotations

from sslr_cli.data import circles, clevr, multi_object
from sslr_cli.data.dataset_kind import DatasetKind

DATASETS: dict[str, DatasetKind] = {
    "circles": circles.CIRCLES,
    "isocircles": circles.ISOCIRCLES,
    "clevr": clevr.CLEVR,
    "multi_object": multi_object.MULTI_OBJECT,  # DeepMind's multi-object datasets (`sslr gen-data import-multi-object`)
}


def kinds_for(task: str) -> tuple[str, ...]:
    """The kinds whose files ``task`` trains and evaluates on, in registry order."""
    return tuple(name for name, kind in DATASETS.items() if kind.task == task)


def with_heldout() -> tuple[str, ...]:
    """The kinds a learning curve can measure (those with held-out scenes)."""
    return tuple(name for name, kind in DATASETS.items() if kind.heldout is not None)
