"""The stage plan of `sslr reproduce`: what each scale runs, as data.

A stage is a list of `sslr` command lines (argv after ``sslr``), the files they produce, the stages they
need, and the settings they use. The runner executes exactly these argv through the CLI in-process, and
``--dry-run`` prints them, so a user can copy them into a shell script or a cluster job and get the same
files. Presets are named, never copied: a stage says ``--preset tiny`` and the preset's current values
(all in `config.PRESETS`) decide at run time.

Training budgets are optimizer steps (``--max-steps``), so a run is the same whatever else shares the
machine; an estimate of the time is shown beside them (``STEP_SECONDS``, measured single-thread CPU
seconds per step on the 2-core machine the CPU scales were sized on; GPU scales show none).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field, replace
from pathlib import Path

from sslr_cli.errors import SSLRError

GROUPS = ("table1", "figures", "table3", "table2")  # what --only selects (plus the stages they need)

# Single-thread CPU seconds per optimizer step, batch of the preset (docs/presets.md; bench.py).
# Set matching (fp32, studies/table3-cpu/match_steps.py): "srn-ri" is r + init decoding 4 images A (match-small: 8).
STEP_SECONDS = {("tiny", "srn"): 0.23, ("tiny", "mlp"): 0.19, ("small", "srn"): 0.54, ("small", "mlp"): 0.47,
                ("clevr-tiny", "srn"): 0.58, ("clevr-tiny", "mlp"): 0.21,
                ("match-tiny", "cnn"): 0.034, ("match-tiny", "mlp"): 0.034, ("match-tiny", "srn"): 0.078,
                ("match-tiny", "srn-ri"): 0.126, ("match-small", "cnn"): 0.083, ("match-small", "mlp"): 0.085,
                ("match-small", "srn"): 0.167, ("match-small", "srn-ri"): 0.367}

# Single-thread CPU seconds per image of one learning-curve measurement (studies/speed/eval_cost.py,
# studies/speed/results/eval-cost-tiny.json; fp32 forward pass and the Table 1 / ARI statistics).
EVAL_IMAGE_SECONDS = {("tiny", "srn"): 0.0095, ("tiny", "mlp"): 0.0091}


@dataclass(frozen=True)
class Stage:
    """One step of the plan. ``commands`` are argv lists for `sslr`; ``stdout`` (relative to OUT) receives
    the `--json` output of an evaluation command; ``outputs`` are the files the stage must leave."""

    name: str
    group: str  # table1 / figures / table3 / table2: which --only groups need it (first one listed)
    kind: str  # data, train, eval
    title: str
    commands: tuple[tuple[str, ...], ...]
    outputs: tuple[str, ...] = ()
    needs: tuple[str, ...] = ()
    settings: dict = field(default_factory=dict, compare=False, hash=False)
    stdout: str | None = None  # for eval stages: where the command's --json output goes
    parallel: bool = False  # a training stage: may run beside the next ones (`--jobs`) unless it needs them
    est_seconds: float | None = None

    def shell(self, prefix: str = "sslr") -> list[str]:
        """The stage as shell lines (what --dry-run prints)."""
        lines = []
        for argv in self.commands:
            line = " ".join([prefix, *(shlex.quote(a) for a in argv)])
            if self.stdout:
                line += f" > {shlex.quote(self.stdout)}"
            lines.append(line)
        return lines

    @property
    def run_dir(self) -> str | None:
        """The run directory of a training stage (its --out)."""
        if self.kind != "train":
            return None
        argv = self.commands[0]
        return argv[argv.index("--out") + 1]

    @property
    def max_steps(self) -> int | None:
        if self.kind != "train":
            return None
        argv = self.commands[0]
        return int(argv[argv.index("--max-steps") + 1])


@dataclass(frozen=True)
class Scale:
    """How big a reproduction is. Step budgets per training; data sizes; evaluation sizes."""

    name: str
    about: str
    groups: tuple[str, ...]  # what runs without --only
    preset: str  # circles reconstruction preset (also picks match-<preset> for Table 3)
    clevr_preset: str | None
    n_train: int  # circles training images
    n_eval: int  # images per circle count for Table 1 (the paper: 1000)
    counts: tuple[int, ...]
    steps: dict  # generator -> optimizer steps for circles reconstruction
    match_steps: dict  # cnn/mlp/srn/srn-ri -> steps
    n_iso_train: int
    n_iso_test: int
    clevr_steps: dict
    n_clevr_train: int
    n_clevr_val: int
    seeds: int  # training seeds per model (Table 1 and Table 3)
    tsne_grid: int
    tsne3_grid: int
    samples: int = 5
    parallel: bool = True  # by default train two runs side by side (one process each, --jobs 2): the CPU scales
    val_fraction: float = 0.0  # held out of the circles training file (0: best.pt = the last weights)
    n_val: int = 0  # a circles validation file of its own (--val), so that training sees all n_train images
    extra_train: tuple[str, ...] = ()  # appended to every `sslr train` line (the toy scale's widths)
    hidden: bool = False
    clevr_size: int = 128  # rendered CLEVR side in pixels (clevr-tiny works on 64)
    # Learning curves: every circles training measures Table 1 on the scale's test files every
    # ceil(steps / curve_points) steps and at the end (`sslr train --eval-every`): curve_points points, the
    # last one at the end; the stage `curve` plots them. 0 = none: the demo (it must stay short); toy has two (the tests exercise them).
    curve_points: int = 0
    # Table 3's seeds when --seeds is not given (None: ``seeds``): its runs are cheap next to Table 1's, and
    # the paper reports them as mean ± std over three runs
    match_seeds: int | None = None


SCALES: dict[str, Scale] = {
    "toy": Scale(
        "toy", "a smoke test in seconds (tests use it); numbers mean nothing", GROUPS, "tiny", "clevr-small",
        n_train=64, n_eval=4, counts=(1, 2, 3), steps={"srn": 16, "mlp": 16},
        match_steps={"cnn": 4, "mlp": 4, "srn": 4, "srn-ri": 4}, n_iso_train=64, n_iso_test=16,
        clevr_steps={"srn": 2, "mlp": 2}, n_clevr_train=16, n_clevr_val=4, seeds=1, tsne_grid=3, tsne3_grid=2,
        samples=2, parallel=False,
        extra_train=("--encoder-width", "4", "--decoder-width", "4", "--set-size", "4", "--element-dim", "3",
                     "--batch-size", "8", "--inner-steps", "2"),
        hidden=True, curve_points=2),
    # demo: 1500 steps each, because there SRN led MLP for 1, 2 and 3 circles in both seeds of the GPU sweep
    # (studies/cpu-presets/results/gpu-sweep-*.jsonl, tiny, Adam 1e-2: SRN 32.2/18.4/15.8 and 27.4/17.0/9.8 %
    # vs MLP 22.8/9.4/5.6 and 23.4/8.8/5.0 %) while at 1000 steps seed 1 was behind for 3 circles; on this
    # project's 2-core CPU, SRN after 1321 steps led MLP after 1613 (29.3/15.5/14.0 vs 25.0/10.4/5.9 %).
    # Training: ~5.8 min for SRN beside ~4.8 min for MLP (0.23 / 0.19 s per step at one thread each).
    "demo": Scale(
        "demo", "Table 1 and Fig. 2-6 from the tiny preset, about 7 minutes on 2 CPU cores", ("table1", "figures"),
        "tiny", None, n_train=64000, n_eval=250, counts=(1, 2, 3, 4, 5), steps={"srn": 1500, "mlp": 1500},
        match_steps={"cnn": 600, "mlp": 600, "srn": 600, "srn-ri": 600}, n_iso_train=8000, n_iso_test=1000,
        clevr_steps={"srn": 300, "mlp": 300}, n_clevr_train=1000, n_clevr_val=200, seeds=1, tsne_grid=8,
        tsne3_grid=5),
    "tiny": Scale(
        "tiny", "every table and figure from the tiny presets, Table 3 over three seeds, about 1.5 hours on 2 CPU cores", GROUPS,
        "tiny", "clevr-tiny", n_train=64000, n_eval=1000, counts=(1, 2, 3, 4, 5),
        steps={"srn": 2650, "mlp": 2650}, match_steps={"cnn": 3000, "mlp": 3000, "srn": 3000, "srn-ri": 3000},
        n_iso_train=64000, n_iso_test=4000, clevr_steps={"srn": 600, "mlp": 600}, n_clevr_train=2000,
        n_clevr_val=200, seeds=1, tsne_grid=16, tsne3_grid=10, clevr_size=64, match_seeds=3, curve_points=4),
    "small": Scale(
        "small", "every table and figure from the small presets, the best a 2-core CPU does in a few hours",
        GROUPS, "small", "clevr-small", n_train=64000, n_eval=1000, counts=(1, 2, 3, 4, 5),
        steps={"srn": 6700, "mlp": 6700}, match_steps={"cnn": 4000, "mlp": 4000, "srn": 4000, "srn-ri": 4000},
        n_iso_train=64000, n_iso_test=4000, clevr_steps={"srn": 3000, "mlp": 3000}, n_clevr_train=10000,
        n_clevr_val=1000, seeds=3, tsne_grid=16, tsne3_grid=10, curve_points=4),
    "paper": Scale(
        "paper", "the paper's settings (100 epochs of 64000 images, 60 epochs of set matching): a GPU",
        GROUPS, "paper", "clevr-paper", n_train=64000, n_eval=1000, counts=(1, 2, 3, 4, 5),
        steps={"srn": 100_000, "mlp": 100_000},  # 100 epochs x 1000 batches of 64
        match_steps={"cnn": 120_000, "mlp": 120_000, "srn": 120_000, "srn-ri": 120_000},  # 60 epochs x 2000 of 32
        n_iso_train=64000, n_iso_test=4000, clevr_steps={"srn": 220_000, "mlp": 220_000},  # 100 epochs of 70000 / 32
        n_clevr_train=70000, n_clevr_val=15000, seeds=3, tsne_grid=16, tsne3_grid=10, parallel=False,
        n_val=4000, curve_points=20),  # all 64000 images train (1000 steps an epoch: r switches at step 20000);
    # validation on 4000 images of their own, as the paper's 4000 test images (the authors' code keeps the best
    # test loss; sslr's best.pt is the best validation loss)
}



def parse_only(text: str | None) -> tuple[str, ...] | None:
    if text is None:
        return None
    names = tuple(part.strip() for part in text.split(",") if part.strip())
    bad = [n for n in names if n not in GROUPS]
    if bad or not names:
        raise SSLRError(f"--only {text!r}: choose from {','.join(GROUPS)} (comma-separated)")
    return names


def get_scale(name: str) -> Scale:
    if name not in SCALES:
        shown = [n for n, s in SCALES.items() if not s.hidden]
        raise SSLRError(f"--scale {name!r}: choose one of {', '.join(shown)}")
    return SCALES[name]


def _est(preset: str, generator: str, steps: int, parallel: bool) -> float | None:
    per = STEP_SECONDS.get((preset, generator))
    return None if per is None else per * steps


def build_plan(scale: Scale, out: str | Path, seeds: int | None = None, only: tuple[str, ...] | None = None,
               device: str = "auto") -> list[Stage]:
    """The stages of ``scale`` writing under ``out``, in order; ``only`` keeps those groups and what they need."""
    o = str(out).rstrip("/") or "."
    p = lambda rel: f"{o}/{rel}"  # noqa: E731
    n_seeds = scale.seeds if seeds is None else seeds
    if n_seeds < 1:
        raise SSLRError(f"--seeds {n_seeds}: must be >= 1")
    dev = () if device == "auto" else ("--device", device)
    stages: list[Stage] = []

    def train_stage(name, group, title, data, run, preset, generator, steps, seed, extra=(), needs=(),
                    settings=None, est_key=None):
        argv = ("train", data, "--preset", preset, "--generator", generator, "--out", run,
                "--max-steps", str(steps), "--seed", str(seed), *extra, *scale.extra_train, *dev)
        return Stage(name, group, "train", title, (argv,), (f"{run}/best.pt", f"{run}/last.pt"), needs,
                     {"preset": preset, "generator": generator, "steps": steps, "seed": seed, **(settings or {})},
                     parallel=True, est_seconds=_est(*(est_key or (preset, generator)), steps, scale.parallel))

    # --- circles: data, SSLR-SRN and SSLR-MLP, Table 1 and Fig. 3, Fig. 2/4/5/6
    evals = [p(f"data/k{k}.h5") for k in scale.counts]
    stages.append(Stage(
        "data-circles", "table1", "data", "Circles training set and Table 1 test sets",
        (("gen-data", "circles", p("data/circles-train.h5"), "--n", str(scale.n_train), "--seed", "0", "--force", "-q"),
         *((("gen-data", "circles", p("data/circles-val.h5"), "--n", str(scale.n_val), "--seed", "1", "--force", "-q"),)
           if scale.n_val else ()),
         *(("gen-data", "circles", e, "--n", str(scale.n_eval), "--count", str(k), "--seed", str(1000 + k), "--force",
            "-q") for k, e in zip(scale.counts, evals))),
        (p("data/circles-train.h5"), *((p("data/circles-val.h5"),) if scale.n_val else ()), *evals), (),
        {"train_images": scale.n_train, "validation_images": scale.n_val, "eval_images_per_count": scale.n_eval,
         "counts": list(scale.counts)}))
    vf = ("--val", p("data/circles-val.h5")) if scale.n_val else ("--val-fraction", f"{scale.val_fraction:g}")
    runs: dict[str, list[str]] = {"srn": [], "mlp": []}
    for seed in range(n_seeds):
        for gen in ("srn", "mlp"):
            run = p(f"runs/circles-{gen}/seed-{seed}")
            runs[gen].append(run)
            curve, curve_settings = (), {}
            if scale.curve_points > 0:  # Table 1 on the test files while training (outside the step timer)
                every = max(1, -(-scale.steps[gen] // scale.curve_points))  # ceil: the last point is the end
                curve = ("--eval-every", str(every), *(a for e in evals for a in ("--eval-data", e)))
                curve_settings = {"eval_every": every}
                per = EVAL_IMAGE_SECONDS.get((scale.preset, gen))
            stage = train_stage(
                f"train-{gen}-s{seed}", "table1", f"SSLR-{gen.upper()} on circles, seed {seed}",
                p("data/circles-train.h5"), run, scale.preset, gen, scale.steps[gen], seed, (*vf, *curve),
                ("data-circles",), {"train_images": scale.n_train, "val_fraction": scale.val_fraction,
                                    **curve_settings})
            if curve and per is not None and stage.est_seconds is not None:  # the measurements take time too
                points = -(-scale.steps[gen] // every)
                stage = replace(stage, est_seconds=stage.est_seconds + points * per * scale.n_eval * len(scale.counts))
            stages.append(stage)
    trained = tuple(s.name for s in stages if s.kind == "train")
    all_runs = [r for pair in zip(runs["srn"], runs["mlp"]) for r in pair]
    data_args = tuple(a for e in evals for a in ("--data", e))
    stages.append(Stage(
        "table1", "table1", "eval", "Table 1 (complete disentanglement) and Fig. 3 (decompositions)",
        (("reconstruct", *all_runs, *data_args, "--samples", str(scale.samples), "--figure", p("figures/fig3-reconstruct.png"),
          "--force", "--json", *dev),),
        (p("results/table1.json"), p("figures/fig3-reconstruct.png")), trained,
        {"threshold": 0.1, "images_per_count": scale.n_eval}, stdout=p("results/table1.json")))
    if scale.curve_points > 0:
        stages.append(Stage(
            "curve", "table1", "eval", "Learning curves: Table 1 on the test files while training",
            (("reconstruct", "--curve", *all_runs, "--figure", p("figures/curve.png"), "--force", "--json"),),
            (p("results/curve.json"), p("figures/curve.png")), trained,
            {"threshold": 0.1, "points": scale.curve_points, "images_per_count": scale.n_eval},
            stdout=p("results/curve.json")))
    pair = (runs["srn"][0], runs["mlp"][0])  # figures: seed 0 of each
    fig_needs = ("train-srn-s0", "train-mlp-s0")
    for name, title, argv, fig in (
        ("fig2", "Fig. 2: responsibility as a circle moves", ("interpolate", *pair, "--mode", "shift", "--frames", "10"),
         "fig2-shift.png"),
        ("fig4", "Fig. 4: latent interpolation, empty element to circle", ("interpolate", *pair, "--mode", "latent",
                                                                            "--steps", "10"), "fig4-latent.png"),
        ("fig5", "Fig. 5: 2-D t-SNE of one-circle elements", ("tsne", *pair, "--grid", str(scale.tsne_grid)),
         "fig5-tsne2d.png"),
        ("fig6", "Fig. 6: 3-D t-SNE (x, y, radius, colour)", ("tsne", *pair, "--dims", "3", "--grid",
                                                              str(scale.tsne3_grid)), "fig6-tsne3d.png"),
    ):
        stages.append(Stage(name, "figures", "eval", title,
                            ((*argv, "--figure", p(f"figures/{fig}"), "--force", "--json", *dev),),
                            (p(f"results/{name}.json"), p(f"figures/{fig}")), fig_needs, {},
                            stdout=p(f"results/{name}.json")))

    # --- set matching: Table 3
    stages.append(Stage(
        "data-iso", "table3", "data", "Set-matching pairs (two circles moved)",
        (("gen-data", "isocircles", p("data/iso-train.h5"), "--n", str(scale.n_iso_train), "--seed", "1", "--force", "-q"),
         ("gen-data", "isocircles", p("data/iso-test.h5"), "--n", str(scale.n_iso_test), "--seed", "2", "--force", "-q")),
        (p("data/iso-train.h5"), p("data/iso-test.h5")), (), {"train_pairs": scale.n_iso_train,
                                                              "test_pairs": scale.n_iso_test}))
    match_runs = []
    match_seeds = n_seeds if seeds is not None or scale.match_seeds is None else scale.match_seeds
    for seed in range(match_seeds):
        for model in ("cnn", "mlp", "srn", "srn-ri"):
            run = p(f"runs/match-{model}/seed-{seed}")
            match_runs.append(run)
            gen = "srn" if model == "srn-ri" else model
            extra = ("--task", "match")
            needs = ("data-iso",)
            if model == "srn-ri":  # SSLR-SRN (r + init): reconstruction loss, weights from the circles SRN
                extra += ("--recon-weight", "1", "--init", f"{runs['srn'][0]}/best.pt")
                needs += ("train-srn-s0",)
            stages.append(train_stage(
                f"match-{model}-s{seed}", "table3", f"Set matching, {model.upper()}, seed {seed}", p("data/iso-train.h5"),
                run, scale.preset, gen, scale.match_steps[model], seed, extra, needs, {"task": "match"},
                est_key=(f"match-{scale.preset}", model)))
    stages.append(Stage(
        "table3", "table3", "eval", "Table 3: set matching (relative and L2 error)",
        (("match", *match_runs, "--data", p("data/iso-test.h5"), "--json", *dev),), (p("results/table3.json"),),
        tuple(s.name for s in stages if s.name.startswith("match-")), {}, stdout=p("results/table3.json")))

    # --- CLEVR-style scenes: Table 2
    if scale.clevr_preset:
        stages.append(Stage(
            "data-clevr", "table2", "data", f"CLEVR-style scenes (rendered, {scale.clevr_size}x{scale.clevr_size})",
            (("gen-data", "clevr", p("data/clevr-train.h5"), "--n", str(scale.n_clevr_train), "--size", str(scale.clevr_size), "--seed", "1", "--force",
              "-q"),
             ("gen-data", "clevr", p("data/clevr-val.h5"), "--n", str(scale.n_clevr_val), "--size", str(scale.clevr_size), "--seed", "2", "--force", "-q")),
            (p("data/clevr-train.h5"), p("data/clevr-val.h5")), (), {"train_images": scale.n_clevr_train,
                                                                     "val_images": scale.n_clevr_val}))
        clevr_runs = []
        for gen in ("srn", "mlp"):
            run = p(f"runs/clevr-{gen}")
            clevr_runs.append(run)
            stages.append(train_stage(f"clevr-{gen}", "table2", f"SSLR-{gen.upper()} on CLEVR", p("data/clevr-train.h5"),
                                      run, scale.clevr_preset, gen, scale.clevr_steps[gen], 0, ("--val-fraction", "0"),
                                      ("data-clevr",)))
        stages.append(Stage(
            "table2", "table2", "eval", "Table 2: IoU on CLEVR",
            (("iou", *clevr_runs, "--data", p("data/clevr-val.h5"), "--json", *dev),), (p("results/table2.json"),),
            ("clevr-srn", "clevr-mlp"), {}, stdout=p("results/table2.json")))

    groups = scale.groups if only is None else only
    return select(stages, groups)


def select(stages: list[Stage], groups: tuple[str, ...]) -> list[Stage]:
    """The stages of ``groups`` and every stage they need, in plan order."""
    by_name = {s.name: s for s in stages}
    keep: set[str] = set()
    todo = [s.name for s in stages if s.group in groups]
    while todo:
        name = todo.pop()
        if name not in keep:
            keep.add(name)
            todo.extend(by_name[name].needs)
    return [s for s in stages if s.name in keep]
