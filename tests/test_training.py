"""The training engine: overfitting, checkpoints, exact resume, time budget, divergence."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from conftest import losses, metrics, tiny_run
from sslr_cli.data.circles import CircleSpec, generate_circles
from sslr_cli.data.store import write_scenes
from sslr_cli.engine.checkpoint import load_model, read_checkpoint
from sslr_cli.engine.tasks import get_task
from sslr_cli.engine.train import TrainHook, TrainingDiverged, train
from sslr_cli.errors import SSLRError


@pytest.mark.parametrize("generator, bound", [("mlp", 0.35), ("srn", 0.6)])
def test_tiny_model_overfits_eight_images(tmp_path, generator, bound):
    scenes = generate_circles(8, CircleSpec(min_count=1, max_count=2), seed=0)
    data = write_scenes(tmp_path / "d.h5", scenes)
    cfg = tiny_run(generator, model=dict(encoder_width=8, decoder_width=16), batch_size=8, epochs=200, lr=1e-2,
                   val_fraction=0.0, log_every=10)
    result = train(data, tmp_path / "run", cfg, device="cpu")
    last = losses(tmp_path / "run")[-1]
    assert result.steps == 200
    # The best guess that ignores the input is the mean image; overfitting must beat it by far
    # (measured: MLP 0.22x, SRN 0.45x of it after 200 steps; an all-black guess is 1.16x).
    x = scenes["images"] / 255.0
    constant = ((x - x.mean(0)) ** 2).sum() / 8
    assert last < bound * constant, (last, constant)


def test_run_directory_and_checkpoint_round_trip(tmp_path, circles_file):
    cfg = tiny_run("srn", epochs=3, lr=0.3)  # a rate at which validation rises in the last epoch (480, 335, 366)
    result = train(circles_file, tmp_path / "run", cfg, device="cpu")
    run = tmp_path / "run"
    assert {p.name for p in run.iterdir()} == {"config.json", "metrics.jsonl", "last.pt", "best.pt"}
    assert json.loads((run / "config.json").read_text())["model"]["generator"] == "srn"
    epochs = metrics(run, "epoch")
    assert result.epochs_done == 3 and len(epochs) == 3
    best_epoch = min(epochs, key=lambda r: r["val_loss"])
    assert best_epoch is not epochs[-1], [r["val_loss"] for r in epochs]  # else best.pt = last.pt proves nothing
    assert result.best_val == best_epoch["val_loss"] and result.last_val == epochs[-1]["val_loss"]
    model, loaded_cfg, state = load_model(run / "last.pt")
    assert loaded_cfg == cfg
    raw = read_checkpoint(run / "last.pt")["model"]
    for k, v in model.state_dict().items():
        assert torch.equal(v, raw[k])
    # a run directory resolves to its best.pt: the weights of the epoch with the lowest validation loss
    best_model, _, best_state = load_model(run)
    assert best_state["step"] == best_epoch["step"] < state["step"] == epochs[-1]["step"]
    assert torch.equal(best_model.state_dict()["decoder.proj.weight"], read_checkpoint(run / "best.pt")["model"]["decoder.proj.weight"])


def test_resume_equals_uninterrupted_run(tmp_path, circles_file):
    cfg = tiny_run("srn", epochs=3)
    train(circles_file, tmp_path / "full", cfg, device="cpu")
    train(circles_file, tmp_path / "part", replace(cfg, train=replace(cfg.train, epochs=1)), device="cpu")
    train(circles_file, tmp_path / "part", cfg, resume=True, resume_overrides={"epochs": 3}, device="cpu")
    assert losses(tmp_path / "full") == losses(tmp_path / "part")
    a = read_checkpoint(tmp_path / "full" / "last.pt")["model"]
    b = read_checkpoint(tmp_path / "part" / "last.pt")["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_resume_mid_epoch_after_time_budget(tmp_path, circles_file):
    cfg = tiny_run("mlp", epochs=2)
    train(circles_file, tmp_path / "full", cfg, device="cpu")
    stopped = train(circles_file, tmp_path / "part", replace(cfg, train=replace(cfg.train, max_minutes=1e-9)), device="cpu")
    assert stopped.stopped == "time budget" and stopped.steps == 1
    train(circles_file, tmp_path / "part", cfg, resume=True, resume_overrides={"max_minutes": 0}, device="cpu")
    assert losses(tmp_path / "full") == losses(tmp_path / "part")


def test_step_budget_counts_the_whole_run_and_resumes_exactly(tmp_path, circles_file):
    cfg = tiny_run("mlp", epochs=2, log_every=1)
    full = train(circles_file, tmp_path / "full", cfg, device="cpu")
    assert full.steps > 3  # the budget below must stop mid-run
    part = train(circles_file, tmp_path / "part", replace(cfg, train=replace(cfg.train, max_steps=3)), device="cpu")
    assert part.stopped == "step budget" and part.steps == 3
    again = train(circles_file, tmp_path / "part", cfg, resume=True, resume_overrides={"max_steps": 3}, device="cpu")
    assert again.steps == 3 and again.stopped == "step budget"  # already there: the budget is of the run, not of the call
    train(circles_file, tmp_path / "part", cfg, resume=True, resume_overrides={"max_steps": 0}, device="cpu")
    assert losses(tmp_path / "full") == losses(tmp_path / "part")


def test_same_seed_same_run(tmp_path, circles_file):
    cfg = tiny_run("srn")
    train(circles_file, tmp_path / "a", cfg, device="cpu")
    train(circles_file, tmp_path / "b", cfg, device="cpu")
    assert losses(tmp_path / "a") == losses(tmp_path / "b")


def test_non_finite_loss_stops_and_keeps_last_good_checkpoint(tmp_path, circles_file, monkeypatch):
    cfg = tiny_run("mlp", epochs=3)
    run = tmp_path / "run"
    train(circles_file, run, replace(cfg, train=replace(cfg.train, epochs=1)), device="cpu")
    good_bytes, good_step = (run / "last.pt").read_bytes(), read_checkpoint(run / "last.pt")["step"]
    # the resumed run's second step gives NaN (resume keeps the stored lr, so the loss itself turns NaN)
    task = type(get_task("reconstruct"))
    real, calls = task.loss, []

    def loss(self, model, *args):
        calls.append(model.training)
        value = real(self, model, *args)
        return value * float("nan") if len(calls) == 2 else value

    monkeypatch.setattr(task, "loss", loss)
    with pytest.raises(TrainingDiverged, match="non-finite loss") as info:
        train(circles_file, run, cfg, resume=True, resume_overrides={"epochs": 3}, device="cpu")
    named = re.search(r"last good checkpoint is (\S+)", str(info.value)).group(1)
    assert Path(named) == run / "last.pt" and Path(named).exists()
    assert (run / "last.pt").read_bytes() == good_bytes  # not overwritten by the diverged run
    assert calls == [True, True] and metrics(run, "step")[-1]["step"] == good_step + 1  # the good step was logged, the NaN not


def test_refuses_non_empty_run_dir_and_bad_resume(tmp_path, circles_file):
    cfg = tiny_run("mlp")
    train(circles_file, tmp_path / "run", cfg, device="cpu")
    with pytest.raises(SSLRError, match="not empty"):
        train(circles_file, tmp_path / "run", cfg, device="cpu")
    with pytest.raises(SSLRError, match="no last.pt"):
        train(circles_file, tmp_path / "empty", cfg, resume=True, device="cpu")
    train(circles_file, tmp_path / "run", cfg, force=True, device="cpu")


def test_untrusted_checkpoint_is_refused(tmp_path):

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    bad = tmp_path / "evil.pt"
    torch.save({"format": "sslr-checkpoint", "x": Evil()}, bad)
    with pytest.raises(SSLRError, match="not a loadable sslr checkpoint"):
        read_checkpoint(bad)
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(SSLRError, match="junk.pt"):
        load_model(junk)


def test_lr_schedule_values():
    from sslr_cli.config import TrainConfig

    t = TrainConfig(lr=1.0, lr_schedule="cosine", warmup_steps=4, min_lr_ratio=0.1)
    assert [t.lr_at(s, 14) for s in range(4)] == [0.25, 0.5, 0.75, 1.0]
    assert t.lr_at(4, 14) == 1.0
    assert t.lr_at(9, 14) == pytest.approx(0.1 + 0.9 * 0.5)  # halfway through the decay
    assert t.lr_at(14, 14) == pytest.approx(0.1) and t.lr_at(100, 14) == pytest.approx(0.1)
    assert TrainConfig(lr=0.3).lr_at(7, 10) == 0.3
    with pytest.raises(SSLRError, match="--lr-schedule"):
        TrainConfig(lr_schedule="step").validate()


def test_cosine_schedule_is_applied_and_resumes_exactly(tmp_path, circles_file):
    cfg = tiny_run("mlp", epochs=2, log_every=1, lr_schedule="cosine", schedule_steps=8, warmup_steps=2)
    full = train(circles_file, tmp_path / "full", cfg, device="cpu")
    lrs = [r["lr"] for r in full.history if r["kind"] == "step"]
    assert lrs == [pytest.approx(cfg.train.lr_at(s, 8)) for s in range(len(lrs))] and lrs[0] < lrs[1] > lrs[-1]
    train(circles_file, tmp_path / "part", replace(cfg, train=replace(cfg.train, max_steps=3)), device="cpu")
    train(circles_file, tmp_path / "part", cfg, resume=True, resume_overrides={"max_steps": 0}, device="cpu")
    assert losses(tmp_path / "full") == losses(tmp_path / "part")


class StopAt(TrainHook):
    """Records what the loop shows a hook, saves last.pt at every step and stops the run at step ``at``."""

    def __init__(self, at: int) -> None:
        self.at, self.steps, self.epochs, self.saved = at, [], [], []

    def after_step(self, loop, record) -> None:
        self.steps.append((record["step"], record["batch"], loop.state.step))
        loop.save_last()
        self.saved.append(read_checkpoint(loop.run_dir.path / "last.pt")["step"])
        if record["step"] == self.at:
            loop.stop("hook")

    def after_epoch(self, loop, record) -> None:
        self.epochs.append((record["epoch"], record["complete"]))


def test_hook_sees_every_step_saves_and_stops_resumably(tmp_path, circles_file):
    cfg = tiny_run("mlp", epochs=2, log_every=1)
    full = train(circles_file, tmp_path / "full", cfg, device="cpu")
    hook = StopAt(at=5)
    part = train(circles_file, tmp_path / "part", cfg, device="cpu", hooks=[hook])
    assert part.stopped == "hook" and part.steps == 5 and full.steps > 5
    assert [s for s, _, _ in hook.steps] == [1, 2, 3, 4, 5] and all(s == t for s, _, t in hook.steps)
    assert hook.saved == [1, 2, 3, 4, 5]  # last.pt written by the hook at each step
    assert hook.epochs[-1] == (1, False)  # the stopped epoch is logged incomplete
    train(circles_file, tmp_path / "part", cfg, resume=True, device="cpu")
    assert losses(tmp_path / "full") == losses(tmp_path / "part")



def test_cpu_training_flushes_subnormal_floats_and_restores_the_default(circles_file, tmp_path):
    # subnormal arithmetic takes a slow path on x86 (an r + init matching step: 0.63 s -> 0.11 s)
    if not torch.set_flush_denormal(True):
        pytest.skip("this CPU cannot flush subnormal floats")
    torch.set_flush_denormal(False)
    tiny = torch.tensor([1e-40])
    assert float(tiny * 1.0) != 0.0  # the default: kept
    seen = []

    class Probe(TrainHook):
        def after_step(self, loop, record):
            seen.append(float(tiny * 1.0))

    train(circles_file, tmp_path / "run", tiny_run(epochs=1), device="cpu", hooks=[Probe()])
    assert seen and all(v == 0.0 for v in seen)  # flushed while training
    assert float(tiny * 1.0) != 0.0  # and back to the default afterwards
