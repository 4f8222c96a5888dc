"""The training loop's extension point: ``TrainHook`` objects join the loop after each step and each epoch.

Hooks are given to ``train(hook_factories=...)`` by its caller (the learning curves of
``sslr_cli.experiments.curves`` come from the command layer this way); ``engine/preemption.py``'s signal and
checkpoint-clock hook is one the engine always adds itself."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

if TYPE_CHECKING:
    import torch

    from sslr_cli.config import RunConfig


class TrainHook:
    """A point where code joins the loop without changing it. Subclass and override what you need;
    ``loop`` is the ``TrainLoop`` of ``engine/train.py`` (``loop.state``, ``loop.cfg``, ``loop.run``, ``loop.dist``, ...).
    Every rank calls the hooks; only rank 0's ``RunDir`` writes."""

    def after_step(self, loop: "TrainLoop", record: dict[str, Any]) -> None:
        """After each optimizer step; ``record`` has epoch, batch, step, loss, r, lr, elapsed."""

    def after_epoch(self, loop: "TrainLoop", record: dict[str, Any]) -> None:
        """After each epoch's validation (also after a stopped, incomplete epoch); ``record`` is its metrics line."""


# (the run's config as resolved, on resume the checkpoint's; the training data file; the device; the step the
# run starts from; whether this process writes) -> the hooks it asks for. Called before the run starts, so a
# factory can refuse settings it cannot serve.
HookFactory = Callable[["RunConfig", "str | Path", "torch.device", int, bool], Sequence[TrainHook]]
