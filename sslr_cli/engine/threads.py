"""How many CPU threads a command computes with: ``--threads N``, else ``SSLR_THREADS``, else the default.

One road for every command that computes (train, reconstruct, interpolate, tsne, iou, match, reproduce):
the command passes its ``--threads`` value here, once, before any tensor work.
"""

from __future__ import annotations

import os

ENV = "SSLR_THREADS"


def available_cores() -> int:
    """The cores this process may run on (its affinity mask, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def resolve_threads(requested: int | None) -> int | None:
    """The thread count to use, or None to keep torch's own default. Raises ValueError on a bad value."""
    if requested is not None:
        if requested < 1:
            raise ValueError(f"--threads {requested}: must be >= 1")
        return requested
    text = os.environ.get(ENV, "").strip()
    if text:
        if not text.isdigit() or int(text) < 1:
            raise ValueError(f"{ENV}={text!r}: must be a whole number >= 1")
        return int(text)
    return None


def configure_threads(requested: int | None) -> int:
    """Set torch's intra-op threads from ``requested`` / the environment; return the count in force."""
    import torch

    n = resolve_threads(requested)
    if n is not None and n != torch.get_num_threads():
        torch.set_num_threads(n)
    return torch.get_num_threads()
