"""What sslr knows of a dataset kind: ``DatasetKind``. Each kind declares one beside its generator (``CIRCLES`` in
``circles.py``, ...) and ``data/registry.py`` lists them in ``DATASETS``; the store, the tasks, the default
preset, the learning curves and ``sslr gen-data --help`` read them from there."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np

from sslr_cli.data.scenes import SceneArrays

# name -> (dtype, rank) of the arrays every kind has (the store cross-checks their shapes); a kind's schema
# adds its own
BASE_SCHEMA: dict[str, tuple[type, int]] = {
    "images": (np.uint8, 4),
    "masks": (np.uint8, 3),
    "objects": (np.float32, 3),
    "counts": (np.int16, 1),
}


@dataclass(frozen=True)
class DatasetKind:
    name: str  # the file's ``kind`` attribute
    task: str  # the training task its files serve: "reconstruct" or "match" (``engine/tasks.py`` TASKS)
    schema: Mapping[str, tuple[type, int]]  # every array its files must have: name -> (dtype, rank)
    # (the opened file, a ``store.SceneFile``; the task) -> the preset of a run that names none
    default_preset: Callable[[Any, str], str]
    help: str  # one line: the help of the ``sslr gen-data`` command that makes it
    # (n, k, seed, image side) -> n scenes with exactly k objects (at least images, counts and masks): the
    # held-out images a learning curve measures Table 1 on (``sslr train --eval-every``); None: no curve
    heldout: Callable[[int, int, int, int], SceneArrays] | None = None
