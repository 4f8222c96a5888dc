"""`sslr export`: a run's weights as a pickle-free ``.safetensors`` file, or finished runs' metrics as
TensorBoard events.

    sslr export RUN --to weights.safetensors     the model's weights, its config as metadata
    sslr export tensorboard RUN... [--logdir D]  metrics.jsonl -> RUN/tensorboard (or D/<run name>)
"""

from __future__ import annotations

from pathlib import Path

from sslr_cli.commands import options as o
from sslr_cli.commands.common import out, print_json, user_errors
from sslr_cli.errors import SSLRError

TRACKING_TARGETS = ("tensorboard",)


@user_errors
def export_command(
    items: o.ExportItems,
    to: o.To = None,
    logdir: o.Logdir = None,
    force: o.Overwrite = False,
    as_json: o.JsonOption = False,
) -> None:
    """Export weights (no pickle, no optimizer state) or TensorBoard events of finished runs."""
    first = items[0]
    if first in TRACKING_TARGETS and not Path(first).exists():
        if to is not None:
            raise SSLRError(f"--to: writes weights; 'sslr export {first} RUN...' writes events (use --logdir)")
        return _export_tracking(first, [Path(p) for p in items[1:]], logdir, force, as_json)
    if logdir is not None:
        raise SSLRError("--logdir: only with 'sslr export tensorboard RUN...'")
    if len(items) != 1:
        raise SSLRError(f"RUN: give one run directory or checkpoint with --to (got {len(items)}: {' '.join(items)})")
    if to is None:
        raise SSLRError("--to: give the .safetensors file to write (sslr export RUN --to weights.safetensors)")
    _export_weights(Path(first), to, force, as_json)


def _export_weights(run: Path, to: Path, force: bool, as_json: bool) -> None:
    from sslr_cli.atomic import check_output
    from sslr_cli.engine.checkpoint import checkpoint_file, checkpoint_r, load_model
    from sslr_cli.engine.weights import SUFFIX, save_weights
    from sslr_cli.experiments.checkpoints import run_name

    if not to.name.endswith(SUFFIX):
        raise SSLRError(f"--to {to}: the file name must end in {SUFFIX}")
    check_output(to, force)
    model, cfg, state = load_model(run, "cpu")  # the weights must fit the model their config describes
    r = checkpoint_r(cfg, state)
    tensors = state["model"]
    save_weights(to, tensors, cfg.to_dict(), r, state.get("step"), run_name(run), force=True)
    size = to.stat().st_size
    summary = {"weights": str(to), "from": str(checkpoint_file(run)), "preset": cfg.preset,
               "generator": cfg.model.generator, "task": cfg.train.task, "inner_steps": r, "step": state.get("step"),
               "tensors": len(tensors), "parameters": int(sum(p.numel() for p in model.parameters())), "bytes": size}
    if as_json:
        print_json(summary)
        return
    out.print(f"{to}: {summary['generator']} ({cfg.preset}, {cfg.train.task}), {summary['parameters']} parameters in "
              f"{summary['tensors']} tensors, r = {r}, step {summary['step']}; {size / 1e6:.2f} MB, "
              f"from {summary['from']}")


def _export_tracking(target: str, runs: list[Path], logdir: Path | None, force: bool, as_json: bool) -> None:
    from sslr_cli.experiments.tracking import TB_FOLDER, check_tracker, export_run, find_runs

    if not runs:
        raise SSLRError(f"RUN: give the run directories to export (sslr export {target} RUN...)")
    check_tracker(target)
    found = find_runs(runs)
    names: dict[str, int] = {}
    results = []
    for run, name in found:
        if logdir is None:
            folder = run / TB_FOLDER
        else:
            names[name] = names.get(name, 0) + 1
            folder = logdir / (name if names[name] == 1 else f"{name}-{names[name]}")
        results.append(export_run(run, folder, force))
    if as_json:
        print_json({"runs": results})
        return
    for r in results:
        out.print(f"{r['run']}: {r['lines']} metrics lines, {r['scalars']} scalars -> {r['events']}")
    out.print(f"view with: tensorboard --logdir {logdir if logdir is not None else ' '.join(map(str, runs))}")
