"""The paper's tables and figures in `sslr reproduce`, one module each: ``EXPERIMENTS`` in plan order.

Its key is the experiment's part of results.json; ``build_plan`` asks each for its stages in this order (an
experiment may build on the runs of one before it: ``PlanContext.runs``), the report for its numbers,
verdicts and section in the same order. A new table is one module with an ``Experiment`` and one line here.
"""

from __future__ import annotations

from sslr_cli.reproduce.experiment import Experiment
from sslr_cli.reproduce.experiments import figures, learning_curves, table1_circles, table2_clevr, table3_matching

EXPERIMENTS: dict[str, Experiment] = {
    "table1": table1_circles.EXPERIMENT,
    "curve": learning_curves.EXPERIMENT,
    "figures": figures.EXPERIMENT,
    "table3": table3_matching.EXPERIMENT,
    "table2": table2_clevr.EXPERIMENT,
}


def groups() -> tuple[str, ...]:
    """What --only selects: the experiments' groups, in plan order."""
    return tuple(dict.fromkeys(e.group for e in EXPERIMENTS.values()))
