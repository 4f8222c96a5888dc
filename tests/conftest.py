"""Shared fixtures: tiny datasets and a tiny model config, made in the test (no files shipped)."""

from __future__ import annotations

import pytest
import torch

from sslr_cli.config import ModelConfig, RunConfig, TrainConfig
from sslr_cli.data.circles import CircleSpec, generate_circles
from sslr_cli.data.store import write_scenes

torch.set_num_threads(1)  # tests run beside other work on 2 cores; tiny models gain nothing from threads


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
