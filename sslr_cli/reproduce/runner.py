"""Run a stage plan resumably, through the CLI's own command functions (in this process, or in one worker
process per training stage when training stages run side by side).

State lives in ``OUT/manifest.json`` (written atomically): the scale, the seeds, each stage's command lines,
and for each finished stage its wall time. A stage is marked done only after every command returned
successfully and every output exists; evaluation output is written to a temporary file and renamed. Killed
at any point and started again, the runner skips the stages marked done, continues a training stage from
its ``last.pt`` (``sslr train --resume``), and starts any other unfinished stage over.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from sslr_cli.atomic import atomic_path
from sslr_cli.errors import SSLRError
from sslr_cli.reproduce.stage import Stage

MANIFEST = "manifest.json"


class StageFailed(SSLRError):
    """A stage's command failed; the stage stays unfinished."""


class Interrupted(Exception):
    """Ctrl-C or SIGTERM: the running stage saved what it could; running the same command again continues.
    ``signal``: "SIGINT" or "SIGTERM" (the command exits with 130 or 143)."""

    def __init__(self, where: str, signal: str = "SIGINT") -> None:
        super().__init__(where)
        self.signal = signal


class Terminated(KeyboardInterrupt):
    """SIGTERM reached the runner (or an in-process training stopped by it)."""


Execute = Callable[[list], "int | None"]  # runs `sslr ARGV` in this process (given by the command layer)


def run_cli(argv: list[str] | tuple[str, ...], execute: Execute, stdout_path: str | None = None,
            log_path: Path | None = None) -> None:
    """Run `sslr ARGV` in this process with ``execute``; its stdout goes to ``stdout_path`` (atomically) or
    ``log_path``."""
    import typer

    buf = io.StringIO()
    try:
        with contextlib.redirect_stdout(buf):
            code = execute(list(argv))
    except typer.Abort:
        raise KeyboardInterrupt from None
    except Exception as exc:
        # a usage error of the command line (typer's own exception class; click's before typer vendored it):
        # recognised by what the parser's exceptions carry, not by a class that a typer release may move
        if not (hasattr(exc, "format_message") and hasattr(exc, "exit_code")):
            raise
        raise StageFailed(f"`sslr {' '.join(argv)}`: {exc.format_message()}") from None
    if code == 143:  # an in-process `sslr train` stopped by SIGTERM, its last.pt saved
        raise Terminated
    if code == 130:
        raise KeyboardInterrupt
    if code not in (None, 0):
        raise StageFailed(f"`sslr {' '.join(argv)}` failed (exit code {code}; its message is above)")
    if stdout_path is not None:
        with atomic_path(stdout_path, force=True) as tmp:
            tmp.write_text(buf.getvalue())
    elif log_path is not None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("a") as f:
            f.write(buf.getvalue())


def train_argv(stage: Stage, fresh: bool, quiet: bool = False) -> list[str]:
    """The stage's `sslr train` line, made to continue (``--resume``) from the run's last.pt when it has one."""
    argv = list(stage.commands[0])
    run = Path(stage.run_dir)
    if not fresh and (run / "last.pt").exists():
        while "--eval-data" in argv:  # a resumed run keeps the held-out set its checkpoint names
            i = argv.index("--eval-data")
            del argv[i : i + 2]
        argv.append("--resume")
    elif run.exists() and any(run.iterdir()):
        argv.append("--force")  # killed before its first checkpoint: nothing to continue from
    if quiet:
        argv.append("--quiet")
    return argv


def training_step(stage: Stage) -> int:
    """Optimizer steps the stage's run has taken according to its last.pt (0 without one)."""
    from sslr_cli.engine.checkpoint import read_checkpoint

    last = Path(stage.run_dir) / "last.pt"
    return int(read_checkpoint(last)["step"]) if last.exists() else 0


def training_finished(stage: Stage) -> bool:
    from sslr_cli.engine.checkpoint import checkpoint_config, read_checkpoint

    last = Path(stage.run_dir) / "last.pt"
    if not last.exists():
        return False
    state = read_checkpoint(last)
    return int(state["step"]) >= stage.max_steps or int(state["epoch"]) >= checkpoint_config(state).train.epochs


def logged_step(stage: Stage) -> int:
    """The last step in the run's metrics.jsonl (progress of a training in another process)."""
    path = Path(stage.run_dir) / "metrics.jsonl"
    try:
        with path.open("rb") as f:
            f.seek(max(0, path.stat().st_size - 4096))
            lines = f.read().decode(errors="ignore").splitlines()
        for line in reversed(lines):
            with contextlib.suppress(ValueError):
                return int(json.loads(line)["step"])
    except OSError:
        pass
    return 0


def run_stage(stage: Stage, out: Path, fresh: bool, execute: Execute, quiet: bool = False) -> None:
    """Every command of ``stage``; raises StageFailed / KeyboardInterrupt when it does not finish."""
    log = out / "logs" / f"{stage.name}.txt"
    if stage.kind == "train":
        run_cli(train_argv(stage, fresh, quiet), execute, log_path=log)
        if not training_finished(stage):  # train() caught Ctrl-C and saved last.pt
            raise KeyboardInterrupt
    else:
        for argv in stage.commands:
            run_cli(argv, execute, stdout_path=stage.stdout, log_path=log)
    missing = [o for o in stage.outputs if not Path(o).exists()]
    if missing:
        raise StageFailed(f"stage {stage.name}: finished without writing {missing[0]}")


def _die_with_parent() -> None:
    """In a worker, before it runs a line of Python (``preexec_fn``): Linux sends it SIGKILL when the runner
    dies, so no training outlives a killed runner."""
    with contextlib.suppress(Exception):
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def start_worker(stage: Stage, out: Path, fresh: bool, threads: int) -> "subprocess.Popen":
    """A training stage as its own `python -m sslr_cli train ...` process (the very command the plan prints),
    with ``threads`` threads, its output appended to the stage's log."""
    import subprocess

    log = out / "logs" / f"{stage.name}.txt"
    log.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    with log.open("a") as sink:
        return subprocess.Popen([sys.executable, "-m", "sslr_cli", *train_argv(stage, fresh, quiet=True)],
                                stdout=sink, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None)


def _portable(commands) -> list[list[str]]:
    """Command lines without their --device: a run may continue on another device."""
    out = []
    for argv in commands:
        argv = list(argv)
        if "--device" in argv:
            i = argv.index("--device")
            del argv[i : i + 2]
        out.append(argv)
    return out


@dataclass
class Manifest:
    path: Path
    data: dict = field(default_factory=dict)

    @classmethod
    def open(cls, out: Path, identity: dict, stages: list[Stage], force: bool) -> "Manifest":
        path = out / MANIFEST
        if path.exists() and not force:
            try:
                data = json.loads(path.read_text())
                if not isinstance(data, dict) or not isinstance(data.get("stages", {}), dict):
                    raise ValueError("not a JSON object with stages")
            except (ValueError, UnicodeDecodeError) as exc:
                raise SSLRError(f"{path}: unreadable ({str(exc).splitlines()[0][:80]}); "
                                f"use --force to start the reproduction over, or another folder") from None
            old = data.get("identity", {})
            if old != identity:
                diff = ", ".join(f"{k} {old.get(k)!r} -> {v!r}" for k, v in identity.items() if old.get(k) != v)
                raise SSLRError(f"{out}: holds a reproduction with other settings ({diff}); use another folder or --force")
            for s in stages:
                rec = data.get("stages", {}).get(s.name)
                if rec and _portable(rec.get("commands", [])) != _portable(s.commands):
                    raise SSLRError(f"{out}: stage {s.name} was run with other commands than this plan's "
                                    f"(the presets' names or this sslr changed?); use another folder or --force")
        else:
            data = {"identity": identity, "stages": {}}
        m = cls(path, data)
        m.save()
        return m

    def done(self, name: str) -> bool:
        return bool(self.data["stages"].get(name, {}).get("done"))

    def record(self, stage: Stage, **values) -> None:
        rec = self.data["stages"].setdefault(stage.name, {})
        rec.update(commands=[list(c) for c in stage.commands], **values)
        self.save()

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(self.path, force=True) as tmp:
            tmp.write_text(json.dumps(self.data, indent=2) + "\n")


Event = Callable[[str, dict], None]


class Runner:
    """Executes ``stages`` in order; ``events(kind, info)`` hears about each start, progress and end."""

    def __init__(self, stages: list[Stage], out: Path, identity: dict, execute: Execute, force: bool = False,
                 jobs: int = 1, threads: int | None = None, events: Event | None = None) -> None:
        self.stages = stages
        self.execute = execute  # `sslr ARGV` in this process (the command layer's)
        self.out = Path(out)
        self.force = force
        self.jobs = max(1, jobs)
        self.threads = threads or max(1, (os.cpu_count() or 1) // self.jobs)
        self.events = events or (lambda kind, info: None)
        for sub in ("results", "figures"):  # the commands write their figures and --json output there
            (self.out / sub).mkdir(parents=True, exist_ok=True)
        self.manifest = Manifest.open(self.out, identity, stages, force)
        self.fresh: set[str] = {s.name for s in stages} if force else set()
        self.terminated = False  # SIGTERM reached the runner

    def index(self, stage: Stage) -> int:
        return self.stages.index(stage) + 1

    def run(self) -> None:
        """Every stage not yet done. SIGTERM (a scheduler's stop, `timeout`, systemd) is forwarded to the training
        workers, which save last.pt and exit; then ``Interrupted("...", signal="SIGTERM")``."""
        import signal

        def on_term(signum, frame):
            self.terminated = True
            raise Terminated

        previous = signal.signal(signal.SIGTERM, on_term)
        try:
            self._run_stages()
        finally:
            signal.signal(signal.SIGTERM, previous)

    def _signal(self, exc: BaseException) -> str:
        return "SIGTERM" if self.terminated or isinstance(exc, Terminated) else "SIGINT"

    def _run_stages(self) -> None:
        todo = [s for s in self.stages if not self.manifest.done(s.name)]
        skipped = [s for s in self.stages if self.manifest.done(s.name)]
        if skipped:
            self.events("skipped", {"stages": skipped})
        i = 0
        while i < len(todo):
            wave = [todo[i]]
            if todo[i].parallel and self.jobs > 1:
                names = {todo[i].name}
                while (i + len(wave) < len(todo) and todo[i + len(wave)].parallel
                       and not set(todo[i + len(wave)].needs) & names):
                    wave.append(todo[i + len(wave)])
                    names.add(wave[-1].name)
            if len(wave) == 1:
                self._run_one(wave[0])
            else:
                self._run_wave(wave)
            i += len(wave)

    def _finish(self, stage: Stage, seconds: float) -> None:
        self.manifest.record(stage, done=True, seconds=round(seconds, 2),
                             finished=time.strftime("%Y-%m-%dT%H:%M:%S"))
        self.events("done", {"stage": stage, "seconds": seconds})

    def _run_one(self, stage: Stage) -> None:
        self.events("start", {"stage": stage, "resume": stage.kind == "train" and (Path(stage.run_dir) / "last.pt").exists()
                              and stage.name not in self.fresh})
        t0 = time.perf_counter()
        self.manifest.record(stage, done=False)
        try:
            run_stage(stage, self.out, stage.name in self.fresh, self.execute)
        except KeyboardInterrupt as exc:
            raise Interrupted(stage.name, self._signal(exc)) from None
        self._finish(stage, time.perf_counter() - t0)

    def _run_wave(self, wave: list[Stage]) -> None:
        """Training stages side by side, ``jobs`` at a time, each in a process of ``threads`` threads."""
        pending, running = list(wave), {}
        t0: dict[str, float] = {}
        last_event = 0.0
        try:
            while pending or running:
                while pending and len(running) < self.jobs:
                    stage = pending.pop(0)
                    self.events("start", {"stage": stage, "resume": (Path(stage.run_dir) / "last.pt").exists()
                                          and stage.name not in self.fresh, "threads": self.threads})
                    self.manifest.record(stage, done=False)
                    proc = start_worker(stage, self.out, stage.name in self.fresh, self.threads)
                    running[stage.name] = (stage, proc)
                    t0[stage.name] = time.perf_counter()
                time.sleep(0.5)
                for name, (stage, proc) in list(running.items()):
                    if proc.poll() is None:
                        continue
                    del running[name]
                    if proc.returncode == 130:
                        raise KeyboardInterrupt
                    if proc.returncode == 143:
                        raise Terminated
                    if proc.returncode != 0 or not training_finished(stage):
                        raise StageFailed(f"stage {name}: training stopped (exit code {proc.returncode}); "
                                          f"its log: {self.out / 'logs' / (name + '.txt')}")
                    self._finish(stage, time.perf_counter() - t0[name])
                if time.monotonic() - last_event >= 1.0:
                    last_event = time.monotonic()
                    for stage, _ in running.values():
                        self.events("progress", {"stage": stage, "step": logged_step(stage)})
        except KeyboardInterrupt as exc:
            why = self._signal(exc)
            for stage, proc in running.values():
                if why == "SIGTERM" and proc.poll() is None:  # only the runner got it: pass it on (a Ctrl-C reached
                    proc.terminate()  # every process of the terminal's group already; a second one would abort)
            for stage, proc in running.values():  # they are saving last.pt
                with contextlib.suppress(Exception):
                    proc.wait(timeout=120)
            raise Interrupted(", ".join(running) or "training", why) from None
        finally:
            for stage, proc in running.values():
                if proc.poll() is None:
                    proc.terminate()
                    with contextlib.suppress(Exception):
                        proc.wait(timeout=10)
