"""Shared fixtures: tiny datasets and a tiny model config, made in the test (no files shipped)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from sslr_cli.cli import app
from sslr_cli.config import ModelConfig, RunConfig, TrainConfig
from sslr_cli.data.circles import CircleSpec, generate_circles
from sslr_cli.data.store import write_scenes

torch.set_num_threads(1)  # tests run beside other work on 2 cores; tiny models gain nothing from threads
os.environ.setdefault("SSLR_THREADS", "1")  # and the commands they call in-process too, on a machine of any size


def tiny_model(**kw) -> ModelConfig:
    base = dict(encoder_width=4, decoder_width=4, agg_hidden=16, embed_dim=8, set_size=4, element_dim=3, inner_steps=3)
    base.update(kw)
    return ModelConfig(**base)


def tiny_run(generator: str = "srn", model: dict | None = None, **train) -> RunConfig:
    t = dict(batch_size=8, epochs=1, lr=1e-3, late_epoch=-1, val_fraction=0.25, log_every=1)
    t.update(train)
    return RunConfig("test", tiny_model(generator=generator, **(model or {})), TrainConfig(**t))


@pytest.fixture
def circles_file(tmp_path):
    path = tmp_path / "circles.h5"
    write_scenes(path, generate_circles(48, CircleSpec(max_count=3), seed=5))
    return path


# --- helpers shared by the test files (imported with `from conftest import ...`) -------------------

runner = CliRunner()


def run(*args):
    """``sslr ARGS...`` in-process; stdout and stderr stay apart (``result.stdout``, ``result.stderr``)."""
    return runner.invoke(app, [str(a) for a in args])


def one_line_error(result, *fragments):
    """The error promise of docs/usage.md: exit code 2, one line ``Error: ...`` on stderr naming the problem,
    nothing on stdout, no traceback."""
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output, result.output
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    assert result.stdout.strip() == "", result.stdout
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def metrics(run_dir, kind: str | None = None) -> list[dict]:
    lines = [json.loads(line) for line in (Path(run_dir) / "metrics.jsonl").read_text().splitlines()]
    return [r for r in lines if kind is None or r["kind"] == kind]


def losses(run_dir) -> list[float]:
    """The logged step losses of a run; never empty (two empty lists would compare equal)."""
    values = [r["loss"] for r in metrics(run_dir, "step")]
    assert values, f"{run_dir}: no step losses logged"
    return values


def disc(x, y, r, size: int = 64) -> np.ndarray:
    """The disc of docs/usage.md: the pixels with (x-cx)^2 + (y-cy)^2 <= r^2, as a boolean (size, size) array."""
    yy, xx = np.mgrid[0:size, 0:size]
    return (xx - x) ** 2 + (yy - y) ** 2 <= r * r
