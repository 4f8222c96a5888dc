"""How many CPU threads a command computes with: ``--threads N``, else ``SSLR_THREADS``, else the default.

One road for every command that computes (train, reconstruct, interpolate, tsne, iou, match, reproduce):
the command passes its ``--threads`` value here, once, before any tensor work.

The default is one thread fewer than the cores this process may run on (at least one), unless
``OMP_NUM_THREADS`` is set (torch's own default follows it, and so does this). Why not torch's default, a
thread per core: an intra-op parallel region ends only when its slowest thread does, so a thread that shares
its core with any other busy process stalls every one of the thousands of small regions of a training step.
Measured on a 2-core machine, a `tiny` SRN training step beside one busy process ran at 108 images/s with 2
threads and 232 with 1 (5 to 80 images/s with 2 beside three other trainings), while alone 2 threads gave
393 and 1 gave 236 (studies/cpu-step). The count is a fixed function of the cores, never of the momentary
load: a CPU run's numbers depend on its thread count (the checkpoint records it), and the same seed must give
the same run. On an idle machine ``--threads`` (or ``SSLR_THREADS``) set to the number of cores is faster.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

ENV = "SSLR_THREADS"


def available_cores() -> int:
    """The cores this process may run on (its affinity mask, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def default_threads(cores: int) -> int:
    """The thread count when none is asked for: one core left to the rest of the machine, at least one thread."""
    return max(1, cores - 1)


def resolve_threads(requested: int | None, environ: Mapping[str, str] | None = None,
                    cores: int | None = None) -> int | None:
    """The thread count to use, or None to keep torch's own (which follows ``OMP_NUM_THREADS``).

    ``environ`` and ``cores`` default to the process's; raises ValueError on a bad value."""
    if requested is not None:
        if requested < 1:
            raise ValueError(f"--threads {requested}: must be >= 1")
        return requested
    environ = os.environ if environ is None else environ
    text = environ.get(ENV, "").strip()
    if text:
        if not text.isdigit() or int(text) < 1:
            raise ValueError(f"{ENV}={text!r}: must be a whole number >= 1")
        return int(text)
    if environ.get("OMP_NUM_THREADS", "").strip():
        return None
    return default_threads(available_cores() if cores is None else cores)


def configure_threads(requested: int | None) -> int:
    """Set torch's intra-op threads from ``requested`` / the environment / the default; return the count in force."""
    import torch

    n = resolve_threads(requested)
    if n is not None and n != torch.get_num_threads():
        torch.set_num_threads(n)
    return torch.get_num_threads()
