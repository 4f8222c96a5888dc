"""`sslr train --generator slot` and the analysis commands on its checkpoint, at toy size."""

from __future__ import annotations

import json

import h5py
import pytest
from conftest import run

from sslr_cli.data.circles import CircleSpec, generate_circles
from sslr_cli.data.store import write_scenes

TOY = ("--preset", "tiny", "--set-size", 4, "--element-dim", 3, "--encoder-width", 4, "--decoder-width", 4,
       "--batch-size", 16, "--device", "cpu")


def ok_json(result) -> dict:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def slot_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("slot")
    data = root / "k.h5"
    write_scenes(data, generate_circles(32, CircleSpec(min_count=1, max_count=3), seed=3))
    summary = ok_json(run("train", data, "--out", root / "run", "--generator", "slot", "--epochs", 1, *TOY,
                          "--gen-opt", "slot_size=8", "--gen-opt", "mlp_hidden=16", "--gen-opt", "iterations=2", "--json"))
    return {"root": root, "data": data, "run": root / "run", "summary": summary}


def test_train_slot_writes_a_slot_checkpoint(slot_run):
    assert slot_run["summary"]["generator"] == "slot" and slot_run["summary"]["stopped"] == "finished"
    cfg = json.loads((slot_run["run"] / "config.json").read_text())
    assert cfg["model"]["generator"] == "slot" and cfg["model"]["set_size"] == 4
    # every option of its own is written out, the given ones and the defaults
    assert cfg["model"]["generator_options"] == {"iterations": 2, "slot_size": 8, "mlp_hidden": 16, "epsilon": 1e-8,
                                                 "trunk_blocks": 3, "eval_seed": 0}


@pytest.mark.parametrize("opt, fragment", [("iterations=0", "iterations=0"), ("slots=3", "slots"), ("epsilon=x", "epsilon")])
def test_train_slot_bad_options(slot_run, tmp_path, opt, fragment):
    result = run("train", slot_run["data"], "--out", tmp_path / "bad", "--generator", "slot", *TOY, "--gen-opt", opt)
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    assert result.stderr.startswith("Error: ") and "--gen-opt" in result.stderr and fragment in result.stderr, result.stderr
    assert not (tmp_path / "bad").exists()


def test_reconstruct_interpolate_tsne_on_a_slot_checkpoint(slot_run, tmp_path):
    res = ok_json(run("reconstruct", slot_run["run"], "--data", slot_run["data"], "--samples", 0, "--json"))
    (ckpt,) = res["checkpoints"]
    assert ckpt["generator"] == "slot" and ckpt["label"] == "Slot Attention run" and set(ckpt["rates"]) == {"1", "2", "3"} and 0.0 <= ckpt["mse"] <= 1.0
    assert -1.0 <= ckpt["ari"] <= 1.0
    res = ok_json(run("interpolate", slot_run["run"], "--frames", 4, "--no-figure", "--json"))
    assert len(res["checkpoints"][0]["sharing"]) == 4
    res = ok_json(run("interpolate", slot_run["run"], "--mode", "latent", "--steps", 3, "--no-figure", "--json"))
    assert res["checkpoints"][0]["frames"] == 3
    emb = tmp_path / "emb.h5"
    res = ok_json(run("tsne", slot_run["run"], "--grid", 3, "--no-figure", "--embeddings", emb, "--json"))
    with h5py.File(emb) as f:
        n = res["points"]
        assert n > 0 and f["sets"].shape == (n, 4, 3) and f["embedding"].shape == (n, 0)  # no z: like SSLR-MLP
