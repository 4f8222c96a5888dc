"""Learning curves: Table 1 on the test files while the circles trainings run (`sslr train --eval-every`),
plotted by one stage `curve` (`sslr reconstruct --curve`). The scale's ``curve_points`` says how many
points; 0: none, and no stage."""

from __future__ import annotations

import math
from pathlib import Path

from sslr_cli.models.registry import label
from sslr_cli.reproduce.blocks import Block, fmt, mean_std
from sslr_cli.reproduce.context import PlanContext
from sslr_cli.reproduce.experiment import Experiment, collect_stage
from sslr_cli.reproduce.stage import Stage

GROUP = "table1"


def training_flags(ctx: PlanContext, generator: str, test_files: list[str]) -> tuple[tuple[str, ...], dict, float | None]:
    """What a circles training of ``generator`` adds to measure its curve: its `sslr train` options, its
    settings, and the seconds the measurements take (None: unknown); nothing when the scale has no curve."""
    scale = ctx.scale
    if scale.curve_points <= 0:
        return (), {}, None
    every = max(1, -(-scale.steps[generator] // scale.curve_points))  # ceil: the last point is the end
    argv = ("--eval-every", str(every), *(a for e in test_files for a in ("--eval-data", e)))
    per = ctx.eval_image_seconds(scale.preset, generator)
    points = -(-scale.steps[generator] // every)
    seconds = None if per is None else points * per * scale.n_eval * len(scale.counts)
    return argv, {"eval_every": every}, seconds


def stages(ctx: PlanContext) -> list[Stage]:
    scale, p = ctx.scale, ctx.p
    if scale.curve_points <= 0:
        return []
    trained = [s for pair in zip(ctx.runs["circles-srn"], ctx.runs["circles-mlp"]) for s in pair]
    return [Stage(
        "curve", GROUP, "eval", "Learning curves: Table 1 on the test files while training",
        (("reconstruct", "--curve", *(s.run_dir for s in trained), "--figure", p("figures/curve.png"), "--force",
          "--json"),),
        (p("results/curve.json"), p("figures/curve.png")), tuple(s.name for s in trained),
        {"threshold": 0.1, "points": scale.curve_points, "images_per_count": scale.n_eval},
        stdout=p("results/curve.json"))]


def _seed_of(source: str, fallback: int) -> int:
    """The seed of a run from its directory name (``runs/circles-srn/seed-0/metrics.jsonl``)."""
    name = Path(source).parent.name if source.endswith(".jsonl") else Path(source).name
    tail = name.removeprefix("seed-")
    return int(tail) if tail.isdigit() else fallback


def curve_results(data: dict) -> dict:
    """Per generator, per seed: the eval points of its training (step, minutes, rates per count, MSE, ARI)."""
    ours: dict[str, list[dict]] = {}
    for i, run in enumerate(data["runs"]):
        name = label(run["generator"]) if run.get("generator") else run["label"]
        seeds = ours.setdefault(name, [])
        seeds.append({"seed": _seed_of(run["source"], len(seeds)), "run": str(Path(run["source"]).parent),
                      "points": [{"step": p["step"], "minutes": p["minutes"], "rates": p["rates"], "mse": p["mse"],
                                  "ari": p.get("ari")} for p in run["points"]]})
    counts = sorted({int(k) for runs in ours.values() for r in runs for p in r["points"] for k in p["rates"]})
    return {"threshold": data["threshold"], "counts": counts, "figure": "figures/curve.png", "ours": ours}


def curve_blocks(curve: dict) -> list[Block]:
    """"Learning curves": one row per generator, seed and measured step; with several seeds also their
    mean ± std at the steps every seed measured."""
    ks = curve["counts"]
    known = (label("mlp"), label("srn"))
    rows = []
    for gen in (*known, *(g for g in curve["ours"] if g not in known)):
        runs = sorted(curve["ours"].get(gen, []), key=lambda r: r["seed"])
        for r in runs:
            for p in r["points"]:
                rows.append((gen, str(r["seed"]), str(p["step"]), fmt(p["minutes"]),
                             *[fmt(p["rates"].get(str(k))) for k in ks], fmt(p["mse"], 4)))
        if len(runs) > 1:
            steps = sorted(set.intersection(*({p["step"] for p in r["points"]} for r in runs)))
            for step in steps:
                pts = [next(p for p in r["points"] if p["step"] == step) for r in runs]
                cells = []
                for k in ks:
                    mean, std = mean_std([p["rates"].get(str(k)) for p in pts])
                    cells.append(fmt(mean) + ("" if math.isnan(std) else f" ± {fmt(std)}"))
                rows.append((gen, f"mean of {len(runs)}", str(step), fmt(mean_std([p["minutes"] for p in pts])[0]),
                             *cells, fmt(mean_std([p["mse"] for p in pts])[0], 4)))
    return [Block("h2", "Learning curves"),
            Block("table", headers=("model", "seed", "step", "minutes", *(f"{k} circle{'s' if k != 1 else ''}" for k in ks),
                                    "MSE"), rows=tuple(rows)),
            Block("p", f"% of images completely disentangled (threshold {curve['threshold']:g}) on the Table 1 test "
                       f"images, measured while training (`sslr train --eval-every`; the time of the measurement is "
                       f"not training time); minutes of training; MSE per pixel. The last point is the end of training."),
            Block("figure", "Learning curves: Table 1 against optimizer steps (top) and training minutes (bottom)",
                  path=curve["figure"])]


def blocks(curve: dict | None) -> list[Block]:
    return curve_blocks(curve) if curve else []


EXPERIMENT = Experiment(GROUP, stages, collect_stage("curve", curve_results), blocks)
