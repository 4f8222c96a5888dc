"""--threads and SSLR_THREADS: one road for the CPU thread count (engine/threads.py), a bad value a one-line error
naming the option or the variable, the count a run trains with recorded in its checkpoint, and an explicit
--threads winning over the count a resumed checkpoint records (sslr reproduce passes its --threads on)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from conftest import one_line_error, run

from sslr_cli.engine.checkpoint import read_checkpoint
from sslr_cli.engine.threads import ENV, configure_threads, resolve_threads
from sslr_cli.reproduce import runner as runner_mod
from sslr_cli.reproduce.plan import build_plan, get_scale, parse_only


@pytest.fixture(autouse=True)
def torch_threads(monkeypatch):
    """Each test starts without SSLR_THREADS at 2 threads (so that a count of 1 is a change), and gives back
    the count it found."""
    monkeypatch.delenv(ENV, raising=False)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("requested, env, want", [
    (None, None, 3),  # neither: the default, one fewer than the 4 cores
    (None, "", 3),
    (3, None, 3),
    (3, "5", 3),  # the option wins over the environment
    (None, "2", 2),
    (None, " 4 ", 4),
])
def test_resolve_threads_takes_the_option_then_the_environment(requested, env, want):
    environ = {} if env is None else {ENV: env}
    assert resolve_threads(requested, environ, cores=4) == want
    # OMP_NUM_THREADS set and nothing else: torch's own count (which follows it) stays
    assert resolve_threads(requested, {**environ, "OMP_NUM_THREADS": "2"}, cores=4) == (None if want == 3 and requested is None else want)


@pytest.mark.parametrize("requested, env, words", [
    (0, None, "--threads 0: must be >= 1"),
    (-2, "3", "--threads -2: must be >= 1"),
    (None, "abc", "SSLR_THREADS='abc': must be a whole number >= 1"),
    (None, "0", "SSLR_THREADS='0'"),
    (None, "1.5", "SSLR_THREADS='1.5'"),
    (None, "-1", "SSLR_THREADS='-1'"),
])
def test_resolve_threads_refuses_a_bad_count_naming_where_it_came_from(monkeypatch, requested, env, words):
    if env is not None:
        monkeypatch.setenv(ENV, env)
    with pytest.raises(ValueError) as exc:
        resolve_threads(requested)
    assert words in str(exc.value)


def test_configure_threads_sets_torch_and_returns_the_count_in_force(monkeypatch):
    assert configure_threads(1) == 1 == torch.get_num_threads()
    assert configure_threads(None) == 1  # nothing asked: the count stays
    monkeypatch.setenv(ENV, "2")
    assert configure_threads(None) == 2 == torch.get_num_threads()


def _train(out: Path, data: Path, *extra):
    return run("train", data, "--out", out, "--preset", "tiny", "--max-steps", 1, "--batch-size", 8, "-q",
               "--encoder-width", 4, "--decoder-width", 4, *extra)


COMMANDS = [  # each command that computes, with arguments that would otherwise get it to work on its inputs
    ("train", "{data}", "--print-config"),
    ("reconstruct", "{none}", "--data", "{data}"),
    ("interpolate", "{none}", "--no-figure"),
    ("tsne", "{none}", "--no-figure"),
    ("iou", "{none}", "--data", "{data}"),
    ("match", "{none}", "--data", "{data}"),
    ("reproduce", "{out}", "--scale", "toy", "--dry-run"),
]


@pytest.mark.parametrize("argv", COMMANDS, ids=[c[0] for c in COMMANDS])
def test_a_bad_thread_count_is_a_one_line_error_in_every_command(monkeypatch, tmp_path, circles_file, argv):
    args = [a.format(data=circles_file, none=tmp_path / "none.pt", out=tmp_path / "o") for a in argv]
    one_line_error(run(*args, "--threads", 0), "--threads 0", "must be >= 1")
    monkeypatch.setenv(ENV, "abc")
    one_line_error(run(*args), "SSLR_THREADS='abc'", "whole number")
    assert torch.get_num_threads() == 2  # refused before any change


def test_a_run_records_the_threads_it_trained_with_and_resume_keeps_them_unless_told(tmp_path, circles_file):
    out = tmp_path / "run"
    assert _train(out, circles_file, "--threads", 1).exit_code == 0
    assert read_checkpoint(out / "last.pt")["threads"] == 1
    # resumed without --threads at another count: the checkpoint's count, for a bit-identical continuation
    torch.set_num_threads(2)
    result = _train(out, circles_file, "--resume", "--max-steps", 2)
    assert result.exit_code == 0, result.output
    assert read_checkpoint(out / "last.pt")["threads"] == 1 and torch.get_num_threads() == 1
    # an explicit --threads wins over the checkpoint's, and says the continuation is not bit-identical
    result = _train(out, circles_file, "--resume", "--max-steps", 3, "--threads", 2)
    assert result.exit_code == 0, result.output
    assert read_checkpoint(out / "last.pt")["threads"] == 2 and read_checkpoint(out / "last.pt")["step"] == 3
    assert "resuming with 2 threads (--threads); the checkpoint was written with 1" in result.stderr


def test_sslr_threads_sets_the_count_a_training_records(monkeypatch, tmp_path, circles_file):
    monkeypatch.setenv(ENV, "1")
    assert _train(tmp_path / "run", circles_file).exit_code == 0
    assert read_checkpoint(tmp_path / "run" / "last.pt")["threads"] == 1


def test_reproduce_passes_its_threads_on_to_every_training(monkeypatch, tmp_path):
    stages = build_plan(get_scale("toy"), tmp_path, seeds=1, only=parse_only("table1"))
    train = next(s for s in stages if s.kind == "train")
    assert "--threads" not in runner_mod.train_argv(train, fresh=True)
    assert runner_mod.train_argv(train, fresh=True, threads=3)[-2:] == ["--threads", "3"]
    given = runner_mod.Runner(stages, tmp_path / "a", {"scale": "toy"}, execute=None, jobs=2, threads=3)
    assert (given.threads, given.threads_option) == (3, 3)
    # without --threads: $SSLR_THREADS, else the cores shared out among the jobs; not on the command line, so a
    # resumed training keeps the count its checkpoint records
    monkeypatch.setenv(ENV, "1")
    assert runner_mod.Runner(stages, tmp_path / "b", {}, execute=None, jobs=2).threads == 1
    monkeypatch.delenv(ENV)
    default = runner_mod.Runner(stages, tmp_path / "c", {}, execute=None, jobs=2)
    assert default.threads_option is None and default.threads == max(1, (os.cpu_count() or 1) // 2)
