"""`sslr train`: train SSLR-MLP / SSLR-SRN (reconstruction) or a set-matching model."""

from __future__ import annotations

import dataclasses
import inspect
from pathlib import Path
from typing import List, Optional

import typer
from rich.table import Table

from sslr_cli.commands.common import DeviceOption, QuietOption, err, out, print_json, progress_bar, user_errors
from sslr_cli.config import PRESETS, get_preset, parse_key_values
from sslr_cli.engine.exit_codes import EXIT_CODES
from sslr_cli.errors import SSLRError
from sslr_cli.models.registry import GENERATORS, generator_help, with_full_options


def default_preset(data: Path, task: str) -> str:
    """The preset a dataset calls for when none is given: its image size picks circles or CLEVR."""
    from sslr_cli.data.store import open_scenes

    f = open_scenes(data)
    if (f.image_size == 128 or f.kind == "clevr") and task == "reconstruct":
        return "clevr-tiny" if f.image_size == 64 else "clevr-small"
    return "tiny"


def train_command(
    data: Path = typer.Argument(..., help="Training dataset (HDF5 from 'sslr gen-data').", dir_okay=False),
    out_dir: Optional[Path] = typer.Option(None, "--out", "-o", help="Run directory (default: runs/<preset>-<generator>-s<seed>)."),
    generator: Optional[str] = typer.Option(None, "--generator", "-g", help=generator_help()),
    gen_opt: Optional[List[str]] = typer.Option(None, "--gen-opt", help="A setting of the generator's own, KEY=VALUE (repeatable); "
                                                 + "; ".join(f"{n}: {', '.join(f.name for f in dataclasses.fields(s.options)) or 'none'}" for n, s in GENERATORS.items()) + "."),
    preset: Optional[str] = typer.Option(None, "--preset", "-p", help=f"Named settings: {', '.join(PRESETS)} (default: tiny; clevr-small for 128px data, clevr-tiny for 64px CLEVR; --task match maps X to match-X)."),
    task: str = typer.Option("reconstruct", "--task", help="reconstruct or match."),
    val: Optional[Path] = typer.Option(None, "--val", help="Validation dataset; without it --val-fraction of the training file is held out.", dir_okay=False),
    val_fraction: Optional[float] = typer.Option(None, "--val-fraction", help="Fraction held out for validation when no --val is given."),
    epochs: Optional[int] = typer.Option(None, "--epochs", help="Number of epochs."),
    max_minutes: Optional[float] = typer.Option(None, "--max-minutes", help="Stop cleanly after this many minutes of training (0 = no limit)."),
    max_steps: Optional[int] = typer.Option(None, "--max-steps", help="Stop cleanly once the run has taken this many optimizer steps in all (0 = no limit)."),
    checkpoint_minutes: Optional[float] = typer.Option(None, "--checkpoint-minutes", help="Rewrite last.pt mid-epoch every this many minutes (default 10; 0 = at epoch ends only)."),
    checkpoint_steps: Optional[int] = typer.Option(None, "--checkpoint-steps", help="Also rewrite last.pt every this many optimizer steps (0 = not by steps)."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", "-b", help="Global batch size (split across ranks under torchrun)."),
    lr: Optional[float] = typer.Option(None, "--lr", help="Learning rate."),
    lr_schedule: Optional[str] = typer.Option(None, "--lr-schedule", help="constant, or cosine (decay to 0 over --schedule-steps, default --max-steps, else all epochs)."),
    warmup_steps: Optional[int] = typer.Option(None, "--warmup-steps", help="Steps of linear learning-rate warm-up."),
    schedule_steps: Optional[int] = typer.Option(None, "--schedule-steps", help="Steps the cosine decay spans (0 = --max-steps, else all epochs)."),
    set_size: Optional[int] = typer.Option(None, "--set-size", help="|S|, number of set elements (the paper's code: 16; its text: 32)."),
    element_dim: Optional[int] = typer.Option(None, "--element-dim", help="D, dimension of each element (the paper's code: 10; its text: 16)."),
    inner_steps: Optional[int] = typer.Option(None, "--inner-steps", "-r", help="r, refinement steps of SRN."),
    inner_lr: Optional[float] = typer.Option(None, "--inner-lr", help="Step size of the inner gradient descent."),
    late_inner_steps: Optional[int] = typer.Option(None, "--late-inner-steps", help="r from --late-epoch on (the paper: 20)."),
    late_epoch: Optional[int] = typer.Option(None, "--late-epoch", help="Epoch at which r switches to --late-inner-steps (-1 = never)."),
    init_mode: Optional[str] = typer.Option(None, "--init-mode", help="S0 'detached' (the reference code) or 'learned' (the paper's text)."),
    inner_grad: Optional[str] = typer.Option(None, "--inner-grad", help="How SRN's r inner steps are differentiated: unrolled (exact), implicit (iDSPN's one-step approximation: memory flat in r) or truncated:K (the last K steps)."),
    refine_precision: Optional[str] = typer.Option(None, "--refine-precision", help="SRN's inner loop in fp32 under bf16 autocast ('fp32') or in the autocast dtype ('autocast')."),
    encoder_width: Optional[int] = typer.Option(None, "--encoder-width", help="Trunk width w (channels w..8w)."),
    decoder_width: Optional[int] = typer.Option(None, "--decoder-width", help="Decoder width w (channels 4w..w)."),
    precision: Optional[str] = typer.Option(None, "--precision", help="fp32, bf16 (autocast) or fp16 (CUDA only)."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Random seed (same seed, same run on CPU)."),
    device: DeviceOption = "auto",
    init: Optional[Path] = typer.Option(None, "--init", help="Initialise matching weights from this checkpoint.", dir_okay=False),
    seeds: Optional[str] = typer.Option(None, "--seeds", help="One run per seed, e.g. 0,1,2, into OUT/seed-K (without --out: runs/<preset>-<generator>-s<K>)."),
    weight_decay: Optional[float] = typer.Option(None, "--weight-decay", help="Weight decay (default 0; 1e-4 for --task match with --recon-weight > 0, as the paper)."),
    recon_weight: Optional[float] = typer.Option(None, "--recon-weight", help="--task match: add the reconstruction loss with this weight (the paper's 'SSLR-SRN (r + init)': 1, with --init)."),
    extra: Optional[List[str]] = typer.Option(None, "--extra", help="--task match setting KEY=VALUE (repeatable): loc_dim, att_dim (default 5), match_weight (0.3125), cnn_lr (1e-5)."),
    compile_: Optional[bool] = typer.Option(None, "--compile/--no-compile", help="torch.compile the model outside SRN's inner loop (opt-in; mainly for CUDA)."),
    cuda_graphs: Optional[bool] = typer.Option(None, "--cuda-graphs", help="CUDA only: capture the training step (forward with SRN's inner loop, backward, optimizer step) in a CUDA graph and replay it; --task reconstruct, one process, bf16 or fp32, not with --compile. Untested on a GPU so far (see README)."),
    sync_bn: Optional[bool] = typer.Option(None, "--sync-bn/--no-sync-bn", help="Under torchrun: batch-norm statistics over the global batch (default) or per rank."),
    eval_every: Optional[int] = typer.Option(None, "--eval-every", help="Every N optimizer steps and at the end, measure Table 1 (threshold 0.1 and 0.5), MSE and ARI on held-out circles into metrics.jsonl (circles reconstruction runs); evaluation time is not training time (--max-minutes, elapsed_s). Plot with 'sslr reconstruct --curve'."),
    eval_images: Optional[int] = typer.Option(None, "--eval-images", help="--eval-every: held-out images per circle count 1..5, made from fixed seeds, the same for every run (default 200)."),
    eval_data: Optional[List[Path]] = typer.Option(None, "--eval-data", help="--eval-every: held-out circles file(s) instead of generated images (repeatable).", dir_okay=False),
    keep_every: Optional[int] = typer.Option(None, "--keep-every", help="Also keep a checkpoint step-NNNNNN.pt every N optimizer steps."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --out from its last.pt (exactly, on CPU)."),
    force: bool = typer.Option(False, "--force", help="Start over in a non-empty --out."),
    quiet: QuietOption = False,
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Train SSLR-MLP or SSLR-SRN; writes config.json, metrics.jsonl, last.pt and best.pt."""
    _run_training(**locals())


@user_errors
def _run_training(data, out_dir, generator, preset, task, val, val_fraction, epochs, max_minutes, max_steps, batch_size, lr,
                  lr_schedule, warmup_steps, schedule_steps,
                  set_size, element_dim, inner_steps, inner_lr, late_inner_steps, late_epoch, init_mode,
                  encoder_width, decoder_width, precision, seed, device, init, resume, force, quiet, as_json,
                  seeds=None, weight_decay=None, recon_weight=None, extra=None, report=True, compile_=None, sync_bn=None,
                  gen_opt=None, checkpoint_minutes=None, checkpoint_steps=None, eval_every=None, eval_images=None,
                  eval_data=None, keep_every=None, inner_grad=None, refine_precision=None, cuda_graphs=None):
    if seeds is not None:  # first, while locals() are exactly the options
        return _train_seeds(dict(locals()))
    from sslr_cli.engine.device import resolve_device
    from sslr_cli.engine.distributed import is_main_process, launch_training
    from sslr_cli.engine.run_config import check_run_config
    from sslr_cli.experiments.curves import TrainingEvaluator

    if not data.exists():
        raise SSLRError(f"{data}: no such file")
    resolve_device(device)  # fail on a bad --device before any work
    for p in eval_data or []:
        if not p.exists():
            raise SSLRError(f"--eval-data {p}: no such file")
    if (eval_images is not None or eval_data) and resume:
        raise SSLRError("--eval-images/--eval-data: a resumed run keeps its held-out set (its curve stays comparable)")
    if (eval_images is not None or eval_data) and not eval_every:
        raise SSLRError("--eval-images/--eval-data: only with --eval-every N")
    if eval_images is not None and eval_data:
        raise SSLRError("--eval-images/--eval-data: give one of them (the files are the held-out set)")
    if resume and out_dir is None:
        raise SSLRError("--resume: needs --out, the run directory to continue")
    preset_name = preset or default_preset(data, task)
    if task == "match" and not preset_name.startswith("match-"):
        preset_name = "match-" + preset_name  # --preset small --task match means match-small
    base = get_preset(preset_name)
    # a preset's generator options belong to its generator; --gen-opt adds to or replaces them
    same_generator = generator in (None, base.model.generator)
    options = {**(base.model.generator_options if same_generator else {}), **parse_key_values(gen_opt, "--gen-opt")}
    cfg = base.with_overrides(
        model=dict(generator=generator, generator_options=options,
                   set_size=set_size, element_dim=element_dim, inner_steps=inner_steps,
                   inner_lr=inner_lr, init_mode=init_mode, encoder_width=encoder_width, decoder_width=decoder_width,
                   inner_grad=inner_grad, refine_precision=refine_precision),
        train=dict(task=task, epochs=epochs, max_minutes=max_minutes, max_steps=max_steps, batch_size=batch_size, lr=lr,
                   lr_schedule=lr_schedule, warmup_steps=warmup_steps, schedule_steps=schedule_steps,
                   late_inner_steps=late_inner_steps, late_epoch=late_epoch, precision=precision, seed=seed,
                   val_fraction=val_fraction, weight_decay=weight_decay, compile=compile_, sync_bn=sync_bn,
                   cuda_graphs=cuda_graphs,
                   checkpoint_minutes=checkpoint_minutes, checkpoint_steps=checkpoint_steps,
                   eval_every=eval_every, eval_images=eval_images, keep_every=keep_every,
                   eval_data=tuple(str(p.resolve()) for p in eval_data) if eval_data else None),
    )
    check_run_config(cfg)
    cfg = dataclasses.replace(cfg, model=with_full_options(cfg.model))
    if cfg.train.task == "match":
        from sslr_cli.engine.match_task import configure_matching

        cfg = configure_matching(cfg, lr_given=lr is not None, weight_decay_given=weight_decay is not None,
                                 recon_weight=recon_weight, extra=extra, init=init)
    elif recon_weight is not None or extra:
        raise SSLRError("--recon-weight/--extra: only for --task match")
    if out_dir is None:
        out_dir = Path("runs") / f"{cfg.preset}-{cfg.model.generator}-s{cfg.train.seed}"
    with progress_bar(disable=quiet or as_json or not is_main_process()) as bar:  # torchrun: rank 0 shows it
        job = bar.add_task("train", total=None, info="loading data")

        def on_progress(p: dict) -> None:
            bar.update(job, total=p["batches"], completed=p["batch"], description=f"epoch {p['epoch']}",
                       info=f"step {p['step']}  loss {p['loss']:.4g}  {p['images_per_s']:.0f} img/s  r={p['r']}")

        try:
            result = launch_training(data=data, out_dir=out_dir, cfg=cfg, val=val, resume=resume, force=force,
                                     device=device, init=init, on_progress=on_progress, hooks=[TrainingEvaluator()],
                                     resume_overrides=dict(epochs=epochs, max_minutes=max_minutes, max_steps=max_steps,
                                                           compile=compile_, cuda_graphs=cuda_graphs,
                                                           checkpoint_minutes=checkpoint_minutes,
                                                           checkpoint_steps=checkpoint_steps,
                                                           eval_every=eval_every, keep_every=keep_every))
        except KeyboardInterrupt:  # a second Ctrl-C: stopped mid-step, nothing written since the last checkpoint
            typer.echo(f"sslr train: interrupted twice; {out_dir / 'last.pt'} holds the last checkpoint", err=True)
            raise typer.Exit(EXIT_CODES["interrupted"]) from None
    if result is None:  # a non-zero rank of a distributed job prints nothing
        return
    cfg = result.config or cfg  # a resumed run is what its checkpoint says, whatever the preset defaults are
    summary = {
        "run": str(result.out_dir), "preset": cfg.preset, "generator": cfg.model.generator, "task": cfg.train.task,
        "stopped": result.stopped, "epochs": result.epochs_done, "steps": result.steps,
        "train_loss": result.train_loss, "val_loss": result.last_val, "best_val_loss": result.best_val,
        "training_minutes": round(result.minutes, 3), "images_per_second": round(result.images_per_second, 1),
    }
    if not report:  # one run of --seeds: the caller reports
        return summary
    if as_json:
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


def _train_seeds(args: dict) -> None:
    """--seeds: the same training once per seed, into OUT/seed-K, then one summary table."""
    if args["seed"] is not None:
        raise SSLRError("--seeds: give either --seed or --seeds, not both")
    summaries = []
    for k in _parse_seeds(args["seeds"]):
        run_out = None if args["out_dir"] is None else args["out_dir"] / f"seed-{k}"
        options = {k2: v for k2, v in args.items() if k2 in inspect.signature(_run_training).parameters}
        summary = _run_training(**{**options, "seeds": None, "seed": k, "out_dir": run_out, "report": False})
        if summary is None:  # a non-zero rank of a distributed job prints nothing
            return
        summaries.append({"seed": k, **summary})
        if summary["stopped"] in EXIT_CODES:
            break
    if args["as_json"]:
        print_json({"runs": summaries})
    else:
        table = Table(title=f"sslr train --seeds {args['seeds']}")
        for col in ("seed", "run", "stopped", "epochs", "train loss", "best val loss", "minutes"):
            table.add_column(col, justify="left" if col in ("run", "stopped") else "right")
        for r in summaries:
            table.add_row(str(r["seed"]), r["run"], r["stopped"], str(r["epochs"]), f"{r['train_loss']:.5g}",
                          f"{r['best_val_loss']:.5g}", f"{r['training_minutes']:.3g}")
        out.print(table)
    if summaries and summaries[-1]["stopped"] in EXIT_CODES:
        last = summaries[-1]
        typer.echo(f"sslr train: {last['stopped']} after step {last['steps']} of seed {last['seed']}; last.pt saved "
                   f"(continue with --resume --seeds ...)", err=True)
        raise typer.Exit(EXIT_CODES[last["stopped"]])
