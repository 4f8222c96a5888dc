"""--cuda-graphs (engine/cuda_graphs.py): what it refuses, on a CPU where capture does not apply.

The capture itself needs a GPU; these tests check the refusals (one line, exit code 2, the option named)
and the optimizer plumbing that also runs on a CPU.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from conftest import losses, one_line_error, run, tiny_run
from sslr_cli.engine.cuda_graphs import GraphedTrainStep, check_cuda_graphs, make_capturable
from sslr_cli.engine.state import TrainState
from sslr_cli.errors import SSLRError
from sslr_cli.models import SetAutoencoder

CUDA = torch.device("cuda")  # a device object only: nothing here touches a GPU


def with_train(cfg, **kw):
    return replace(cfg, train=replace(cfg.train, **kw))


def test_train_refuses_cuda_graphs_on_cpu_in_one_line(circles_file, tmp_path):
    out = tmp_path / "run"
    one_line_error(run("train", circles_file, "--preset", "tiny", "--cuda-graphs", "--device", "cpu", "--out", out),
                   "--cuda-graphs", "CUDA", "cpu")
    assert not out.exists()  # refused before the run directory is made


def test_train_names_the_option_cuda_graphs_cannot_go_with(circles_file, tmp_path):
    one_line_error(run("train", circles_file, "--preset", "tiny", "--cuda-graphs", "--compile", "--out", tmp_path / "a"),
                   "--cuda-graphs", "--compile")
    one_line_error(run("train", circles_file, "--preset", "tiny", "--cuda-graphs", "--precision", "fp16",
                       "--out", tmp_path / "b"), "--cuda-graphs", "--precision fp16")
    one_line_error(run("train", circles_file, "--task", "match", "--cuda-graphs", "--out", tmp_path / "c"),
                   "--cuda-graphs", "--task match")


@pytest.mark.parametrize("change, world_size, images, fragment", [
    (dict(task="match"), 1, None, "--task match"),
    (dict(compile=True), 1, None, "--compile"),
    (dict(precision="fp16"), 1, None, "--precision fp16"),
    ({}, 2, None, "DDP"),
    ({}, 1, 7, "--batch-size 8"),
])
def test_check_cuda_graphs_names_what_it_cannot_capture(change, world_size, images, fragment):
    cfg = with_train(tiny_run(), **change)
    with pytest.raises(SSLRError, match="--cuda-graphs") as err:
        check_cuda_graphs(cfg, CUDA, world_size, images)
    assert fragment in str(err.value) and "\n" not in str(err.value)


def test_check_cuda_graphs_passes_what_it_can_capture():
    for precision in ("fp32", "bf16"):
        check_cuda_graphs(with_train(tiny_run(), precision=precision), CUDA, 1, 8)  # full batches: 8 images, batch 8
    with pytest.raises(SSLRError, match="CUDA"):
        check_cuda_graphs(tiny_run(), torch.device("cpu"), 1, 8)
    with pytest.raises(SSLRError, match="--cuda-graphs"):
        GraphedTrainStep(None, tiny_run(), None, torch.device("cpu"))


def test_capturable_optimizer_takes_a_device_lr_and_a_checkpoint_loads_back_without_it():
    cfg = tiny_run()
    state = TrainState.create(SetAutoencoder(cfg.model), cfg)
    model = state.model
    model(torch.rand(2, 3, 64, 64))[1].image.sum().backward()
    state.optimizer.step()  # Adam's state (with its step counters) exists, as in a resumed run
    lr = make_capturable(state.optimizer, torch.device("cpu"))
    assert all(g["capturable"] and g["lr"] is lr for g in state.optimizer.param_groups)
    lr.fill_(0.5)
    assert float(state.optimizer.param_groups[0]["lr"]) == 0.5  # filling the tensor is how the schedule reaches a replay
    saved = state.state_dict()
    fresh = TrainState.create(SetAutoencoder(cfg.model), cfg)
    fresh.load_state_dict(saved)
    assert all(g["capturable"] is False and isinstance(g["lr"], float) for g in fresh.optimizer.param_groups)
    fresh.model(torch.rand(2, 3, 64, 64))[1].image.sum().backward()
    fresh.optimizer.step()  # a graph run's checkpoint resumes on a CPU


# --- on a GPU: the captured step trains as the eager step does (skipped without CUDA) -------------------------

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def _train_on_cuda(circles_file, out, generator: str, **change):
    """20 steps of a tiny model on the GPU in strict fp32 (5 epochs of 4 batches; r 3, then 5 from epoch 3)."""
    from sslr_cli.engine.train import train

    settings = dict(epochs=5, max_steps=20, precision="fp32", late_epoch=3, late_inner_steps=5)
    cfg = with_train(tiny_run(generator), **{**settings, **change})
    result = train(circles_file, out, cfg, device="cuda", force=True)
    return losses(out), result


@needs_cuda
@pytest.mark.parametrize("generator", ["srn", "mlp"])
def test_graph_replay_trains_as_the_eager_step_does(circles_file, tmp_path, generator):
    """Same seed, same process (cuDNN's algorithm choices shared): the losses of 20 steps agree to float
    round-off, across the recapture when r changes at epoch 3, and so do the final models' validation losses."""
    eager, eager_result = _train_on_cuda(circles_file, tmp_path / "eager", generator)
    graphs, graphs_result = _train_on_cuda(circles_file, tmp_path / "graphs", generator, cuda_graphs=True)
    assert eager_result.steps == graphs_result.steps == 20
    assert len(eager) == len(graphs) == 20
    worst = max(abs(a - b) / max(abs(a), 1e-12) for a, b in zip(eager, graphs))
    assert worst < 1e-4, (worst, eager, graphs)
    # the final weights compute the same validation loss (eval mode, batch-norm statistics included); single
    # weights may differ more: a bias before a batch norm has a zero gradient up to rounding, and Adam turns
    # that noise into steps of about lr (on an H200 such biases differed by as much as training moved them)
    assert eager_result.last_val == pytest.approx(graphs_result.last_val, rel=1e-2)


@needs_cuda
def test_compiled_parts_train_as_the_eager_model_does(circles_file, tmp_path):
    eager, _ = _train_on_cuda(circles_file, tmp_path / "eager", "srn")
    compiled, result = _train_on_cuda(circles_file, tmp_path / "compiled", "srn", compile=True)
    assert result.steps == 20
    worst = max(abs(a - b) / max(abs(a), 1e-12) for a, b in zip(eager, compiled))
    assert worst < 1e-3, (worst, eager, compiled)


@needs_cuda
def test_graph_replay_in_bf16_trains_and_resumes_eagerly(circles_file, tmp_path):
    """bf16 graphs: finite losses; the run's last.pt (capturable optimizer state) resumes without graphs."""
    from sslr_cli.engine.train import train

    graphs, _ = _train_on_cuda(circles_file, tmp_path / "run", "srn", cuda_graphs=True, precision="bf16")
    assert all(torch.isfinite(torch.tensor(graphs)))
    cfg = with_train(tiny_run("srn"), epochs=6, max_steps=24, precision="bf16", late_epoch=3, late_inner_steps=5)
    result = train(circles_file, tmp_path / "run", cfg, device="cuda", resume=True,
                   resume_overrides={"train.max_steps": 24, "train.epochs": 6})
    assert result.steps == 24
