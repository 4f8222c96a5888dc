"""How big a reproduction is (the scales themselves are data in ``plan.SCALES``)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Scale:
    """How big a reproduction is. Step budgets per training; data sizes; evaluation sizes."""

    name: str
    about: str
    groups: tuple[str, ...] | None  # what runs without --only (None: every group of the experiment registry)
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
    gpu: bool = False  # sized for a GPU: a dry run on a machine without one estimates for the measured GPU
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
