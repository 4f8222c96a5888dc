"""Stopping a training run cleanly: SIGTERM / SIGINT, checkpoints on a clock, and a crash-safe metrics log.

A scheduler stops a job with SIGTERM (SLURM, Kubernetes) and kills it outright a little later; the
OOM killer or a lost spot instance kills it with no warning at all. So:

- ``StopSignals`` turns SIGTERM and SIGINT into a flag that the loop reads between optimizer steps
  (never in the middle of one, where weights and counters would disagree). The loop then writes
  ``last.pt`` and returns; the command exits with 143 (SIGTERM) or 130 (SIGINT). A second Ctrl-C
  stops at once, as Python does by default.
- ``CheckpointClock`` says when ``last.pt`` is due mid-epoch (every M minutes of wall time and/or
  every N steps), so that a kill loses at most that much work.
- ``Preemption`` is the loop's hook that does both; on resume ``RunDir.trim_metrics`` cuts
  ``metrics.jsonl`` back to the lines the checkpoint had seen, so no line is duplicated by the
  replayed steps and a half-written last line goes.
"""

from __future__ import annotations

import signal
import threading
import time
from types import FrameType

from sslr_cli.engine.hooks import TrainHook

# How a run ended -> the conventional exit status of a process stopped by that signal (128 + signum).
from sslr_cli.engine.exit_codes import EXIT_CODES  # noqa: E402  (re-exported)
_REASONS = {signal.SIGTERM: "terminated", signal.SIGINT: "interrupted"}


class StopSignals:
    """Within ``with StopSignals() as stop:`` (or between ``install()`` and ``restore()``), SIGTERM
    and SIGINT set ``stop.reason`` instead of killing the process; the previous handlers come back on exit.

    Outside the main thread (a library user's worker thread) Python cannot install handlers, and
    the signals keep their usual effect.
    """

    def __init__(self) -> None:
        self.reason: str | None = None
        self._previous: dict[int, object] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if signum == signal.SIGINT and self.reason is not None:
            raise KeyboardInterrupt  # the second Ctrl-C: stop now, keep the last checkpoint
        self.reason = self.reason or _REASONS[signum]

    def install(self) -> "StopSignals":
        if threading.current_thread() is threading.main_thread():
            for signum in _REASONS:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def restore(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()

    __enter__ = install

    def __exit__(self, *exc) -> None:
        self.restore()

    @property
    def requested(self) -> bool:
        return self.reason is not None


class CheckpointClock:
    """When the next mid-epoch ``last.pt`` is due: ``minutes`` of wall time (0 = never) or ``steps``
    optimizer steps (0 = never) since the last one, whichever comes first."""

    def __init__(self, minutes: float, steps: int) -> None:
        self.seconds, self.steps = minutes * 60.0, steps
        self.reset()

    def reset(self) -> None:
        self._since = time.monotonic()

    def due(self, step: int) -> bool:
        if self.steps and step % self.steps == 0:
            return True
        return bool(self.seconds) and time.monotonic() - self._since >= self.seconds


class Preemption(TrainHook):
    """The training loop's hook (``TrainHook``) for stops and kills, and the context that installs the
    signal handlers around the loop: after every step, a signal on any rank stops every rank there
    (``loop.stop``: last.pt is written and the run is resumable), and mid-epoch ``last.pt`` follows
    the ``CheckpointClock`` (only rank 0 writes, so the clock needs no agreement between ranks)."""

    def __init__(self, cfg) -> None:
        self.signals = StopSignals()
        self.clock = CheckpointClock(cfg.train.checkpoint_minutes, cfg.train.checkpoint_steps)

    def __enter__(self) -> "Preemption":
        self.signals.install()
        self.clock.reset()
        return self

    def __exit__(self, *exc) -> None:
        self.signals.restore()

    def after_step(self, loop, record) -> None:
        if loop.dist.any(self.signals.requested):  # one collective per step under DDP
            loop.stop(self.signals.reason or "terminated")
        elif loop.state.batch < len(loop.loader) and self.clock.due(loop.state.step):
            loop.save_last()
            self.clock.reset()

    def after_epoch(self, loop, record) -> None:
        self.clock.reset()  # the epoch end writes last.pt itself
