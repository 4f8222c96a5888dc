"""Scenes in memory: ``SceneArrays``, the arrays of one kind that go into / come out of a dataset file.

Apart from the HDF5 store (``store.py``) so that the generators, and the dataset registry that lists them,
import without h5py (the CLI reads the registry for ``sslr gen-data --help``)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


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


def concat_scenes(parts: list[SceneArrays]) -> SceneArrays:
    """Blocks of scenes (as the chunked generators yield them) as one ``SceneArrays``."""
    first = parts[0]
    arrays = {k: np.concatenate([p.arrays[k] for p in parts]) if len(parts) > 1 else first.arrays[k] for k in first.arrays}
    return SceneArrays(first.kind, arrays, first.fields, first.params, first.seed)
