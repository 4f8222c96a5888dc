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
from sslr_cli.engine.threads import resolve_threads
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


def train_argv(stage: Stage, fresh: bool, quiet: bool = False, threads: int | None = None) -> list[str]:
    """The stage's `sslr train` line, made to continue (``--resume``) from the run's last.pt when it has one;
    ``threads``: `sslr reproduce --threads`, passed on (it wins over the count a resumed checkpoint records)."""
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
    if threads is not None:
        argv += ["--threads", str(threads)]
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


def run_stage(stage: Stage, out: Path, fresh: bool, execute: Execute, quiet: bool = False,
              threads: int | None = None) -> None:
    """Every command of ``stage``; raises StageFailed / KeyboardInterrupt when it does not finish.
    ``threads``: a training's --threads (``train_argv``)."""
    log = out / "logs" / f"{stage.name}.txt"
    if stage.kind == "train":
        run_cli(train_argv(stage, fresh, quiet, threads), execute, log_path=log)
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


def worker_env(threads: int, gpu: str | None = None) -> dict[str, str]:
    """A worker's environment: ``threads`` CPU threads, and only ``gpu`` visible when one is given."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    if gpu is not None:
        env["CUDA_VISIBLE_DEVICES"] = str(gpu)
    return env


def start_worker(stage: Stage, out: Path, fresh: bool, threads: int, gpu: str | None = None,
                 threads_option: int | None = None) -> "subprocess.Popen":
    """A training stage as its own `python -m sslr_cli train ...` process (the very command the plan prints),
    with ``threads`` threads (and GPU ``gpu`` alone visible), its output appended to the stage's log.
    ``threads_option``: `sslr reproduce --threads`, passed on to its command line (``train_argv``)."""
    import subprocess

    log = out / "logs" / f"{stage.name}.txt"
    log.parent.mkdir(parents=True, exist_ok=True)
    env = worker_env(threads, gpu)
    with log.open("a") as sink:
        return subprocess.Popen([sys.executable, "-m", "sslr_cli", *train_argv(stage, fresh, True, threads_option)],
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
        with cls(path)._locked():  # cluster jobs start at the same time: one of them creates the file
            return cls._open(path, out, identity, stages, force)

    @classmethod
    def _open(cls, path: Path, out: Path, identity: dict, stages: list[Stage], force: bool) -> "Manifest":
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
            data.setdefault("stages", {})
            return cls(path, data)  # nothing changed: not written (a cluster job may be recording a stage)
        m = cls(path, {"identity": identity, "stages": {}})
        m.save()
        return m

    def done(self, name: str) -> bool:
        return bool(self.data["stages"].get(name, {}).get("done"))

    def record(self, stage: Stage, **values) -> None:
        """Update one stage's entry. Under a lock, over the file as it is now: cluster jobs (one stage each,
        `--stage`) record their stages in the same manifest at the same time."""
        with self._locked():
            mine = self.data["stages"].get(stage.name)
            self.refresh()
            if mine is not None:
                self.data["stages"][stage.name] = mine
            rec = self.data["stages"].setdefault(stage.name, {})
            rec.update(commands=[list(c) for c in stage.commands], **values)
            self.save()

    @contextlib.contextmanager
    def _locked(self):
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_name(self.path.name + ".lock"), "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def refresh(self) -> None:
        """Re-read the file (another job may have finished stages since this one started)."""
        with contextlib.suppress(OSError, ValueError):
            on_disk = json.loads(self.path.read_text())
            if isinstance(on_disk, dict) and isinstance(on_disk.get("stages"), dict):
                self.data["stages"] = on_disk["stages"]

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(self.path, force=True) as tmp:
            tmp.write_text(json.dumps(self.data, indent=2) + "\n")


Event = Callable[[str, dict], None]


class Runner:
    """Executes ``stages`` in order; ``events(kind, info)`` hears about each start, progress and end."""

    def __init__(self, stages: list[Stage], out: Path, identity: dict, execute: Execute, force: bool = False,
                 jobs: int = 1, threads: int | None = None, events: Event | None = None,
                 gpus: list[str] | None = None) -> None:
        self.stages = stages
        self.execute = execute  # `sslr ARGV` in this process (the command layer's)
        self.out = Path(out)
        self.force = force
        self.jobs = max(1, jobs)
        # --threads: each training's threads, on its command line; else $SSLR_THREADS, else the cores / jobs
        # (in the environment a worker starts with: a resumed training keeps its checkpoint's count)
        self.threads_option = threads
        self.threads = threads or resolve_threads(None) or max(1, (os.cpu_count() or 1) // self.jobs)
        self.gpus = list(gpus) if gpus else None  # one per worker (several GPUs, --jobs up to their number)
        self.events = events or (lambda kind, info: None)
        for sub in ("results", "figures"):  # the commands write their figures and --json output there
            (self.out / sub).mkdir(parents=True, exist_ok=True)
        self.manifest = Manifest.open(self.out, identity, stages, force)
        self.fresh: set[str] = {s.name for s in stages} if force else set()
        self.terminated = False  # SIGTERM reached the runner

    def index(self, stage: Stage) -> int:
        return self.stages.index(stage) + 1

    def run(self, only_stage: str | None = None) -> None:
        """Every stage not yet done, or just ``only_stage`` (a cluster job's one stage: the stages it needs
        must be done). SIGTERM (a scheduler's stop, `timeout`, systemd) is forwarded to the training
        workers, which save last.pt and exit; then ``Interrupted("...", signal="SIGTERM")``."""
        import signal

        def on_term(signum, frame):
            self.terminated = True
            raise Terminated

        previous = signal.signal(signal.SIGTERM, on_term)
        try:
            if only_stage is None:
                self._run_stages()
            else:
                self._run_named(only_stage)
        finally:
            signal.signal(signal.SIGTERM, previous)

    def _run_named(self, name: str) -> None:
        by_name = {s.name: s for s in self.stages}
        if name not in by_name:
            raise SSLRError(f"--stage {name!r}: not a stage of this plan (see --dry-run); "
                            f"stages: {', '.join(by_name)}")
        stage = by_name[name]
        self.manifest.refresh()
        missing = [n for n in stage.needs if not self.manifest.done(n)]
        if missing:
            raise SSLRError(f"--stage {name}: needs {', '.join(missing)}, not done yet")
        if self.manifest.done(name) and name not in self.fresh:
            self.events("skipped", {"stages": [stage]})
            return
        self._run_one(stage)

    def _signal(self, exc: BaseException) -> str:
        return "SIGTERM" if self.terminated or isinstance(exc, Terminated) else "SIGINT"

    def _run_stages(self) -> None:
        """Stages in plan order with one job; with ``jobs`` > 1, every training stage whose needs are done
        starts in a worker process as soon as a job slot (and, with GPUs, a GPU) is free, and the other stages
        run here, in order, between the workers' turns: independent seeds, models and tables overlap."""
        todo = [s for s in self.stages if not self.manifest.done(s.name)]
        skipped = [s for s in self.stages if self.manifest.done(s.name)]
        if skipped:
            self.events("skipped", {"stages": skipped})
        if self.jobs == 1:
            for stage in todo:
                self._run_one(stage)
            return
        finished = {s.name for s in skipped}
        workers = WorkerPool(self)
        try:
            while todo or workers.running:
                for stage in [s for s in todo if s.parallel and set(s.needs) <= finished]:
                    if not workers.free():
                        break
                    workers.start(stage)
                    todo.remove(stage)
                ready = [s for s in todo if not s.parallel and set(s.needs) <= finished]
                if ready and len(workers.running) < self.jobs:  # an in-process stage takes a job slot too
                    stage = ready[0]
                    todo.remove(stage)
                    with workers.gpu_for_this_process():
                        self._run_one(stage)
                    finished.add(stage.name)
                    continue
                if not workers.running:
                    blocked = ", ".join(f"{s.name} (needs {', '.join(n for n in s.needs if n not in finished)})"
                                        for s in todo)
                    raise StageFailed(f"stages wait for stages that are not in the plan: {blocked}")
                finished |= workers.poll()
        except Interrupted as exc:  # during an in-process stage
            workers.stop(exc.signal)
            raise
        except KeyboardInterrupt as exc:
            why = self._signal(exc)
            workers.stop(why)
            raise Interrupted(", ".join(workers.running) or "training", why) from None
        finally:
            workers.close()

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
            run_stage(stage, self.out, stage.name in self.fresh, self.execute, threads=self.threads_option)
        except KeyboardInterrupt as exc:
            raise Interrupted(stage.name, self._signal(exc)) from None
        self._finish(stage, time.perf_counter() - t0)


class WorkerPool:
    """The training stages running in worker processes, at most ``runner.jobs`` of them, each on a GPU of its
    own when the runner has ``gpus`` (``CUDA_VISIBLE_DEVICES`` names one device per worker)."""

    def __init__(self, runner: "Runner") -> None:
        self.runner = runner
        self.running: dict[str, tuple[Stage, "subprocess.Popen", str | None, float]] = {}
        self.gpus_free = list(runner.gpus or [])
        self.last_event = 0.0

    def free(self) -> bool:
        return len(self.running) < self.runner.jobs and (not self.runner.gpus or bool(self.gpus_free))

    def start(self, stage: Stage) -> None:
        r = self.runner
        gpu = self.gpus_free.pop(0) if r.gpus else None
        r.events("start", {"stage": stage, "resume": (Path(stage.run_dir) / "last.pt").exists()
                           and stage.name not in r.fresh, "threads": r.threads, "gpu": gpu})
        r.manifest.record(stage, done=False)
        proc = start_worker(stage, r.out, stage.name in r.fresh, r.threads, gpu, r.threads_option)
        self.running[stage.name] = (stage, proc, gpu, time.perf_counter())

    @contextlib.contextmanager
    def gpu_for_this_process(self):
        """An in-process stage on a GPU no worker holds (the first free one), else the default device."""
        import torch

        if not self.runner.gpus or not self.gpus_free or not torch.cuda.is_available():
            yield
            return

        previous = torch.cuda.current_device()
        torch.cuda.set_device(int(self.gpus_free[0]))
        try:
            yield
        finally:
            torch.cuda.set_device(previous)

    def poll(self) -> set[str]:
        """Wait a moment; the stages whose worker finished (a failed one raises)."""
        r = self.runner
        time.sleep(0.5)
        done = set()
        for name, (stage, proc, gpu, t0) in list(self.running.items()):
            if proc.poll() is None:
                continue
            del self.running[name]
            if gpu is not None:
                self.gpus_free.append(gpu)
            if proc.returncode == 130:
                raise KeyboardInterrupt
            if proc.returncode == 143:
                raise Terminated
            if proc.returncode != 0 or not training_finished(stage):
                raise StageFailed(f"stage {name}: training stopped (exit code {proc.returncode}); "
                                  f"its log: {r.out / 'logs' / (name + '.txt')}")
            r._finish(stage, time.perf_counter() - t0)
            done.add(name)
        if time.monotonic() - self.last_event >= 1.0:
            self.last_event = time.monotonic()
            for stage, *_ in self.running.values():
                r.events("progress", {"stage": stage, "step": logged_step(stage)})
        return done

    def stop(self, why: str) -> None:
        """After Ctrl-C or SIGTERM: pass SIGTERM on (a Ctrl-C reached every process of the terminal's group
        already; a second signal would abort them), then wait while they save last.pt."""
        for stage, proc, *_ in self.running.values():
            if why == "SIGTERM" and proc.poll() is None:
                proc.terminate()
        for stage, proc, *_ in self.running.values():
            with contextlib.suppress(Exception):
                proc.wait(timeout=120)

    def close(self) -> None:
        for stage, proc, *_ in self.running.values():
            if proc.poll() is None:
                proc.terminate()
                with contextlib.suppress(Exception):
                    proc.wait(timeout=10)
