"""The pieces a report is made of, shared by the report and the experiments' sections: ``Block`` (a heading,
paragraph, table, figure or code block, rendered to Markdown and HTML alike), ``fmt`` (a number as shown)
and small helpers for the numbers."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

NOT_RUN = "Not run at this scale (or not finished)."


@dataclass
class Block:
    kind: str  # h1, h2, p, table, figure, code
    text: str = ""
    headers: tuple = ()
    rows: tuple = ()
    path: str = ""


def fmt(value: Any, digits: int = 1) -> str:
    """A number as the report shows it ("—" for a missing one)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, int):
        return str(value)
    return f"{value:.{digits}f}"


def load_json(path: Path) -> dict | None:
    """A results file, or None when it is missing or unreadable (its stage did not finish)."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def finished_json(results_dir: Path, done: set[str], stage: str) -> dict | None:
    """The --json output of ``stage`` (``results_dir/<stage>.json``) once the stage is done, else None."""
    return load_json(results_dir / f"{stage}.json") if stage in done else None


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample std of the values given (None and NaN left out); NaN where there are too few."""
    values = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    if not values:
        return math.nan, math.nan
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, math.nan
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


def ranges(counts: list[int]) -> str:
    """[1, 2, 3, 5] -> "1-3, 5"."""
    if not counts:
        return ""
    parts, start = [], counts[0]
    for a, b in zip(counts, counts[1:] + [None]):
        if b != a + 1:
            parts.append(str(start) if start == a else f"{start}-{a}")
            start = b
    return ", ".join(parts)
