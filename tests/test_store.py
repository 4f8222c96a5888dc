"""The HDF5 store: round trip, validation errors naming the file, atomic writes, the batch loader."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import torch

from sslr_cli.data.circles import generate_circles, generate_isocircles
from sslr_cli.data.loader import BatchLoader, to_float_images
from sslr_cli.data.store import open_scenes, write_scenes
from sslr_cli.errors import SSLRError


def test_round_trip_and_schema(tmp_path):
    s = generate_circles(20, seed=1)
    p = write_scenes(tmp_path / "c.h5", s)
    f = open_scenes(p, "circles")
    assert (f.kind, f.n, f.image_size, f.fields, f.seed) == ("circles", 20, 64, ["x", "y", "radius", "color"], 1)
    loaded = f.load()
    for name in s.arrays:
        np.testing.assert_array_equal(loaded[name], s[name])
    with h5py.File(p) as h:
        assert h["images"].chunks == (1, 64, 64, 3) and h["images"].compression == "gzip"
        assert h["images"].dtype == np.uint8 and h.attrs["schema_version"] == 1


def test_existing_output_needs_force(tmp_path):
    s = generate_circles(3, seed=1)
    p = write_scenes(tmp_path / "c.h5", s)
    with pytest.raises(SSLRError, match="already exists"):
        write_scenes(p, s)
    write_scenes(p, generate_circles(4, seed=2), force=True)
    assert open_scenes(p).n == 4


def test_failed_write_leaves_nothing(tmp_path, monkeypatch):
    s = generate_circles(3, seed=1)
    s.arrays["objects"] = None  # np.asarray(None, float32) fails mid-write
    with pytest.raises(Exception):
        write_scenes(tmp_path / "c.h5", s)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda h: h.__delitem__("counts"), "missing dataset 'counts'"),
        (lambda h: h.attrs.__setitem__("schema_version", 99), "unknown schema version"),
        (lambda h: h.attrs.__delitem__("kind"), "no 'kind' attribute"),
        (lambda h: (h.__delitem__("masks"), h.create_dataset("masks", data=np.zeros((5, 64, 64), np.float32))), "dtype"),
        (lambda h: (h.__delitem__("counts"), h.create_dataset("counts", data=np.zeros((4,), np.int16))), "rows"),
    ],
)
def test_validation_names_file_and_problem(tmp_path, damage, message):
    p = write_scenes(tmp_path / "c.h5", generate_circles(5, seed=1))
    with h5py.File(p, "a") as h:
        damage(h)
    with pytest.raises(SSLRError, match=message) as info:
        open_scenes(p)
    assert str(p) in str(info.value)


def test_wrong_kind_truncated_and_not_hdf5(tmp_path):
    p = write_scenes(tmp_path / "iso.h5", generate_isocircles(4, seed=1))
    with pytest.raises(SSLRError, match="is a 'isocircles' dataset, this command needs 'circles'"):
        open_scenes(p, "circles")
    text = tmp_path / "x.h5"
    text.write_text("hello")
    with pytest.raises(SSLRError, match="not an HDF5 file"):
        open_scenes(text)
    good = write_scenes(tmp_path / "c.h5", generate_circles(30, seed=1))
    cut = tmp_path / "cut.h5"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(SSLRError, match="cut.h5"):
        open_scenes(cut).load()
    with pytest.raises(SSLRError, match="no such file"):
        open_scenes(tmp_path / "missing.h5")


def test_loader_batches_cover_data_deterministically():
    images = torch.arange(10 * 2 * 2 * 3, dtype=torch.uint8).view(10, 2, 2, 3)
    ids = torch.arange(10)
    loader = BatchLoader({"images": images, "id": ids}, batch_size=3, seed=4)
    assert len(loader) == 3
    seen = torch.cat([b["id"] for b in loader.batches(0)])
    assert len(set(seen.tolist())) == 9
    again = torch.cat([b["id"] for b in loader.batches(0)])
    assert torch.equal(seen, again)
    assert not torch.equal(seen, torch.cat([b["id"] for b in loader.batches(1)]))
    resumed = torch.cat([b["id"] for b in loader.batches(0, start=1)])
    assert torch.equal(resumed, seen[3:])
    batch = next(loader.batches(0))
    assert torch.equal(batch["images"], images[batch["id"]])


def test_loader_ranks_split_the_global_batch():
    ids = torch.arange(16)
    full = list(BatchLoader({"id": ids}, 8, seed=1).batches(0))
    r0 = list(BatchLoader({"id": ids}, 8, seed=1, rank=0, world_size=2).batches(0))
    r1 = list(BatchLoader({"id": ids}, 8, seed=1, rank=1, world_size=2).batches(0))
    assert len(full) == len(r0) == len(r1) == 2  # zip over empty loaders would check nothing
    assert all(len(a["id"]) == len(b["id"]) == 4 for a, b in zip(r0, r1))
    for f, a, b in zip(full, r0, r1):
        assert torch.equal(torch.cat([a["id"], b["id"]]), f["id"])


def test_float_images():
    u8 = torch.tensor([[[[0, 255, 51]]]], dtype=torch.uint8)
    x = to_float_images(u8)
    assert x.shape == (1, 3, 1, 1) and x.dtype == torch.float32
    assert torch.allclose(x.flatten(), torch.tensor([0.0, 1.0, 0.2]))
