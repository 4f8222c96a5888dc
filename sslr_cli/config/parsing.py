"""Settings from text: ``KEY=VALUE`` items and typed values for the fields of an options dataclass (the
generators' own options, the match task's settings, ``sslr train --set``)."""

from __future__ import annotations

import math
from dataclasses import fields
from typing import Any

from sslr_cli.errors import SSLRError

_TYPES = {"int": int, "float": float, "str": str, "bool": bool}  # field annotations are strings (PEP 563)


def convert_option(option: str, name: str, value: Any, type_name: str) -> Any:
    """``value`` (a CLI string or a JSON value) as the field type ``type_name``."""
    kind = _TYPES.get(type_name)
    try:
        if kind is int:
            number = float(value)
            if not number.is_integer() or abs(number) > 2**53:  # 1e30 is no setting anyone means
                raise ValueError
            return int(number)
        if kind is float and not math.isfinite(float(value)):
            raise ValueError
        if kind is bool:
            if isinstance(value, bool):
                return value
            if str(value).lower() in ("1", "true", "yes", "on"):
                return True
            if str(value).lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError
        return kind(value) if kind is not None else value
    except (TypeError, ValueError):
        raise SSLRError(f"{option} {name}={value!r}: expected {type_name}") from None


def options_from_dict(cls: type, values: dict[str, Any], option: str, what: str) -> Any:
    """An instance of the options dataclass ``cls`` from ``values`` (strings from the CLI or typed
    values from a checkpoint). Unknown keys are an error naming them and the known ones."""
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise SSLRError(f"{option} {unknown[0]}: unknown setting for {what}; "
                        f"choose from {', '.join(known) or '(none: it has no settings)'}")
    instance = cls(**{k: convert_option(option, k, v, known[k].type) for k, v in values.items()})
    check = getattr(instance, "validate", None)
    return check() or instance if callable(check) else instance


def parse_key_values(items: list[str] | None, option: str) -> dict[str, str]:
    """``["a=1", "b=x"]`` -> {"a": "1", "b": "x"} (converted later, by the options dataclass)."""
    parsed: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise SSLRError(f"{option} {item!r}: expected KEY=VALUE")
        parsed[key.strip()] = value.strip()
    return parsed
