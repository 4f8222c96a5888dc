"""Training that survives kills: SIGKILL at random moments, SIGTERM / SIGINT, checkpoints on a clock, metrics.jsonl."""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace

import pytest
import torch

from conftest import tiny_run
from sslr_cli.data.circles import CircleSpec, generate_circles
from sslr_cli.data.store import write_scenes
from sslr_cli.engine.checkpoint import read_checkpoint
from sslr_cli.engine.preemption import CheckpointClock
from sslr_cli.engine.run_dir import trim_metrics
from sslr_cli.engine.train import train

TIMING = ("elapsed_s", "epoch_s")  # wall-clock fields differ between any two runs


def records(run_dir):
    """metrics.jsonl without its timing fields; json.loads fails on a half-written line."""
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(line).items() if k not in TIMING} for line in lines]


def same_weights(a, b) -> bool:
    a, b = read_checkpoint(a)["model"], read_checkpoint(b)["model"]
    return set(a) == set(b) and all(torch.equal(a[k], b[k]) for k in a)


def _train_until_killed(data, run, cfg, resume, kill_step, delay):
    """Child process: train, and SIGKILL this process ``delay`` seconds after step ``kill_step`` began
    its bookkeeping, wherever it then is (mid-step, mid-checkpoint, mid-log line)."""
    def on_progress(p):
        if p["step"] == kill_step:
            threading.Timer(delay, os.kill, (os.getpid(), signal.SIGKILL)).start()

    train(data, run, cfg, resume=resume, device="cpu", on_progress=on_progress)
    time.sleep(60)  # finished first (a slow timer): the kill still comes


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """A dataset and an uninterrupted 16-step SSLR-SRN run on it (shared by the kill tests)."""
    root = tmp_path_factory.mktemp("reference")
    data = write_scenes(root / "circles.h5", generate_circles(48, CircleSpec(max_count=3), seed=5))
    cfg = tiny_run("srn", epochs=4, checkpoint_minutes=0)
    return data, root / "ref", train(data, root / "ref", cfg, device="cpu"), cfg


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sigkill_at_random_moments_then_resume_equals_uninterrupted_run(tmp_path, reference, seed):
    circles_file, ref_dir, ref, cfg = reference
    rng = random.Random(seed)
    cfg = replace(cfg, train=replace(cfg.train, checkpoint_steps=[1, 3, 2][seed]))  # no effect on the training
    per_step = ref.minutes * 60 / ref.steps
    run = tmp_path / "run"
    fork = multiprocessing.get_context("fork")
    done = 0  # the step of the newest checkpoint
    for resume in (False, True):
        kill_step = rng.randint(done + cfg.train.checkpoint_steps + 1, ref.steps - 3)
        child = fork.Process(target=_train_until_killed,
                             args=(circles_file, run, cfg, resume, kill_step, rng.uniform(0, 2 * per_step)))
        child.start()
        child.join(60)
        assert child.exitcode == -signal.SIGKILL
        done = read_checkpoint(run / "last.pt")["step"]  # never half-written: it loads
        assert done >= kill_step - cfg.train.checkpoint_steps
    train(circles_file, run, cfg, resume=True, device="cpu")
    assert records(run) == records(ref_dir)  # no line twice, none missing, none cut
    assert same_weights(run / "last.pt", ref_dir / "last.pt")
    assert same_weights(run / "best.pt", ref_dir / "best.pt")
    assert {p.name for p in run.iterdir()} == {"config.json", "metrics.jsonl", "last.pt", "best.pt"}


@pytest.mark.parametrize("signum, reason", [(signal.SIGTERM, "terminated"), (signal.SIGINT, "interrupted")])
def test_signal_saves_last_checkpoint_at_a_step_boundary(tmp_path, circles_file, signum, reason):
    cfg = tiny_run("mlp", epochs=2, checkpoint_minutes=0)
    ref = train(circles_file, tmp_path / "ref", cfg, device="cpu")

    def on_progress(p):
        if p["step"] == 3:
            os.kill(os.getpid(), signum)

    before = signal.getsignal(signum)  # SIG_IGN where the runner ignores SIGINT (xdist workers, background jobs)
    stopped = train(circles_file, tmp_path / "run", cfg, device="cpu", on_progress=on_progress)
    assert (stopped.stopped, stopped.steps) == (reason, 3)
    assert read_checkpoint(tmp_path / "run" / "last.pt")["step"] == 3
    assert signal.getsignal(signum) == before  # the handler in place before training is given back
    train(circles_file, tmp_path / "run", cfg, resume=True, device="cpu")
    step_records = [r for r in records(tmp_path / "run") if r["kind"] == "step"]
    assert step_records == [r for r in records(tmp_path / "ref") if r["kind"] == "step"]
    assert ref.steps == 8


def test_sigterm_cli_exits_143_with_one_line(tmp_path, circles_file):
    run = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.getcwd()}
    cmd = [sys.executable, "-m", "sslr_cli", "train", str(circles_file), "--preset", "tiny", "--out", str(run),
           "--batch-size", "8", "--epochs", "1000", "--val-fraction", "0", "--device", "cpu", "--quiet",
           "--encoder-width", "4", "--decoder-width", "4", "--set-size", "4", "--element-dim", "3",
           "--inner-steps", "1", "--precision", "fp32"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 90
        while not (run / "metrics.jsonl").exists() or not (run / "metrics.jsonl").read_text().count("\n") >= 3:
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read() if proc.poll() else "slow"
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 143, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sslr train: stopped by SIGTERM after step"), err
    state = read_checkpoint(run / "last.pt")
    assert f"after step {state['step']};" in lines[0]
    logged = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert logged[-1]["step"] == state["step"] and state["metrics_lines"] == len(logged)


def test_checkpoint_clock_by_steps_and_minutes(monkeypatch):
    clock = CheckpointClock(minutes=0, steps=5)
    assert [s for s in range(1, 16) if clock.due(s)] == [5, 10, 15]
    now = [100.0]
    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    clock = CheckpointClock(minutes=2, steps=0)
    assert not clock.due(1)
    now[0] += 119
    assert not clock.due(2)
    now[0] += 1
    assert clock.due(3)
    clock.reset()
    assert not clock.due(4)
    assert not CheckpointClock(0, 0).due(10**6)


def test_mid_epoch_checkpoints_follow_the_clock(tmp_path, circles_file, monkeypatch):
    import sslr_cli.engine.run_dir as engine

    cfg = tiny_run("mlp", epochs=1, checkpoint_steps=2, checkpoint_minutes=0)
    seen, real = [], engine.save_checkpoint

    def spy(path, payload):
        seen.append((path.name, payload["step"], payload["batch"]))
        real(path, payload)

    monkeypatch.setattr(engine, "save_checkpoint", spy)
    train(circles_file, tmp_path / "run", cfg, device="cpu")
    # 4 batches per epoch: step 2 mid-epoch; step 4 ends the epoch (epoch-end checkpoint, batch 0 of epoch 1)
    assert [s for s in seen if s[0] == "last.pt"] == [("last.pt", 2, 2), ("last.pt", 4, 0)]


def test_trim_metrics_drops_replayed_and_half_written_lines(tmp_path):
    path = tmp_path / "metrics.jsonl"
    lines = [json.dumps({"kind": "step", "step": s}) for s in (1, 2, 3)] + [json.dumps({"kind": "epoch", "step": 3})]
    path.write_text("\n".join(lines) + "\n" + '{"kind": "step", "st')
    assert trim_metrics(path, keep_lines=3, step=3) == 2
    assert path.read_text() == "\n".join(lines[:3]) + "\n"
    # a checkpoint from before the line count was stored: cut by step, and at the first broken line
    path.write_text("\n".join(lines) + "\n" + json.dumps({"kind": "step", "step": 4}) + "\n" + "{half")
    assert trim_metrics(path, keep_lines=None, step=3) == 2
    assert path.read_text() == "\n".join(lines) + "\n"
    assert trim_metrics(path, keep_lines=None, step=3) == 0


def test_resume_overrides_checkpoint_cadence(tmp_path, circles_file):
    cfg = tiny_run("mlp", epochs=2, max_steps=2)
    train(circles_file, tmp_path / "run", cfg, device="cpu")
    train(circles_file, tmp_path / "run", cfg, resume=True, device="cpu",
          resume_overrides={"max_steps": 0, "checkpoint_steps": 3, "checkpoint_minutes": 0})
    saved = json.loads((tmp_path / "run" / "config.json").read_text())["train"]
    assert (saved["checkpoint_steps"], saved["checkpoint_minutes"]) == (3, 0)
    assert replace(cfg.train).checkpoint_minutes == 10.0  # the default
