"""`sslr match`: evaluate set-matching checkpoints on iso-circle pairs and print Table 3."""

from __future__ import annotations

import math

from rich.table import Table

from sslr_cli.commands import options as o
from sslr_cli.commands.common import err, out, print_json, progress_bar, use_threads, user_errors


def _pm(stat, mean_fmt: str, std_fmt: str) -> str:
    """"mean±std"; the mean alone for a single run (no spread to report)."""
    if math.isnan(stat.mean):
        return "—"
    if math.isnan(stat.std):
        return f"{stat.mean:{mean_fmt}}"
    return f"{stat.mean:{mean_fmt}}±" + (_e(stat.std) if std_fmt == "e" else f"{stat.std:{std_fmt}}")


def _e(x: float) -> str:
    """Short scientific notation: 2.58e-4 -> "2.6e-4"."""
    mantissa, exp = f"{x:.1e}".split("e")
    return f"{mantissa}e{int(exp)}"


@user_errors
def match_command(
    checkpoints: o.MatchCheckpoints,
    data: o.PairsData,
    limit: o.Limit = None,
    batch_size: o.PairBatchSize = 32,
    breakdown: o.Breakdown = False,
    device: o.DeviceOption = "auto",
    threads: o.Threads = None,
    quiet: o.QuietOption = False,
    as_json: o.JsonOption = False,
) -> None:
    """Table 3: relative error and L2 error of each model (seeds grouped), beside the paper's."""
    from sslr_cli.engine.device import resolve_device
    from sslr_cli.experiments.inputs import load_match_pairs
    from sslr_cli.experiments.matching import evaluate_checkpoint, group_runs

    use_threads(threads)
    o.check_ranges({"--batch-size": batch_size, "--limit": limit})
    dev = resolve_device(device)
    pairs, image_size = load_match_pairs(data, limit)
    n = int(pairs["target"].shape[0])
    runs = []
    with progress_bar(disable=quiet or as_json) as bar:
        job = bar.add_task("match", total=n * len(checkpoints), info="")
        for path in checkpoints:
            bar.update(job, info=str(path))
            runs.append(evaluate_checkpoint(path, pairs, image_size, batch_size, dev,
                                            on_batch=lambda k: bar.advance(job, k)))
    rows = group_runs(runs)
    for r in rows:
        if len(set(r.seeds)) < len(r.seeds):
            err.print(f"[yellow]warning: {r.name} has several runs with the same seed ({', '.join(r.checkpoints)}); "
                      f"its std is not a spread over seeds[/yellow]")
    by_part = None
    if breakdown:  # experiments/match_breakdown.py
        from sslr_cli.experiments.match_breakdown import breakdown as parts_of, mean_by_model
        by_part = mean_by_model([(r.name, parts_of(x.evaluation.predictions, pairs["target"].numpy()))
                                   for r in rows for x in runs if x.checkpoint in r.checkpoints])
    batches = runs[0].evaluation.batches
    zero = runs[0].evaluation.zero_targets
    if as_json:
        print_json({
            "data": str(data), "pairs": n, "batch_size": batch_size, "batches": batches, "zero_targets": zero,
            "definitions": {
                "relative_error": "100 * mean over pairs of |pred - target| / target (pairs with target 0 left out)",
                "l2_error": f"sum of squared errors over a batch of {batch_size} pairs, averaged over batches "
                            "(the paper's code's L2 error)",
                "mse": "mean over pairs of the squared error (the per-pair L2 error)",
            },
            "rows": [{
                "model": r.name, "label": r.model, "runs": len(r.seeds), "seeds": r.seeds, "checkpoints": r.checkpoints,
                "relative_error": vars(r.relative_error), "l2_error": vars(r.l2_error), "mse": vars(r.mse),
                "paper": None if r.paper is None else {"relative_error": {"mean": r.paper[0], "std": r.paper[1]},
                                                       "l2_error": {"mean": r.paper[2], "std": r.paper[3]}},
            } for r in rows],
            "runs": [{"checkpoint": r.checkpoint, "model": r.model, "preset": r.preset, "seed": r.seed,
                      "relative_error": r.evaluation.relative_error, "l2_error": r.evaluation.l2_error,
                      "mse": r.evaluation.mse} for r in runs],
            **({"breakdown": {m: [p.to_dict() for p in ps] for m, ps in by_part.items()}} if by_part else {}),
        })
        return
    from sslr_cli.experiments.matching import PAPER_TABLE3

    table = Table(title=f"Table 3: set matching, {n} pairs of {data}")
    for col in ("Model", "n", "rel. error %", "L2 error (sum/batch)", "L2 error (mean/pair)"):
        table.add_column(col, style="bold" if col == "Model" else None, justify="left" if col == "Model" else "right")
    ordered = [(label, [r for r in rows if r.model == label]) for label in PAPER_TABLE3]
    ordered += [(r.name, [r]) for r in rows if r.model not in PAPER_TABLE3]
    for label, group in ordered:
        for r in group:
            table.add_row(r.name, str(len(r.seeds)), _pm(r.relative_error, ".2f", ".2f"),
                          _pm(r.l2_error, ".4f", "e"), _pm(r.mse, ".3g", "e"))
        paper = PAPER_TABLE3.get(label)
        if paper:  # the paper's row right under ours (or alone when we have no run of it)
            name = "  paper" if group else f"{label} (paper)"
            # the paper's one L2 column, under the definition it is closer to (docs/fidelity.md: the per-pair mean)
            table.add_row(name, "3", f"{paper[0]:.2f}±{paper[1]:.2f}", "", f"{paper[2]:.3f}±{_e(paper[3])}", style="dim")
    out.print(table)
    out.print(f"n = runs (seeds) of a model: mean±sample std over them. rel. error % = mean over pairs of "
              f"|pred - target| / target" + (f" ({zero} pairs with target 0 left out)" if zero else "") + "; "
              f"L2 error (sum/batch) = sum of squared errors over a batch of {batch_size} pairs, averaged over the "
              f"{batches} batches (the paper's code); L2 error (mean/pair) = mean squared error per pair. The paper's "
              f"L2 column is shown under mean/pair, the definition its values fit (docs/fidelity.md).")
    if by_part:
        from sslr_cli.commands.diagnostics import print_match_breakdown
        print_match_breakdown(by_part)
