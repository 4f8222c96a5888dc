"""The dataset registry (data/registry.py): what it lists matches the docs, the tasks and `sslr gen-data`, and a
dataset kind defined here plugs in through one `DATASETS` entry: its files are written and checked against its
schema, the reconstruct task and the analysis inputs take them, it names its default preset, a learning curve
measures on its held-out scenes, and one `GEN_DATA` entry adds its `gen-data` subcommand."""

from __future__ import annotations

import json
import re
from pathlib import Path

import h5py
import numpy as np
import pytest
from conftest import tiny_run
from typer.testing import CliRunner

from sslr_cli.commands import gen_data
from sslr_cli.commands import options as o
from sslr_cli.commands.common import user_errors
from sslr_cli.commands.gen_common import generate_file
from sslr_cli.commands.gen_data import GEN_DATA, gen_data_app
from sslr_cli.data.circles import generate_isocircles
from sslr_cli.data.dataset_kind import BASE_SCHEMA, DatasetKind
from sslr_cli.data.registry import DATASETS, kinds_for, with_heldout
from sslr_cli.data.scenes import SceneArrays
from sslr_cli.data.store import open_scenes, write_scenes
from sslr_cli.engine.run_config import build_run_config, default_preset
from sslr_cli.engine.tasks import TASKS, get_task
from sslr_cli.engine.train import train
from sslr_cli.errors import SSLRError
from sslr_cli.experiments import curves
from sslr_cli.experiments.inputs import load_labelled_images

ROOT = Path(__file__).resolve().parents[1]

# --- a toy kind: white 4-pixel squares on black, with an array of its own ------------------------------------


def toy_scenes(n: int, seed: int, size: int = 64, count: int | None = None) -> SceneArrays:
    """``n`` images of 1-3 squares (exactly ``count`` when given); ``brightness`` = the white fraction."""
    rng = np.random.default_rng(seed)
    k_max = count or 3
    images = np.zeros((n, size, size, 3), np.uint8)
    masks = np.zeros((n, size, size), np.uint8)
    objects = np.full((n, k_max, 2), np.nan, np.float32)
    counts = np.full(n, count, np.int16) if count else rng.integers(1, 4, n).astype(np.int16)
    for i in range(n):
        for j in range(counts[i]):
            x, y = (int(v) for v in rng.integers(0, size - 4, 2))
            images[i, y:y + 4, x:x + 4] = 255
            masks[i, y:y + 4, x:x + 4] = j + 1
            objects[i, j] = x, y
    brightness = (images[..., 0] > 0).mean(axis=(1, 2)).astype(np.float32)
    arrays = {"images": images, "masks": masks, "objects": objects, "counts": counts, "brightness": brightness}
    return SceneArrays("toy", arrays, ["x", "y"], params={"generator": "toy", "n": n}, seed=seed)


TOY = DatasetKind("toy", "reconstruct", {**BASE_SCHEMA, "brightness": (np.float32, 1)},
                  lambda f, task: "small" if task == "reconstruct" and f.image_size == 64 else "tiny",
                  "Toy squares: 1-3 white squares on black.",
                  heldout=lambda n, k, seed, size: toy_scenes(n, seed, size, count=k))


@pytest.fixture
def toy(monkeypatch):
    monkeypatch.setitem(DATASETS, "toy", TOY)  # the one registry line


def test_the_registry_is_what_the_store_tasks_and_gen_data_use():
    assert all(name == kind.name for name, kind in DATASETS.items())
    assert kinds_for("reconstruct") == ("circles", "clevr", "multi_object") == get_task("reconstruct").kinds
    assert kinds_for("match") == ("isocircles",) == get_task("match").kinds
    assert {k.task for k in DATASETS.values()} <= set(TASKS) and with_heldout() == ("circles",)
    assert {kind for kind, _ in GEN_DATA.values()} == set(DATASETS)
    wired = {c.name: c.help for c in gen_data.app.registered_commands}  # what `sslr gen-data --help` lists
    assert wired == {name: DATASETS[kind].help for name, (kind, _) in GEN_DATA.items()}
    assert list(wired) == ["circles", "isocircles", "clevr", "import-multi-object"]


def test_docs_extending_lists_every_kind():
    text = (ROOT / "docs" / "extending.md").read_text()
    row = next(line for line in text.splitlines() if line.startswith("| dataset kinds"))
    assert set(re.findall(r"`([a-z_]+)`", row.split("|")[3])) == set(DATASETS)


def test_a_new_kind_is_written_and_checked_against_its_schema(toy, tmp_path):
    path = write_scenes(tmp_path / "toy.h5", toy_scenes(6, seed=1))
    f = open_scenes(path, "toy")
    assert (f.kind, f.n, f.image_size, f.fields) == ("toy", 6, 64, ["x", "y"])
    np.testing.assert_array_equal(f.load().arrays["brightness"], toy_scenes(6, seed=1)["brightness"])
    with pytest.raises(SSLRError, match="is a 'toy' dataset, this command needs 'circles'"):
        open_scenes(path, "circles")
    scenes = toy_scenes(2, seed=1)
    del scenes.arrays["brightness"]
    with pytest.raises(ValueError, match=r"scenes of kind toy lack arrays \['brightness'\]"):
        write_scenes(tmp_path / "short.h5", scenes)
    with h5py.File(path, "a") as h:  # a file of the kind without its own array: refused on open
        del h["brightness"]
    with pytest.raises(SSLRError, match="brightness"):
        open_scenes(path)


def test_a_kind_not_in_the_registry_is_unknown(tmp_path, monkeypatch):
    monkeypatch.setitem(DATASETS, "toy", TOY)
    path = write_scenes(tmp_path / "toy.h5", toy_scenes(2, seed=1))
    monkeypatch.delitem(DATASETS, "toy")
    with pytest.raises(SSLRError, match="unknown dataset kind 'toy'"):
        open_scenes(path)
    with pytest.raises(SSLRError, match="unknown scene kind 'toy'"):
        write_scenes(tmp_path / "again.h5", toy_scenes(2, seed=1))


def test_a_new_kind_trains_gets_its_preset_and_its_learning_curve(toy, tmp_path):
    path = write_scenes(tmp_path / "toy.h5", toy_scenes(16, seed=2))
    assert "toy" in get_task("reconstruct").kinds and "toy" not in get_task("match").kinds
    assert len(load_labelled_images([path], 64)) == 16  # the analysis commands' inputs take it
    assert default_preset(path, "reconstruct") == "small" and default_preset(path, "match") == "tiny"
    assert build_run_config(path).preset == "small"
    held = curves.generated_heldout(2, 64, "toy")
    assert held.counts.tolist() == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5] and held.images.shape == (10, 64, 64, 3)
    cfg = tiny_run("mlp", epochs=10, max_steps=2, eval_every=2, eval_images=2, val_fraction=0.0)
    train(path, tmp_path / "run", cfg, device="cpu", hooks=[curves.TrainingEvaluator()])
    evals = [r for r in map(json.loads, (tmp_path / "run" / "metrics.jsonl").read_text().splitlines())
             if r["kind"] == "eval"]
    assert [e["step"] for e in evals] == [2] and evals[0]["images"] == {str(k): 2 for k in range(1, 6)}
    # a kind without held-out scenes: the message lists the kinds that have them
    iso = write_scenes(tmp_path / "iso.h5", generate_isocircles(4, seed=1))
    with pytest.raises(SSLRError, match=r"of circles or toy reconstruction runs; .*iso.h5 holds isocircles scenes"):
        curves.heldout_for(tiny_run("mlp", eval_every=2), iso)


@user_errors
def toy_command(
    out_path: o.DatasetOut,
    n: o.Images = 4,
    seed: o.DataSeed = 0,
    force: o.OverwriteDataset = False,
    quiet: o.QuietOption = False,
    as_json: o.JsonOption = False,
) -> None:
    generate_file("toy", out_path, n, force, quiet, as_json, lambda k, advance: iter([toy_scenes(k, seed)]))


def test_a_gen_data_subcommand_is_one_table_entry(toy, tmp_path):
    group = gen_data_app({**GEN_DATA, "toy": ("toy", toy_command)})
    cli = CliRunner()
    listing = cli.invoke(group, ["--help"]).output
    assert "Toy squares: 1-3 white squares on black." in listing and "import-multi-object" in listing
    result = cli.invoke(group, ["toy", str(tmp_path / "t.h5"), "--n", "5", "--seed", "3", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert (summary["kind"], summary["images"]) == ("toy", 5)
    np.testing.assert_array_equal(open_scenes(tmp_path / "t.h5", "toy").load().arrays["images"],
                                  toy_scenes(5, seed=3)["images"])
    again = cli.invoke(group, ["toy", str(tmp_path / "t.h5")])  # the shared writer's rules hold
    assert again.exit_code == 2 and "already exists" in again.output
