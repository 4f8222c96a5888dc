"""`sslr train`: train SSLR-MLP / SSLR-SRN (reconstruction) or a set-matching model.

The command only parses: its options (declared once, in ``commands/options.py``) become overrides
``{"section.field": value}`` -- an option named like a field of ``ModelConfig`` or ``TrainConfig`` sets that
field -- and ``engine.run_config.build_run_config`` makes the run's config from them, the preset and the data.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Optional

import typer
from rich.table import Table

from sslr_cli.commands import options as o
from sslr_cli.commands.common import err, out, print_json, progress_bar, use_threads, user_errors
from sslr_cli.config import ModelConfig, TrainConfig
from sslr_cli.engine.exit_codes import EXIT_CODES
from sslr_cli.errors import SSLRError

# parameters that are not config fields of the same name
_COMMAND_ONLY = {"data", "out_dir", "preset", "task", "val", "init", "seeds", "resume", "force", "device", "threads",
                 "quiet", "as_json", "print_config", "gen_opt", "extra", "settings", "log"}
_RENAMED = {"compile_": "train.compile", "recon_weight": "match.recon_weight"}
_FIELDS = {**{f.name: f"model.{f.name}" for f in fields(ModelConfig)}, **{f.name: f"train.{f.name}" for f in fields(TrainConfig)}}


def train_command(
    ctx: typer.Context,
    data: o.TrainData,
    # Data
    preset: o.Preset = None,
    task: o.Task = "reconstruct",
    val: o.Val = None,
    val_fraction: o.ValFraction = None,
    # Model
    generator: o.Generator = None,
    gen_opt: o.GenOpt = None,
    set_size: o.SetSize = None,
    element_dim: o.ElementDim = None,
    encoder_width: o.EncoderWidth = None,
    decoder_width: o.DecoderWidth = None,
    init: o.Init = None,
    recon_weight: o.ReconWeight = None,
    extra: o.Extra = None,
    settings: o.Set = None,
    # SRN refinement
    inner_steps: o.InnerStepsOption = None,
    inner_lr: o.InnerLr = None,
    late_inner_steps: o.LateInnerSteps = None,
    late_epoch: o.LateEpoch = None,
    init_mode: o.InitMode = None,
    inner_grad: o.InnerGrad = None,
    refine_precision: o.RefinePrecision = None,
    # Training
    epochs: o.Epochs = None,
    max_minutes: o.MaxMinutes = None,
    max_steps: o.MaxSteps = None,
    batch_size: o.BatchSize = None,
    lr: o.Lr = None,
    weight_decay: o.WeightDecay = None,
    precision: o.Precision = None,
    seed: o.Seed = None,
    seeds: o.Seeds = None,
    # Schedule
    lr_schedule: o.LrSchedule = None,
    warmup_steps: o.WarmupSteps = None,
    schedule_steps: o.ScheduleSteps = None,
    # Evaluation curves
    eval_every: o.EvalEvery = None,
    eval_images: o.EvalImages = None,
    eval_data: o.EvalData = None,
    keep_every: o.KeepEvery = None,
    log: o.Log = None,
    # Checkpoints
    checkpoint_minutes: o.CheckpointMinutes = None,
    checkpoint_steps: o.CheckpointSteps = None,
    resume: o.Resume = False,
    force: o.Force = False,
    # Devices
    device: o.DeviceOption = "auto",
    threads: o.Threads = None,
    compile_: o.Compile = None,
    cuda_graphs: o.CudaGraphs = None,
    sync_bn: o.SyncBn = None,
    # Output
    out_dir: o.Out = None,
    quiet: o.QuietOption = False,
    as_json: o.JsonOption = False,
    print_config: o.PrintConfig = False,
) -> None:
    """Train SSLR-MLP or SSLR-SRN; writes config.json, metrics.jsonl, last.pt and best.pt."""
    request = TrainRequest(data=data, out_dir=out_dir, preset=preset, task=task, val=val, init=init, seeds=seeds,
                           resume=resume, force=force, device=device, threads=threads, quiet=quiet, as_json=as_json,
                           settings=list(settings or []), gen_opt=list(gen_opt or []), extra=list(extra or []),
                           log=list(log or []),
                           overrides=config_overrides(ctx.params))
    run_request(request, print_config)


def config_overrides(params: dict[str, Any]) -> dict[str, Any]:
    """The parsed options (``ctx.params``) that set config fields, as ``{"section.field": value}``."""
    overrides = {}
    for name, value in params.items():
        if name in _COMMAND_ONLY:
            continue
        key = _RENAMED.get(name) or _FIELDS.get(name)
        if key is None:  # an option was added without saying what it sets
            raise SSLRError(f"sslr train: option {name!r} sets no config field (add it to commands/train.py)")
        if name == "eval_data":  # files, recorded by their absolute paths
            value = tuple(str(Path(p).resolve()) for p in value) if value else None
        overrides[key] = value
    return overrides


@dataclass
class TrainRequest:
    """What `sslr train` was asked, parsed: the config's overrides and what only the command needs."""

    data: Path
    out_dir: Optional[Path]
    preset: Optional[str]
    task: str
    val: Optional[Path]
    init: Optional[Path]
    seeds: Optional[str]
    resume: bool
    force: bool
    device: str
    threads: Optional[int]  # --threads; None: resuming, the checkpoint's count, else $SSLR_THREADS
    quiet: bool
    as_json: bool
    settings: list[str] = field(default_factory=list)  # --set SECTION.FIELD=VALUE
    gen_opt: list[str] = field(default_factory=list)  # --gen-opt KEY=VALUE = --set generator.KEY=VALUE
    extra: list[str] = field(default_factory=list)  # --extra KEY=VALUE = --set match.KEY=VALUE
    overrides: dict[str, Any] = field(default_factory=dict)
    log: list[str] = field(default_factory=list)  # --log tensorboard


@user_errors
def run_request(request: TrainRequest, print_config: bool = False) -> None:
    use_threads(request.threads)
    if print_config:
        return _print_config(request)
    if request.seeds is not None:
        return _train_seeds(request)
    summary = _train_one(request)
    if summary is None:  # a non-zero rank of a distributed job prints nothing
        return
    summary, result = summary
    if request.as_json:
        print_json(summary)
        _exit_if_signalled(result)
        return
    table = Table(title=f"sslr train: {summary['run']}", show_header=False)
    table.add_column("", style="bold")
    table.add_column("")
    for k, v in summary.items():
        table.add_row(k.replace("_", " "), f"{v:.5g}" if isinstance(v, float) else str(v))
    out.print(table)
    _exit_if_signalled(result)


def _check_request(r: TrainRequest) -> None:
    """What no config field can check: files exist, options that go together."""
    from sslr_cli.engine.device import resolve_device

    given = r.overrides
    if not r.data.exists():
        raise SSLRError(f"{r.data}: no such file")
    resolve_device(r.device)  # fail on a bad --device before any work
    for p in given.get("train.eval_data") or ():
        if not Path(p).exists():
            raise SSLRError(f"--eval-data {p}: no such file")
    held_out = given.get("train.eval_images") is not None or given.get("train.eval_data")
    if held_out and r.resume:
        raise SSLRError("--eval-images/--eval-data: a resumed run keeps its held-out set (its curve stays comparable)")
    if held_out and not given.get("train.eval_every"):
        raise SSLRError("--eval-images/--eval-data: only with --eval-every N")
    if given.get("train.eval_images") is not None and given.get("train.eval_data"):
        raise SSLRError("--eval-images/--eval-data: give one of them (the files are the held-out set)")
    if r.resume and r.out_dir is None:
        raise SSLRError("--resume: needs --out, the run directory to continue")


def _build(r: TrainRequest):
    from sslr_cli.config import parse_key_values
    from sslr_cli.engine.run_config import build_run_config, parse_settings

    settings = {**parse_settings(r.settings, "--set"),
                **{f"generator.{k}": v for k, v in parse_key_values(r.gen_opt, "--gen-opt").items()},
                **{f"match.{k}": v for k, v in parse_key_values(r.extra, "--extra").items()}}
    return build_run_config(r.data, preset=r.preset, task=r.task, overrides=r.overrides, settings=settings,
                            init=r.init)


def _print_config(r: TrainRequest) -> None:
    """--print-config: the resolved config as JSON (with --resume: the checkpoint's, as the run will continue)."""
    from sslr_cli.engine.run_config import build_run_config

    if r.seeds is not None:
        raise SSLRError("--print-config: give one --seed, not --seeds")
    _check_request(r)
    cfg = _build(r)
    if r.resume:
        from sslr_cli.engine.checkpoint import read_checkpoint

        cfg = build_run_config(r.data, overrides=_resume_overrides(r, cfg),
                               resume_from=read_checkpoint(r.out_dir / "last.pt"), run_dir=r.out_dir)
    print_json(cfg.to_dict())


def _resume_overrides(r: TrainRequest, cfg) -> dict[str, Any]:
    """What --resume compares with the checkpoint's config (``engine/run_config.resumed_config``): the options
    given, and the preset they name (``cfg``'s, resolved: --task match makes X match-X)."""
    return {**r.overrides, "preset": cfg.preset if r.preset is not None else None}


def _train_one(r: TrainRequest):
    """One run: (summary, result), or None on a non-zero rank of a distributed job."""
    from sslr_cli.engine.distributed import is_main_process, launch_training
    from sslr_cli.experiments.curves import TrainingEvaluator
    from sslr_cli.experiments.tracking import tracking_hooks  # --log: fails here, before training, without its package

    _check_request(r)
    cfg = _build(r)
    out_dir = r.out_dir
    if out_dir is None:
        out_dir = Path("runs") / f"{cfg.preset}-{cfg.model.generator}-s{cfg.train.seed}"
    trackers = tracking_hooks(r.log)
    with progress_bar(disable=r.quiet or r.as_json or not is_main_process()) as bar:  # torchrun: rank 0 shows it
        job = bar.add_task("train", total=None, info="loading data")

        def on_progress(p: dict) -> None:
            bar.update(job, total=p["batches"], completed=p["batch"], description=f"epoch {p['epoch']}",
                       info=f"step {p['step']}  loss {p['loss']:.4g}  {p['images_per_s']:.0f} img/s  r={p['r']}")

        try:
            result = launch_training(data=r.data, out_dir=out_dir, cfg=cfg, val=r.val, resume=r.resume, force=r.force,
                                     device=r.device, init=r.init, on_progress=on_progress,
                                     hooks=[TrainingEvaluator(), *trackers], resume_overrides=_resume_overrides(r, cfg),
                                     threads=r.threads)
        except KeyboardInterrupt:  # a second Ctrl-C: stopped mid-step, nothing written since the last checkpoint
            typer.echo(f"sslr train: interrupted twice; {out_dir / 'last.pt'} holds the last checkpoint", err=True)
            raise typer.Exit(EXIT_CODES["interrupted"]) from None
        finally:
            for hook in trackers:
                hook.close()
    if result is None:  # a non-zero rank of a distributed job prints nothing
        return None
    cfg = result.config or cfg  # a resumed run is what its checkpoint says, whatever the preset defaults are
    summary = {
        "run": str(result.out_dir), "preset": cfg.preset, "generator": cfg.model.generator, "task": cfg.train.task,
        "stopped": result.stopped, "epochs": result.epochs_done, "steps": result.steps,
        "train_loss": result.train_loss, "val_loss": result.last_val, "best_val_loss": result.best_val,
        "training_minutes": round(result.minutes, 3), "images_per_second": round(result.images_per_second, 1),
    }
    return summary, result


def _exit_if_signalled(result) -> None:
    """After SIGTERM / SIGINT: one line, and the exit status of a process stopped by that signal."""
    if result.stopped in EXIT_CODES:
        signame = "SIGTERM" if result.stopped == "terminated" else "SIGINT"
        typer.echo(f"sslr train: stopped by {signame} after step {result.steps}; {result.out_dir / 'last.pt'} "
                   f"saved (continue with --resume)", err=True)
        raise typer.Exit(EXIT_CODES[result.stopped])


def _parse_seeds(text: str) -> list[int]:
    try:
        seeds = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise SSLRError(f"--seeds {text!r}: expected comma-separated integers, e.g. 0,1,2") from None
    if not seeds or len(set(seeds)) != len(seeds):
        raise SSLRError(f"--seeds {text!r}: give distinct seeds, e.g. 0,1,2")
    return seeds


def _train_seeds(r: TrainRequest) -> None:
    """--seeds: the same training once per seed, into OUT/seed-K, then one summary table."""
    if r.overrides.get("train.seed") is not None:
        raise SSLRError("--seeds: give either --seed or --seeds, not both")
    summaries = []
    for k in _parse_seeds(r.seeds):
        run_out = None if r.out_dir is None else r.out_dir / f"seed-{k}"
        done = _train_one(replace(r, seeds=None, out_dir=run_out, overrides={**r.overrides, "train.seed": k}))
        if done is None:  # a non-zero rank of a distributed job prints nothing
            return
        summary = done[0]
        summaries.append({"seed": k, **summary})
        if summary["stopped"] in EXIT_CODES:
            break
    if r.as_json:
        print_json({"runs": summaries})
    else:
        table = Table(title=f"sslr train --seeds {r.seeds}")
        for col in ("seed", "run", "stopped", "epochs", "train loss", "best val loss", "minutes"):
            table.add_column(col, justify="left" if col in ("run", "stopped") else "right")
        for s in summaries:
            table.add_row(str(s["seed"]), s["run"], s["stopped"], str(s["epochs"]), f"{s['train_loss']:.5g}",
                          f"{s['best_val_loss']:.5g}", f"{s['training_minutes']:.3g}")
        out.print(table)
    if summaries and summaries[-1]["stopped"] in EXIT_CODES:
        last = summaries[-1]
        typer.echo(f"sslr train: {last['stopped']} after step {last['steps']} of seed {last['seed']}; last.pt saved "
                   f"(continue with --resume --seeds ...)", err=True)
        raise typer.Exit(EXIT_CODES[last["stopped"]])
