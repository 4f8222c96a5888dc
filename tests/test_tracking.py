"""`sslr train --log tensorboard` and `sslr export tensorboard RUN...`: events read back with TensorBoard's own
reader (EventAccumulator) and compared with metrics.jsonl, line by line."""

from __future__ import annotations

import importlib.util
import json
import math

import numpy as np
import pytest
import torch
from conftest import metrics, one_line_error, run, tiny_run

from sslr_cli.data.circles import CircleSpec, generate_circles
from sslr_cli.data.store import write_scenes
from sslr_cli.experiments.curves import TrainingEvaluator
from sslr_cli.experiments.tracking import tracking_hooks
from sslr_cli.engine.train import train

pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402

TINY = ["--encoder-width", "4", "--decoder-width", "4", "--set-size", "4", "--element-dim", "3", "--inner-steps", "2",
        "--batch-size", "8", "--device", "cpu", "-q"]


def read_events(folder) -> EventAccumulator:
    acc = EventAccumulator(str(folder), size_guidance={"scalars": 0, "images": 0, "tensors": 0})
    acc.Reload()
    return acc


def series(acc: EventAccumulator, tag: str) -> list[tuple[int, float]]:
    return [(e.step, e.value) for e in acc.Scalars(tag)]


def f32(x: float) -> float:
    return float(np.float32(x))  # event files hold float32


@pytest.fixture(scope="module")
def live_run(tmp_path_factory):
    """A toy SRN run (2 epochs of 3 steps, a line per step, Table 1 every 2 steps) logging to TensorBoard live."""
    root = tmp_path_factory.mktemp("tracking")
    data = root / "c.h5"
    write_scenes(data, generate_circles(32, CircleSpec(max_count=3), seed=5))
    torch.manual_seed(0)
    cfg = tiny_run("srn", model=dict(inner_steps=2), epochs=2, val_fraction=0.25, eval_every=2, eval_images=2)
    hooks = tracking_hooks(["tensorboard"])
    train(data, root / "run", cfg, device="cpu", hooks=[TrainingEvaluator(), *hooks])
    for h in hooks:
        h.close()
    return data, root / "run"


def test_every_metrics_line_reads_back_from_the_event_files(live_run):
    _, run_dir = live_run
    acc = read_events(run_dir / "tensorboard")
    steps, epochs, evals = metrics(run_dir, "step"), metrics(run_dir, "epoch"), metrics(run_dir, "eval")
    assert len(steps) == 6 and len(epochs) == 2 and len(evals) == 3  # steps 2, 4, 6 (6 is also the end)
    for key in ("loss", "lr", "r", "elapsed_s"):
        assert series(acc, f"train/{key}") == [(r["step"], f32(r[key])) for r in steps], key
    step_s = [(b["step"], f32((b["elapsed_s"] - a["elapsed_s"]) / (b["step"] - a["step"]))) for a, b in zip(steps, steps[1:])]
    assert series(acc, "train/step_s") == step_s
    for key in ("train_loss", "val_loss", "epoch_s"):
        assert series(acc, f"epoch/{key}") == [(r["step"], f32(r[key])) for r in epochs], key
    for threshold, field in (("0.1", "rates"), ("0.5", "rates_0.5")):  # the learning-curve Table 1
        for k in ("1", "2", "3", "4", "5"):
            assert series(acc, f"table1_t{threshold}/{k}_objects") == [(r["step"], f32(r[field][k])) for r in evals]
    for key in ("mse", "ari", "fg_ari"):
        want = [(r["step"], f32(r[key])) for r in evals if r[key] is not None and math.isfinite(r[key])]
        assert series(acc, f"eval/{key}") == want, key
    images = acc.Images("reconstructions")  # a figure of held-out reconstructions at each evaluation
    assert [im.step for im in images] == [r["step"] for r in evals]
    assert all(im.encoded_image_string[:8] == b"\x89PNG\r\n\x1a\n" and im.width > 100 for im in images)
    assert "config/text_summary" in acc.Tags()["tensors"]


def test_export_writes_the_same_scalars_as_the_live_run(live_run, tmp_path):
    _, run_dir = live_run
    result = run("export", "tensorboard", run_dir, "--logdir", tmp_path / "tb", "--json")
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.stdout)["runs"]
    assert row["lines"] == len(metrics(run_dir)) and row["events"] == str(tmp_path / "tb" / "run")
    live, exported = read_events(run_dir / "tensorboard"), read_events(tmp_path / "tb" / "run")
    tags = live.Tags()["scalars"]
    assert tags and sorted(exported.Tags()["scalars"]) == sorted(tags)
    for tag in tags:
        assert series(exported, tag) == series(live, tag), tag
    one_line_error(run("export", "tensorboard", run_dir, "--logdir", tmp_path / "tb"), "already holds", "--force")
    assert run("export", "tensorboard", run_dir, "--logdir", tmp_path / "tb", "--force").exit_code == 0
    assert len(list((tmp_path / "tb" / "run").glob("events.out.tfevents.*"))) == 1


def test_export_finds_the_runs_of_a_reproduce_folder(tmp_path, circles_file):
    for name in ("srn", "mlp"):
        torch.manual_seed(0)
        train(circles_file, tmp_path / "out" / "runs" / name, tiny_run(name, model=dict(inner_steps=2)), device="cpu")
    result = run("export", "tensorboard", tmp_path / "out")
    assert result.exit_code == 0, result.output
    for name in ("srn", "mlp"):
        acc = read_events(tmp_path / "out" / "runs" / name / "tensorboard")
        assert series(acc, "train/loss") == [(r["step"], f32(r["loss"])) for r in metrics(tmp_path / "out" / "runs" / name, "step")]
    result = run("export", "tensorboard", tmp_path / "out", "--logdir", tmp_path / "tb", "--json")
    assert result.exit_code == 0, result.output  # runs found in a folder are named by their path below it
    assert sorted(r["events"] for r in json.loads(result.stdout)["runs"]) == [
        str(tmp_path / "tb" / "runs" / name) for name in ("mlp", "srn")]
    one_line_error(run("export", "tensorboard", tmp_path / "nothing"), "nothing", "no such run directory")
    one_line_error(run("export", "tensorboard"), "RUN")


def test_cli_train_log_tensorboard(tmp_path, circles_file):
    out = tmp_path / "run"
    result = run("train", circles_file, "--out", out, "--log", "tensorboard", "--max-steps", 3, *TINY)
    assert result.exit_code == 0, result.output
    acc = read_events(out / "tensorboard")
    (epoch,) = metrics(out, "epoch")
    assert series(acc, "epoch/train_loss") == [(3, f32(epoch["train_loss"]))]
    one_line_error(run("train", circles_file, "--out", tmp_path / "x", "--log", "mlflow", *TINY), "--log 'mlflow'", "tensorboard")


def test_without_the_extra_one_line_says_how_to_install_it(tmp_path, circles_file, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "tensorboard" else real(name, *a))
    result = run("train", circles_file, "--out", tmp_path / "run", "--log", "tensorboard", *TINY)
    one_line_error(result, "tensorboard package is not installed", "pip install 'sslr-cli[tensorboard]'")
    assert not (tmp_path / "run").exists()  # refused before any training
    one_line_error(run("export", "tensorboard", tmp_path), "pip install 'sslr-cli[tensorboard]'")
