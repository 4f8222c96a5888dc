"""JSON for results: NaN and inf become null (JSON has no such numbers), numpy/torch scalars plain numbers."""

from __future__ import annotations

import math
from typing import Any


def json_safe(value: Any, nonfinite: dict[str, str] | None = None, path: str = "") -> Any:
    """``value`` with every non-finite float replaced by None, keys made strings and scalars unwrapped.
    ``nonfinite``: a dict that also receives each replaced value's path and what it was (``{"rates.1": "inf"}``)."""
    if isinstance(value, float) and not math.isfinite(value):
        if nonfinite is not None:
            nonfinite[path] = str(value)
        return None
    if isinstance(value, dict):
        return {str(k): json_safe(v, nonfinite, f"{path}.{k}" if path else str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v, nonfinite, f"{path}[{i}]") for i, v in enumerate(value)]
    if hasattr(value, "item") and callable(value.item):  # numpy / torch scalars
        return json_safe(value.item(), nonfinite, path)
    return value


def strict_record(record: dict) -> dict:
    """A metrics record as strict JSON: non-finite values become null, and ``"nonfinite"`` says which
    fields they were and what (``{"loss": "nan"}``), so a diverged run is visible in its log."""
    bad: dict[str, str] = {}
    safe = json_safe(record, bad)
    if bad:
        safe["nonfinite"] = bad
    return safe
