"""The CPU thread policy of engine/threads.py: --threads, then SSLR_THREADS, then OMP_NUM_THREADS (torch's own
default), then one thread fewer than the cores."""

from __future__ import annotations

import pytest
import torch

from sslr_cli.engine.threads import configure_threads, default_threads, resolve_threads


@pytest.mark.parametrize("cores, threads", [(1, 1), (2, 1), (3, 2), (8, 7), (64, 63)])
def test_default_leaves_one_core(cores, threads):
    assert default_threads(cores) == threads


def test_order_of_the_sources():
    env = {"SSLR_THREADS": "3", "OMP_NUM_THREADS": "5"}
    assert resolve_threads(4, env, cores=16) == 4  # --threads wins
    assert resolve_threads(None, env, cores=16) == 3  # then SSLR_THREADS
    assert resolve_threads(None, {"OMP_NUM_THREADS": "5"}, cores=16) is None  # torch's default follows OMP_NUM_THREADS
    assert resolve_threads(None, {}, cores=16) == 15
    assert resolve_threads(None, {"SSLR_THREADS": " ", "OMP_NUM_THREADS": ""}, cores=2) == 1  # blank = not set


@pytest.mark.parametrize("text", ["0", "-1", "two", "1.5"])
def test_bad_environment_value(text):
    with pytest.raises(ValueError, match=f"SSLR_THREADS={text!r}: must be a whole number >= 1"):
        resolve_threads(None, {"SSLR_THREADS": text}, cores=2)


def test_bad_option_value():
    with pytest.raises(ValueError, match="--threads 0: must be >= 1"):
        resolve_threads(0, {}, cores=2)


def test_configure_sets_the_default(monkeypatch):
    monkeypatch.delenv("SSLR_THREADS", raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr("sslr_cli.engine.threads.available_cores", lambda: 3)
    before = torch.get_num_threads()
    try:
        assert configure_threads(None) == 2
        assert torch.get_num_threads() == 2
        assert configure_threads(1) == 1
    finally:
        torch.set_num_threads(before)
