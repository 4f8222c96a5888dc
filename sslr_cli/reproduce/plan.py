"""The stage plan of `sslr reproduce`: what each scale runs, as data.

A stage is a list of `sslr` command lines (argv after ``sslr``), the files they produce, the stages they
need, and the settings they use (``stage.Stage``). The runner executes exactly these argv through the CLI
in-process, and ``--dry-run`` prints them, so a user can copy them into a shell script or a cluster job and
get the same files. Presets are named, never copied: a stage says ``--preset tiny`` and the preset's current
values (all in `config.PRESETS`) decide at run time.

The stages come from the experiment registry (``experiments.EXPERIMENTS``, one entry per table or figure),
in its order; this module holds the scales and selects what ``--only`` asks for. Training budgets are
optimizer steps (``--max-steps``), so a run is the same whatever else shares the machine; an estimate of
the time is shown beside them (``estimates.py``).
"""

from __future__ import annotations

from pathlib import Path

from sslr_cli.errors import SSLRError
from sslr_cli.reproduce.context import PlanContext
from sslr_cli.reproduce.experiments import EXPERIMENTS, groups
from sslr_cli.reproduce.scale import Scale
from sslr_cli.reproduce.stage import Stage

SCALES: dict[str, Scale] = {
    "toy": Scale(
        "toy", "a smoke test in seconds (tests use it); numbers mean nothing", None, "tiny", "clevr-small",
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
    # Training: 3.0 min for SRN beside 2.7 min for MLP on an idle 2-core machine (make demo on a fresh clone, studies/demo).
    "demo": Scale(
        "demo", "Table 1 and Fig. 2-6 from the tiny preset, about 4 minutes on 2 idle CPU cores", ("table1", "figures"),
        "tiny", None, n_train=64000, n_eval=250, counts=(1, 2, 3, 4, 5), steps={"srn": 1500, "mlp": 1500},
        match_steps={"cnn": 600, "mlp": 600, "srn": 600, "srn-ri": 600}, n_iso_train=8000, n_iso_test=1000,
        clevr_steps={"srn": 300, "mlp": 300}, n_clevr_train=1000, n_clevr_val=200, seeds=1, tsne_grid=8,
        tsne3_grid=5),
    "tiny": Scale(
        "tiny", "every table and figure from the tiny presets, Table 3 over three seeds, about 1.5 hours on 2 CPU cores", None,
        "tiny", "clevr-tiny", n_train=64000, n_eval=1000, counts=(1, 2, 3, 4, 5),
        steps={"srn": 2650, "mlp": 2650}, match_steps={"cnn": 3000, "mlp": 3000, "srn": 3000, "srn-ri": 3000},
        n_iso_train=64000, n_iso_test=4000, clevr_steps={"srn": 600, "mlp": 600}, n_clevr_train=2000,
        n_clevr_val=200, seeds=1, tsne_grid=16, tsne3_grid=10, clevr_size=64, match_seeds=3, curve_points=4),
    "small": Scale(
        "small", "every table and figure from the small presets, the best a 2-core CPU does in a few hours",
        None, "small", "clevr-small", n_train=64000, n_eval=1000, counts=(1, 2, 3, 4, 5),
        steps={"srn": 6700, "mlp": 6700}, match_steps={"cnn": 4000, "mlp": 4000, "srn": 4000, "srn-ri": 4000},
        n_iso_train=64000, n_iso_test=4000, clevr_steps={"srn": 3000, "mlp": 3000}, n_clevr_train=10000,
        n_clevr_val=1000, seeds=3, tsne_grid=16, tsne3_grid=10, curve_points=4),
    "paper": Scale(
        "paper", "the paper's settings (100 epochs of 64000 images, 60 epochs of set matching): a GPU",
        None, "paper", "clevr-paper", n_train=64000, n_eval=1000, counts=(1, 2, 3, 4, 5),
        steps={"srn": 100_000, "mlp": 100_000},  # 100 epochs x 1000 batches of 64
        match_steps={"cnn": 120_000, "mlp": 120_000, "srn": 120_000, "srn-ri": 120_000},  # 60 epochs x 2000 of 32
        n_iso_train=64000, n_iso_test=4000, clevr_steps={"srn": 220_000, "mlp": 220_000},  # 100 epochs of 70000 / 32
        n_clevr_train=70000, n_clevr_val=15000, seeds=3, tsne_grid=16, tsne3_grid=10, parallel=False,
        n_val=4000, curve_points=20, gpu=True),  # all 64000 images train (1000 steps an epoch: r switches at step 20000);
    # validation on 4000 images of their own, as the paper's 4000 test images (the authors' code keeps the best
    # test loss; sslr's best.pt is the best validation loss)
}


def parse_only(text: str | None) -> tuple[str, ...] | None:
    if text is None:
        return None
    names = tuple(part.strip() for part in text.split(",") if part.strip())
    known = groups()
    bad = [n for n in names if n not in known]
    if bad or not names:
        raise SSLRError(f"--only {text!r}: choose from {','.join(known)} (comma-separated)")
    return names


def get_scale(name: str) -> Scale:
    if name not in SCALES:
        shown = [n for n, s in SCALES.items() if not s.hidden]
        raise SSLRError(f"--scale {name!r}: choose one of {', '.join(shown)}")
    return SCALES[name]


def build_plan(scale: Scale, out: str | Path, seeds: int | None = None, only: tuple[str, ...] | None = None,
               device: str = "auto", clevr: str | Path | None = None, gpu: str | None = None,
               cuda: bool = False) -> list[Stage]:
    """The stages of ``scale`` writing under ``out``, in order; ``only`` keeps those groups and what they need.
    ``clevr``: a CLEVR_v1.0-layout folder for Table 2 (else rendered scenes); ``gpu``: the GPU whose measured
    step times estimate the trainings (else single-thread CPU step times); ``cuda``: the trainings run on CUDA
    here (those graph replay is proven for take ``--cuda-graphs``)."""
    ctx = PlanContext.create(scale, out, seeds, device, None if clevr is None else str(clevr), gpu, cuda)
    stages = [stage for experiment in EXPERIMENTS.values() for stage in experiment.stages(ctx)]
    default = groups() if scale.groups is None else scale.groups
    return select(stages, default if only is None else only)


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
