"""``Experiment``: one table or figure of the paper in `sslr reproduce`, as an entry of
``reproduce/experiments/__init__.py`` ``EXPERIMENTS`` (its key is its part of results.json).

It declares its stages (what runs), its part of results.json (read from the files its stages wrote), the
verdicts on the paper's claims it measures, and its section of the report. ``build_plan`` and the report
loop over the registry and know nothing of any one table.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from sslr_cli.reproduce.blocks import Block, finished_json
from sslr_cli.reproduce.context import PlanContext
from sslr_cli.reproduce.stage import Stage


def no_verdicts(part: dict) -> list[dict]:
    return []


def collect_stage(stage: str, summarize: Callable[[dict], dict]) -> Callable[[Path, set[str]], dict | None]:
    """The ``collect`` of an experiment whose part of results.json summarizes one stage's --json output: None
    until that stage is done and its file reads."""
    def collect(results_dir: Path, done: set[str]) -> dict | None:
        data = finished_json(results_dir, done, stage)
        return summarize(data) if data else None

    return collect


@dataclass(frozen=True)
class Experiment:
    group: str  # what `--only` selects it by (several experiments may share one: the learning curves are table1's)
    # its stages in plan order (their group is this one); it may read and add ``ctx.runs``
    stages: Callable[[PlanContext], list[Stage]]
    # (OUT/results, names of the finished stages) -> its part of results.json, or None when there is none yet
    collect: Callable[[Path, set[str]], dict | None]
    # its part of results.json (None when not measured) -> its section of the report
    blocks: Callable[[dict | None], list[Block]]
    # its part -> {"claim", "verdict", "detail"} per claim of the paper it measures
    verdicts: Callable[[dict], list[dict]] = no_verdicts
