"""A run's config, checked as a whole: the ranges of every field (the dataclasses' own ``validate``), then
the generator (known, serving the run's task, its options valid), which only the model registry knows.

The config module knows no model, so it cannot check the generator itself: whoever builds a run's
config calls ``check_run_config``."""

from __future__ import annotations

from sslr_cli.config import RunConfig
from sslr_cli.models.registry import check_generator


def check_run_config(cfg: RunConfig) -> RunConfig:
    """``cfg`` after checking every field and its generator (raises SSLRError)."""
    cfg.validate()
    check_generator(cfg.model, cfg.train.task)
    return cfg
