"""`sslr gen-data import-multi-object`: TFRecord files written here with each DeepMind multi-object dataset's
feature schema (the real files cannot be downloaded on these machines), imported and checked value by value."""

from __future__ import annotations

import gzip
import importlib.util
import json

import cv2
import h5py
import numpy as np
import pytest
import torch
from conftest import one_line_error, run

pytest.importorskip("tfrecord")
from tfrecord.writer import TFRecordWriter  # noqa: E402

from sslr_cli.data.multi_object import DATASETS, import_blocks, plan_import  # noqa: E402
from sslr_cli.data.store import open_scenes  # noqa: E402


def one_byte_strings(array: np.ndarray) -> list[bytes]:
    """A uint8 array as the datasets store it: a bytes list of one-byte strings (FixedLenFeature of tf.string)."""
    return [bytes([v]) for v in np.asarray(array, np.uint8).ravel()]


def write_tfrecord(path, records: list[dict], compress: bool = True) -> None:
    plain = path.with_suffix(".plain")
    writer = TFRecordWriter(str(plain))
    for rec in records:
        writer.write(rec)
    writer.close()
    data = plain.read_bytes()
    plain.unlink()
    path.write_bytes(gzip.compress(data) if compress else data)


def make_scene(rng, name: str, n_objects: int, k: int, channels: int = 3, overlap: bool = False):
    """One scene of ``name``'s schema: (features for the writer, truth: image, (K, H, W) masks, attributes)."""
    ds = DATASETS[name]
    h, w = ds.height, ds.width
    image = rng.integers(0, 256, (h, w, channels), dtype=np.uint8)
    masks = np.zeros((k, h, w), np.uint8)
    masks[0] = 255
    for e in range(1, n_objects + 1):  # a rectangle per object, drawn over the background
        y, x = rng.integers(0, h - 8), rng.integers(0, w - 8)
        masks[:, y : y + 6, x : x + 7] = 0
        masks[e, y : y + 6, x : x + 7] = 255
    if overlap and n_objects >= 2:  # a pixel claimed by two objects: the first (lower entity) wins
        masks[1, 0, 0] = masks[2, 0, 0] = 255
        masks[0, 0, 0] = 0
    attrs = {}
    for feature, per in ds.float_features:
        n = channels if per == 0 else per
        attrs[feature] = rng.normal(size=(k, n)).astype(np.float32)
    for feature in ds.byte_features:
        attrs[feature] = rng.integers(0, 8, (k, 1), dtype=np.uint8)
    mask_raw = masks.transpose(1, 2, 0) if ds.mask_last else masks
    rec = {"image": (one_byte_strings(image), "byte"), "mask": (one_byte_strings(mask_raw), "byte")}
    for feature, per in ds.float_features:
        rec[feature] = (attrs[feature].ravel().tolist(), "float")
    for feature in ds.byte_features:
        rec[feature] = (one_byte_strings(attrs[feature]), "byte")
    return rec, (image, masks, attrs)


def expected(name: str, truth, size: int, channels: int = 3):
    """The documented import of one scene, computed here from the truth: image, id map, object rows, count."""
    ds = DATASETS[name]
    image, masks, attrs = truth
    if channels == 1:
        image = np.repeat(image, 3, axis=2)
    present = [e for e in range(1, len(masks)) if masks[e].any()]
    ids = np.zeros(masks.shape[1:], np.uint8)
    for y, x in np.ndindex(*ids.shape):
        e = int(np.argmax(masks[:, y, x]))
        ids[y, x] = present.index(e) + 1 if e in present else 0
    rows = [[float(e)] + [float(v) for f, _ in ds.float_features for v in attrs[f][e]]
            + [float(attrs[f][e, 0]) for f in ds.byte_features] for e in present]
    if ds.crop:
        y0, y1, x0, x1 = ds.crop
        image, ids = image[y0:y1, x0:x1], ids[y0:y1, x0:x1]
    if image.shape[0] != size:
        up = size > image.shape[0]
        image = cv2.resize(np.ascontiguousarray(image), (size, size), interpolation=cv2.INTER_NEAREST if up else cv2.INTER_AREA)
        ids = cv2.resize(np.ascontiguousarray(ids), (size, size), interpolation=cv2.INTER_NEAREST)
    return image, ids, np.asarray(rows, np.float32).reshape(len(present), -1), len(present)


def check_file(out, name, truths, kept, size, channels=3):
    f = open_scenes(out, "multi_object")
    arrays = f.load().arrays
    assert f.n == len(kept) and f.image_size == size
    assert f.fields[0] == "entity" and len(f.fields) == arrays["objects"].shape[2]
    assert f.params["dataset"] == name
    for row, i in enumerate(kept):
        image, ids, rows, count = expected(name, truths[i], size, channels)
        assert np.array_equal(arrays["images"][row], image), (name, i)
        assert np.array_equal(arrays["masks"][row], ids), (name, i)
        assert arrays["counts"][row] == count
        assert np.array_equal(arrays["objects"][row, :count], rows), (name, i)  # raw float32 values, bit for bit
        assert np.isnan(arrays["objects"][row, count:]).all()
    return f, arrays


@pytest.mark.parametrize("name,k,objects,size", [
    ("multi_dsprites", 6, [1, 5, 3], 64),  # colored_on_grayscale, Slot Attention's variant; masks stored (H, W, K)
    ("tetrominoes", 4, [3, 2], 64),  # 35 px scaled up (nearest) to a size the models take
    ("objects_room", 7, [6, 4], 64),  # no attributes: objects hold the entity index only
    ("clevr_with_masks", 11, [3, 7, 6], 64),  # 240 x 320 -> the 192 x 192 centre -> 64; the 7-object scene is not CLEVR6
])
def test_import_value_by_value(tmp_path, name, k, objects, size):
    rng = np.random.default_rng(len(name))
    recs, truths = zip(*[make_scene(rng, name, n, k, overlap=(i == 0)) for i, n in enumerate(objects)])
    src = tmp_path / f"{name}.tfrecords"
    write_tfrecord(src, list(recs))
    out = tmp_path / f"{name}.h5"
    result = run("gen-data", "import-multi-object", src, out, "--dataset", name, "--size", size, "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    kept = [i for i, n in enumerate(objects) if name != "clevr_with_masks" or n <= 6]
    assert summary["images"] == len(kept) and summary["records"] == len(objects) and summary["entities"] == k
    f, _ = check_file(out, name, truths, kept, size)
    assert f.params["max_objects"] == (6 if name == "clevr_with_masks" else None)
    if name == "clevr_with_masks":  # --max-objects 0 keeps every scene
        out_all = tmp_path / "all.h5"
        assert run("gen-data", "import-multi-object", src, out_all, "--dataset", name, "--size", size,
                   "--max-objects", 0, "-q").exit_code == 0
        check_file(out_all, name, truths, list(range(len(objects))), size)
        assert open_scenes(out_all).fields == ["entity", "x", "y", "z", "pixel_x", "pixel_y", "pixel_z", "rotation",
                                               "visibility", "size", "material", "shape", "color"]


def test_binarized_multi_dsprites_uncompressed_grayscale_and_the_default_size(tmp_path):
    rng = np.random.default_rng(1)
    recs, truths = zip(*[make_scene(rng, "multi_dsprites", n, 4, channels=1) for n in (2, 3)])
    src = tmp_path / "bin.tfrecords"
    write_tfrecord(src, list(recs), compress=False)
    out = tmp_path / "bin.h5"
    assert run("gen-data", "import-multi-object", src, out, "--dataset", "multi_dsprites", "-q").exit_code == 0
    f, _ = check_file(out, "multi_dsprites", truths, [0, 1], 64, channels=1)
    assert f.params["variant"] == "binarized" and "color" in f.fields and "color_r" not in f.fields


def test_streams_in_blocks_and_stops_at_limit(tmp_path):
    rng = np.random.default_rng(2)
    recs, _ = zip(*[make_scene(rng, "tetrominoes", 2, 4) for _ in range(5)])
    src = tmp_path / "t.tfrecords"
    write_tfrecord(src, list(recs))
    ds = DATASETS["tetrominoes"]
    plan = plan_import(src, ds, None, limit=4)
    assert plan.n == 4 and plan.records == 4
    blocks = list(import_blocks(src, plan, 64, None, block=3))
    assert [len(b) for b in blocks] == [3, 1]  # memory holds one block of scenes, whatever the file's size
    out = tmp_path / "t.h5"
    assert run("gen-data", "import-multi-object", src, out, "--dataset", "tetrominoes", "--limit", 2, "-q").exit_code == 0
    assert open_scenes(out).n == 2
    rest = tmp_path / "rest.h5"
    assert run("gen-data", "import-multi-object", src, rest, "--dataset", "tetrominoes", "--skip", 2, "-q").exit_code == 0
    first, second = open_scenes(out).load().arrays, open_scenes(rest).load().arrays
    assert len(second["images"]) == 3
    all_ = plan_import(src, ds, None, None)
    whole = np.concatenate([b["images"] for b in import_blocks(src, all_, 64, None)])
    assert np.array_equal(np.concatenate([first["images"], second["images"]]), whole)  # a split, nothing lost


def test_ari_of_the_imported_masks_through_the_existing_metrics(tmp_path):
    """`sslr reconstruct` scores a model's segmentation against the imported masks: its FG-ARI is ari_scores of
    the model's responsibility segmentation and the stored instance ids."""
    from sslr_cli.engine.checkpoint import load_model
    from sslr_cli.experiments.disentanglement import ari_scores, responsibility_segmentation

    rng = np.random.default_rng(3)
    recs, _ = zip(*[make_scene(rng, "multi_dsprites", n, 6) for n in (1, 2, 3, 4)])
    src = tmp_path / "d.tfrecords"
    write_tfrecord(src, list(recs))
    out = tmp_path / "d.h5"
    assert run("gen-data", "import-multi-object", src, out, "--dataset", "multi_dsprites", "-q").exit_code == 0
    result = run("reconstruct", "tiny-srn", "--data", out, "--samples", 0, "--device", "cpu", "--json")
    assert result.exit_code == 0, result.output
    (c,) = json.loads(result.stdout)["checkpoints"]
    arrays = open_scenes(out).load().arrays
    model, _, _ = load_model("tiny-srn")
    with torch.no_grad():
        _, rec = model(torch.from_numpy(arrays["images"]).permute(0, 3, 1, 2).float() / 255.0)
    seg = responsibility_segmentation(rec.element_images.float(), 0.1).numpy()
    ari, fg = ari_scores(seg, arrays["masks"])
    assert c["ari"] == pytest.approx(float(ari.mean())) and c["fg_ari"] == pytest.approx(float(fg.mean()))
    assert set(c["rates"]) == {"1", "2", "3", "4"}  # Table 1 by object count


def test_bad_inputs_are_one_line_errors(tmp_path, monkeypatch):
    rng = np.random.default_rng(4)
    rec, _ = make_scene(rng, "tetrominoes", 2, 4)
    src = tmp_path / "t.tfrecords"
    write_tfrecord(src, [rec, rec])
    args = ("gen-data", "import-multi-object", "-q")
    one_line_error(run(*args, src, tmp_path / "a.h5", "--dataset", "multi_dsprites"), "choose another --dataset")
    one_line_error(run(*args, src, tmp_path / "a.h5", "--dataset", "clevr"), "--dataset 'clevr'", "clevr_with_masks")
    one_line_error(run(*args, tmp_path / "none.tfrecords", tmp_path / "a.h5", "--dataset", "tetrominoes"), "no such file")
    one_line_error(run(*args, src, tmp_path / "a.h5", "--dataset", "tetrominoes", "--size", 50), "--size 50")
    plain = gzip.decompress(src.read_bytes())
    cut = tmp_path / "cut.tfrecords"
    cut.write_bytes(plain[: len(plain) // 2 + 7])  # the second record cut after its header
    one_line_error(run(*args, cut, tmp_path / "a.h5", "--dataset", "tetrominoes"), "cut.tfrecords", "cut short")
    bad = bytearray(plain)
    bad[100] ^= 0xFF
    damaged = tmp_path / "damaged.tfrecords"
    damaged.write_bytes(bytes(bad))
    one_line_error(run(*args, damaged, tmp_path / "a.h5", "--dataset", "tetrominoes"), "damaged.tfrecords", "checksum")
    assert not (tmp_path / "a.h5").exists()
    with h5py.File(tmp_path / "exists.h5", "w"):
        pass
    one_line_error(run(*args, src, tmp_path / "exists.h5", "--dataset", "tetrominoes"), "already exists")
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "tfrecord" else real(name, *a))
    one_line_error(run(*args, src, tmp_path / "a.h5", "--dataset", "tetrominoes"), "pip install 'sslr-cli[tfrecord]'")


@pytest.mark.parametrize("name,k,preset", [("multi_dsprites", 6, None), ("clevr_with_masks", 11, "clevr6-tiny")])
def test_presets_train_srn_mlp_and_slot_attention_on_an_imported_file(tmp_path, name, k, preset):
    rng = np.random.default_rng(5)
    recs, _ = zip(*[make_scene(rng, name, n, k) for n in (1, 2, 3, 4)])
    src = tmp_path / "s.tfrecords"
    write_tfrecord(src, list(recs))
    data = tmp_path / "s.h5"
    assert run("gen-data", "import-multi-object", src, data, "--dataset", name, "--size", 64, "-q").exit_code == 0
    for generator in ("srn", "mlp", "slot"):
        out = tmp_path / generator
        result = run("train", data, "--generator", generator, *(("--preset", preset) if preset else ()), "--out", out,
                     "--batch-size", 2, "--max-steps", 2, "--val-fraction", 0, "--device", "cpu", "--json")
        assert result.exit_code == 0, result.output
        summary = json.loads(result.stdout)
        assert summary["steps"] == 2 and summary["preset"] == (preset or "multi-object-tiny")
        assert np.isfinite(summary["train_loss"])


def test_limit_then_skip_split_the_clevr6_scenes_exactly(tmp_path):
    rng = np.random.default_rng(6)
    objects = [7, 2, 8, 3, 6, 9, 1]  # CLEVR6 keeps records 1, 3, 4, 6
    recs, _ = zip(*[make_scene(rng, "clevr_with_masks", n, 11) for n in objects])
    src = tmp_path / "c.tfrecords"
    write_tfrecord(src, list(recs))
    args = ("gen-data", "import-multi-object", src)
    assert run(*args, tmp_path / "test.h5", "--dataset", "clevr_with_masks", "--size", 64, "--limit", 2, "-q").exit_code == 0
    assert run(*args, tmp_path / "train.h5", "--dataset", "clevr_with_masks", "--size", 64, "--skip", 2, "-q").exit_code == 0
    entity_rows = lambda p: open_scenes(p).load().arrays["counts"].tolist()  # noqa: E731
    assert entity_rows(tmp_path / "test.h5") == [2, 3] and entity_rows(tmp_path / "train.h5") == [6, 1]
    one_line_error(run(*args, tmp_path / "none.h5", "--dataset", "clevr_with_masks", "--skip", 4, "-q"), "--skip")
