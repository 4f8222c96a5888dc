"""The training loop's hook protocol: code that joins the loop without changing it.

The caller of ``engine.train.train`` passes hooks down (``train(hooks=[...])``); the loop calls them,
it never looks for them. A hook subclasses ``TrainHook`` and overrides what it needs:

- ``setup(start)``: once, before the run directory is touched, with the run's final config (for
  ``--resume``: the checkpoint's) -- a hook checks its settings here, so a bad one fails before any work;
- ``after_step(loop, record)`` / ``after_epoch(loop, record)``: ``loop`` is the ``TrainLoop``
  (``loop.state``, ``loop.cfg``, ``loop.run_dir``, ``loop.dist``, ``loop.save_last()``, ``loop.stop(reason)``).

``serves`` names the ``TrainConfig`` fields a hook carries out (``eval_every``, ...): a run that sets
one of them and has no hook serving it is refused rather than run without it.

Every rank calls the hooks; only rank 0's ``RunDir`` writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

    from sslr_cli.config import RunConfig


@dataclass(frozen=True)
class RunStart:
    """What a hook learns before the run starts."""

    cfg: "RunConfig"  # the run's config (a resumed run's is its checkpoint's)
    data: Path  # the training file
    device: "torch.device"
    start_step: int  # optimizer steps already taken (a resumed run's)
    is_main: bool  # rank 0 (or a single process)


class TrainHook:
    """A point where code joins the training loop. Subclass and override what you need."""

    serves: tuple[str, ...] = ()  # the TrainConfig fields this hook carries out

    def setup(self, start: RunStart) -> None:
        """Before the run directory is touched: check settings, prepare (raise SSLRError to refuse the run)."""

    def after_step(self, loop: Any, record: dict[str, Any]) -> None:
        """After each optimizer step; ``record`` has epoch, batch, step, loss, r, lr, elapsed."""

    def after_epoch(self, loop: Any, record: dict[str, Any]) -> None:
        """After each epoch's validation (also after a stopped, incomplete epoch); ``record`` is its metrics line."""
