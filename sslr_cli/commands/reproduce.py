"""`sslr reproduce`: the paper end to end (data, training, Tables 1-3, Fig. 2-7) with a report."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Optional

import typer

from sslr_cli.commands import options as o
from sslr_cli.commands.common import err, use_threads, user_errors
from sslr_cli.errors import SSLRError


def reproduce_command(
    ctx: typer.Context,
    out_dir: o.ReproduceOut,
    scale: o.Scale = "demo",
    only: o.Only = None,
    seeds: o.ReproduceSeeds = None,
    dry_run: o.DryRun = False,
    report_only: o.ReportOnly = False,
    force: o.StartOver = False,
    device: o.DeviceOption = "auto",
    jobs: o.Jobs = None,
    threads: o.Threads = None,
    clevr: o.ClevrDir = None,
    plan_format: o.PlanFormat = "text",
    stage: o.OneStage = None,
) -> None:
    """Reproduce the paper: every stage resumable, then OUT/report.md, OUT/report.html and OUT/results.json."""
    _reproduce(out_dir, scale, only, seeds, device, jobs, dry_run, report_only, force, executor(ctx), threads,
               clevr, plan_format, stage)


def executor(ctx: typer.Context | None):
    """`sslr ARGV` run in this process by the program this command belongs to (its root command): what the
    runner calls for each stage's command line, so the runner needs to know nothing of the CLI."""
    root = ctx.find_root().command if ctx is not None else None

    def execute(argv: list[str]):
        if root is None:
            raise SSLRError("sslr reproduce: no command line to run stages with")
        return root.main(args=list(argv), prog_name="sslr", standalone_mode=False)

    return execute


def _fmt_minutes(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    return f"{seconds / 60:.1f} min"


class Display:
    """Progress of the whole plan: a live overall bar (stage k of n, estimated time left) above the
    stages' own bars on a terminal; one plain line per event otherwise (``> log`` shows progress)."""

    def __init__(self, stages, jobs: int, live: bool) -> None:
        self.stages = stages
        self.jobs = jobs
        self.live = live
        self.done: set[str] = set()
        self.steps: dict[str, int] = {}
        self.progress = None
        self.bars: dict[str, int] = {}
        self.t0 = time.perf_counter()

    def __enter__(self):
        if self.live:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self.progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                                     TextColumn("{task.fields[info]}"), TimeElapsedColumn(), console=err)
            self.progress.start()
            self.overall = self.progress.add_task("reproduce", total=len(self.stages), info="")
        return self

    def __exit__(self, *exc):
        if self.progress is not None:
            self.progress.stop()

    def left(self) -> float | None:
        """Estimated seconds of training left (the data and evaluation stages are short beside it)."""
        total = 0.0
        for s in self.stages:
            if s.name in self.done or s.est_seconds is None:
                continue
            frac = min(1.0, self.steps.get(s.name, 0) / s.max_steps) if s.max_steps else 0.0
            total += s.est_seconds * (1 - frac) / (self.jobs if s.parallel else 1)
        return total if any(s.est_seconds for s in self.stages) else None

    def line(self, text: str) -> None:
        if self.progress is not None:
            self.progress.console.print(text)
        else:
            sys.stdout.write(f"[{time.strftime('%H:%M:%S')}] {text}\n")
            sys.stdout.flush()

    def __call__(self, kind: str, info: dict) -> None:
        n = len(self.stages)
        if kind == "skipped":
            names = [s.name for s in info["stages"]]
            self.done.update(names)
            self.line(f"already done, skipped: {', '.join(names)}")
        elif kind == "start":
            s = info["stage"]
            k = self.stages.index(s) + 1
            what = f"stage {k}/{n} {s.name}: {s.title}"
            if s.kind == "train":
                what += f" ({s.max_steps} steps" + (", continuing from last.pt" if info.get("resume") else "")
                what += (f", {info['threads']} thread(s)" if info.get("threads") else "") + ")"
            left = self.left()
            self.line(what + ("" if left is None else f"; about {_fmt_minutes(left)} of training left (estimate)"))
            if self.progress is not None and info.get("threads"):  # a worker process: its bar lives here
                self.bars[s.name] = self.progress.add_task(s.name, total=s.max_steps, info="")
        elif kind == "progress":
            s = info["stage"]
            self.steps[s.name] = info["step"]
            if self.progress is not None and s.name in self.bars:
                self.progress.update(self.bars[s.name], completed=info["step"])
            elif self.progress is None:
                last = getattr(self, "_last_log", {}).get(s.name, 0.0)
                if time.monotonic() - last >= 30:
                    self._last_log = {**getattr(self, "_last_log", {}), s.name: time.monotonic()}
                    self.line(f"{s.name}: step {info['step']}/{s.max_steps}")
        elif kind == "done":
            s = info["stage"]
            self.done.add(s.name)
            if s.name in self.bars:
                self.progress.remove_task(self.bars.pop(s.name))
            self.line(f"done {s.name} in {_fmt_minutes(info['seconds'])}")
        if self.progress is not None:
            left = self.left()
            self.progress.update(self.overall, completed=len(self.done),
                                 info="" if left is None else f"~{_fmt_minutes(left)} of training left")


def _gpus(device: str) -> list[str]:
    """The GPUs this process sees (none with --device cpu): their indices as CUDA_VISIBLE_DEVICES names them."""
    if device == "cpu":
        return []
    import torch

    return [str(i) for i in range(torch.cuda.device_count())] if torch.cuda.is_available() else []


def _estimate_device(scale, gpus: list[str]) -> tuple[str | None, str]:
    """The GPU whose measured step times estimate the trainings (None: the CPU's), and how to say it."""
    from sslr_cli.reproduce.gpu_times import MEASURED_ON

    if gpus:
        import torch

        name = torch.cuda.get_device_name(0)
        return name, f"on one {name}"
    if scale.gpu:
        return MEASURED_ON, (f"on one {MEASURED_ON} (this machine has no GPU; the step times measured there, with CUDA "
                             "graphs where they are proven, as sslr reproduce trains on a GPU)")
    return None, "at one CPU thread per run"


def _reproduce_argv(out_dir: Path, scale: str, only, seeds, device: str, clevr, threads) -> list[str]:
    """The `sslr reproduce` arguments that rebuild this plan (what each cluster job runs, with --stage)."""
    argv = ["reproduce", str(out_dir), "--scale", scale]
    argv += ["--only", only] if only else []
    argv += ["--seeds", str(seeds)] if seeds is not None else []
    argv += ["--clevr", str(clevr)] if clevr is not None else []
    argv += ["--device", device] if device != "auto" else []
    argv += ["--threads", str(threads)] if threads is not None else []
    return argv


@user_errors
def _reproduce(out_dir: Path, scale_name: str, only: Optional[str], seeds: Optional[int], device: str,
               jobs: Optional[int], dry_run: bool, report_only: bool, force: bool, execute,
               threads: Optional[int] = None, clevr: Optional[Path] = None, plan_format: str = "text",
               stage: Optional[str] = None) -> None:
    from sslr_cli.engine.device import resolve_device
    from sslr_cli.reproduce.plan import build_plan, get_scale, parse_only
    from sslr_cli.reproduce.report import write_report
    from sslr_cli.reproduce.runner import Interrupted, Runner

    if plan_format not in ("text", "sbatch"):
        raise SSLRError(f"--format {plan_format!r}: choose text or sbatch")
    if plan_format != "text" and not dry_run:
        raise SSLRError("--format: only with --dry-run (it says how the plan is printed)")
    if stage is not None and (dry_run or report_only or force):
        raise SSLRError("--stage: runs one stage; not with --dry-run, --report-only or --force")
    if clevr is not None and not clevr.is_dir():
        raise SSLRError(f"--clevr {clevr}: not a folder (a CLEVR_v1.0 layout: images/, scenes/)")
    use_threads(threads)  # this process's stages; each side-by-side training: --threads, else the cores / --jobs
    scale = get_scale(scale_name)
    gpus = _gpus(device) if (dry_run or stage is None) and not report_only else []
    estimate_on, estimate_text = _estimate_device(scale, gpus)
    # the trainings run on CUDA wherever this process sees a GPU (a --stage job too, so it asks again)
    stages = build_plan(scale, out_dir, seeds, parse_only(only), device, clevr, estimate_on, bool(_gpus(device)))
    n_seeds = scale.seeds if seeds is None else seeds
    if jobs is None:
        jobs = len(gpus) if len(gpus) > 1 else 2 if scale.parallel and not gpus and (os.cpu_count() or 1) >= 2 else 1
    o.check_ranges({"--jobs": jobs})
    if dry_run and plan_format == "sbatch":
        from sslr_cli.reproduce.slurm import sbatch_script

        print(sbatch_script(stages, _reproduce_argv(out_dir, scale.name, only, seeds, device, clevr, threads), str(out_dir)))
        return
    if dry_run:
        total = sum(s.est_seconds or 0 for s in stages)
        trainings = sum(1 for s in stages if s.kind == "train")
        unknown = sum(1 for s in stages if s.kind == "train" and s.est_seconds is None)
        print(f"# sslr reproduce {out_dir} --scale {scale.name}: {scale.about}")
        if unknown == trainings and trainings:  # no measured step time at all: say so rather than print 0
            print(f"# {len(stages)} stages; training time unknown for the {trainings} trainings "
                  f"(no measured step times for their presets {estimate_text})")
        else:
            part = (f" for {trainings - unknown} of the {trainings} trainings (unknown for {unknown}: no measured "
                    f"step times for their presets)") if unknown else ""
            print(f"# {len(stages)} stages; training about {_fmt_minutes(total)} {estimate_text}{part}, one after "
                  f"the other (estimate; runs marked 'side by side' may run {jobs} at a time)")
        print(f"mkdir -p {out_dir}/results {out_dir}/figures")
        for k, s in enumerate(stages, 1):
            extra = ""
            if s.kind == "train":
                extra = f"; {s.max_steps} steps" + ("" if s.est_seconds is None else f", ~{_fmt_minutes(s.est_seconds)}")
                extra += ", side by side" if s.parallel and jobs > 1 else ""
                extra += "; continue an interrupted run with --resume" + (
                    " (and without its --eval-data: the run keeps its held-out set)" if "--eval-data" in s.commands[0] else "")
            print(f"\n# stage {k}/{len(stages)} {s.name}: {s.title}{extra}")
            for line in s.shell():
                print(line)
        print(f"\n# then the report: {out_dir}/report.md, report.html, results.json")
        print(f"sslr reproduce {out_dir} --scale {scale.name}" + (f" --only {only}" if only else "")
              + (f" --seeds {seeds}" if seeds is not None else "") + " --report-only")
        return
    if report_only:
        if not (out_dir / "manifest.json").exists():
            raise SSLRError(f"{out_dir}: holds no reproduction (no manifest.json)")
        paths = write_report(out_dir, scale, stages, n_seeds)
        print(f"report: {paths['md']} and {paths['html']}; every number in {paths['results']}")
        return
    resolve_device(device)
    identity = {"scale": scale.name, "seeds": n_seeds}  # the device may change between runs (resume on a GPU)
    if stage is not None:  # one cluster job: that stage alone, here
        runner = Runner(stages, out_dir, identity, execute, force=False, jobs=1, threads=threads)
        try:
            runner.run(only_stage=stage)
        except Interrupted as exc:
            err.print(f"[yellow]stage {stage} stopped by {exc.signal}: its last checkpoint is kept; run the same "
                      f"command again to continue[/yellow]")
            raise typer.Exit(143 if exc.signal == "SIGTERM" else 130)
        print(f"stage {stage}: done")
        return
    runner = Runner(stages, out_dir, identity, execute, force=force, jobs=jobs, threads=threads,
                    gpus=gpus if len(gpus) > 1 else None)
    live = sys.stdout.isatty() and err.is_terminal
    display = Display(stages, jobs, live)
    runner.events = display
    t0 = time.perf_counter()
    try:
        with display:
            display.line(f"sslr reproduce {out_dir} --scale {scale.name}: {len(stages)} stages, {jobs} training job(s) at a time")
            runner.run()
    except Interrupted as exc:
        write_report(out_dir, scale, stages, n_seeds)
        err.print(f"[yellow]{'stopped by SIGTERM' if exc.signal == 'SIGTERM' else 'interrupted'} in {exc}: finished "
                  f"stages and the last checkpoint are kept; run the same command again to continue[/yellow]")
        raise typer.Exit(143 if exc.signal == "SIGTERM" else 130)
    paths = write_report(out_dir, scale, stages, n_seeds)
    print(f"done in {_fmt_minutes(time.perf_counter() - t0)}. report: {paths['md']} and {paths['html']}; "
          f"every number in {paths['results']}")
