"""JSON for results: NaN and inf become null (JSON has no such numbers), numpy/torch scalars plain numbers."""

from __future__ import annotations

import math
from typing import Any


def json_safe(value: Any) -> Any:
    """``value`` with every non-finite float replaced by None, keys made strings and scalars unwrapped."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # numpy / torch scalars
        return json_safe(value.item())
    return value


def _nonfinite_paths(value: Any, prefix: str = "") -> dict[str, str]:
    if isinstance(value, float) and not math.isfinite(value):
        return {prefix: str(value)}
    if hasattr(value, "item") and callable(value.item) and not isinstance(value, (dict, list, tuple)):
        return _nonfinite_paths(value.item(), prefix)
    found: dict[str, str] = {}
    if isinstance(value, dict):
        for k, v in value.items():
            found.update(_nonfinite_paths(v, f"{prefix}.{k}" if prefix else str(k)))
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            found.update(_nonfinite_paths(v, f"{prefix}[{i}]"))
    return found


def strict_record(record: dict) -> dict:
    """A metrics record as strict JSON: non-finite values become null, and ``"nonfinite"`` says which
    fields they were and what (``{"loss": "nan"}``), so a diverged run is visible in its log."""
    bad = _nonfinite_paths(record)
    safe = json_safe(record)
    if bad:
        safe["nonfinite"] = bad
    return safe
