"""The settings of a run as dataclasses: ``ModelConfig`` (the architecture), ``TrainConfig`` (how to train) and
``RunConfig`` (both, and the task's own settings; what a checkpoint carries). Each checks its own ranges
(``validate``); which generators exist and what their options are is checked by ``models.registry``.

This module knows no torch and no model."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field, fields, replace
from typing import Any

from sslr_cli.errors import SSLRError

INIT_MODES = ("detached", "learned")
MODEL_SIZE_LIMITS = {"encoder_width": 4096, "embed_dim": 65536, "set_size": 1024, "element_dim": 4096,
                     "agg_hidden": 65536, "fspool_pieces": 1024, "decoder_width": 8192}
MAX_SEED = 2**63 - 1
MAX_INNER_STEPS = 1000  # r: each step is a forward and backward pass of H_agg, kept in the graph when unrolled
LR_SCHEDULES = ("constant", "cosine")
REFINE_PRECISIONS = ("fp32", "autocast")


def check_r(r: int, option: str = "--inner-steps") -> int:
    """r, SSLR-SRN's number of refinement steps: a count in 0..MAX_INNER_STEPS (the one check of it)."""
    if not 0 <= r <= MAX_INNER_STEPS:
        raise SSLRError(f"{option} {r}: must be in 0..{MAX_INNER_STEPS}")
    return r


check_inner_steps = check_r  # (the name the rest of the package and its tests use for --inner-steps)


def parse_inner_grad(spec: str) -> tuple[str, int]:
    """``"unrolled"`` | ``"implicit"`` | ``"truncated:K"`` (K >= 1) -> (mode, K); K is 0 but for truncated."""
    if spec in ("unrolled", "implicit"):
        return spec, 0
    mode, _, k = str(spec).partition(":")
    if mode == "truncated" and k.isdigit() and int(k) >= 1:
        return mode, int(k)
    raise SSLRError(f"--inner-grad {spec!r}: choose unrolled, implicit or truncated:K with an integer K >= 1")


@dataclass(frozen=True)
class ModelConfig:
    """The architecture (paper notation in comments)."""

    generator: str = "srn"  # G, a name of models.registry.GENERATORS ("mlp": S = S0; "srn": Eq. 5's refinement)
    image_size: int = 64
    encoder_width: int = 64  # trunk channels w, 2w, 4w, 8w (paper: 64 -> 512)
    embed_dim: int = 100  # |z|, output of H_embed
    set_size: int = 16  # |S|
    element_dim: int = 10  # D, dimension of each set element
    agg: str = "mlp"  # H_agg: "mlp" (per element, circles) or "relation" (all pairs, CLEVR)
    agg_hidden: int = 512
    fspool_pieces: int = 20
    decoder_width: int = 256  # F_reconstruct channels 4w, 2w, w (paper: 1024, 512, 256)
    inner_steps: int = 10  # r until TrainConfig.late_epoch (RunConfig.r_at is r's schedule)
    inner_lr: float = 0.1  # step size of the inner gradient descent
    inner_momentum: float = 0.5
    init_mode: str = "detached"  # S0 gets gradient ("learned", the paper's text) or not ("detached", its code)
    # The generator's own settings (``sslr train --gen-opt KEY=VALUE``), checked by its options dataclass
    generator_options: dict = field(default_factory=dict)
    # how the outer loss differentiates the r inner steps (models/refiner.py SetRefiner): "unrolled"
    # (exact), "implicit" (iDSPN's one-step approximation) or "truncated:K" (the last K steps)
    inner_grad: str = "unrolled"
    refine_precision: str = "autocast"  # "fp32": the inner loop stays float32 under bf16 autocast

    def validate(self) -> None:
        """The shared fields' ranges; the generator and its options are checked by the registry."""
        if self.init_mode not in INIT_MODES:
            raise SSLRError(f"--init-mode {self.init_mode!r}: choose one of {', '.join(INIT_MODES)}")
        if self.agg not in ("mlp", "relation"):
            raise SSLRError(f"agg {self.agg!r}: choose mlp or relation")
        if self.image_size % 32 or self.image_size < 64:
            raise SSLRError(f"image size {self.image_size}: must be a multiple of 32, at least 64")
        for name, most in MODEL_SIZE_LIMITS.items():  # the upper bounds keep a typo from asking for terabytes
            if not 1 <= getattr(self, name) <= most:
                raise SSLRError(f"--{name.replace('_', '-')} {getattr(self, name)}: must be in 1..{most}")
        if self.image_size > 1024:
            raise SSLRError(f"image size {self.image_size}: at most 1024")
        if not (math.isfinite(self.inner_lr) and self.inner_lr > 0):
            raise SSLRError(f"--inner-lr {self.inner_lr}: must be a finite number > 0")
        if not (math.isfinite(self.inner_momentum) and 0 <= self.inner_momentum < 1):
            raise SSLRError(f"inner momentum {self.inner_momentum}: must be in [0, 1)")
        check_r(self.inner_steps)
        parse_inner_grad(self.inner_grad)
        if self.refine_precision not in REFINE_PRECISIONS:
            raise SSLRError(f"--refine-precision {self.refine_precision!r}: choose one of {', '.join(REFINE_PRECISIONS)}")

    @property
    def feature_count(self) -> int:
        """Length of the flattened trunk output: 8w channels at image_size/32 squared."""
        side = self.image_size // 32
        return 8 * self.encoder_width * side * side


@dataclass(frozen=True)
class TrainConfig:
    """How to train."""

    task: str = "reconstruct"  # "reconstruct" or "match"
    batch_size: int = 64  # global batch (split across ranks under torchrun)
    lr: float = 3e-4
    optimizer: str = "adam"  # "adam" or "rmsprop"
    weight_decay: float = 0.0
    loss: str = "sse"  # "sse": summed squared error per image (the paper's); "bce": binary cross-entropy
    target: str = "images"  # dataset array to reconstruct ("foreground" for CLEVR)
    epochs: int = 100
    late_inner_steps: int = 20  # r after the switch (the reference: 10 -> 20 at epoch 20)
    late_epoch: int = 20  # epoch (0-based) from which late_inner_steps is used; -1 = never
    max_minutes: float = 0.0  # stop cleanly after this much training time; 0 = no limit
    max_steps: int = 0  # stop cleanly once the run has taken this many optimizer steps in all; 0 = no limit
    lr_schedule: str = "constant"  # "constant", or "cosine": linear warm-up, then cosine decay to lr * min_lr_ratio
    warmup_steps: int = 0  # steps of linear warm-up from lr/warmup_steps to lr (any schedule)
    schedule_steps: int = 0  # steps the cosine spans; 0 = max_steps, else epochs x batches per epoch
    min_lr_ratio: float = 0.0  # the cosine's final lr as a fraction of lr
    val_fraction: float = 0.05  # held out from the training file when no --val is given
    precision: str = "fp32"  # "fp32" (strict: no TF32 on a GPU), "tf32", "bf16" or "fp16" (autocast)
    seed: int = 0
    log_every: int = 50  # steps between metrics.jsonl lines
    compile: bool = False  # torch.compile the parts outside SRN's inner loop (engine/compile.py)
    cuda_graphs: bool = False  # capture the training step in a CUDA graph and replay it (engine/cuda_graphs.py)
    sync_bn: bool = True  # under torchrun: batch-norm statistics over the global batch (engine/sync_bn.py)
    checkpoint_minutes: float = 10.0  # last.pt rewritten mid-epoch this often (wall time); 0 = only at epoch ends
    checkpoint_steps: int = 0  # ... and/or every this many optimizer steps; 0 = not by steps
    # Learning curves (experiments/curves.py): Table 1 on a fixed held-out set every eval_every steps and at
    # the end, as "eval" lines of metrics.jsonl; evaluation time is not training time.
    eval_every: int = 0  # 0 = no evaluation during training
    eval_images: int = 200  # held-out images per circle count 1..5, made from fixed seeds (the same for every run)
    eval_data: tuple[str, ...] = ()  # held-out circles files instead of the generated set
    keep_every: int = 0  # keep step-NNNNNN.pt every this many steps; 0 = none

    def validate(self) -> None:
        if self.task not in ("reconstruct", "match"):
            raise SSLRError(f"--task {self.task!r}: choose reconstruct or match")
        if self.batch_size < 1:
            raise SSLRError(f"--batch-size {self.batch_size}: must be >= 1")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise SSLRError(f"--lr {self.lr}: must be a finite number > 0")
        if not (math.isfinite(self.weight_decay) and self.weight_decay >= 0):
            raise SSLRError(f"--weight-decay {self.weight_decay}: must be a finite number >= 0")
        if not 0 <= self.seed <= MAX_SEED:
            raise SSLRError(f"--seed {self.seed}: must be in 0..{MAX_SEED}")
        if self.batch_size > 1_000_000 or self.epochs > 1_000_000:
            raise SSLRError(f"--batch-size {self.batch_size} / --epochs {self.epochs}: at most 1000000")
        if self.optimizer not in ("adam", "rmsprop"):
            raise SSLRError(f"--optimizer {self.optimizer!r}: choose adam or rmsprop")
        if self.loss not in ("sse", "bce"):
            raise SSLRError(f"--loss {self.loss!r}: choose sse or bce")
        if self.epochs < 1:
            raise SSLRError(f"--epochs {self.epochs}: must be >= 1")
        if not 0.0 <= self.val_fraction < 1.0:
            raise SSLRError(f"--val-fraction {self.val_fraction}: must be in [0, 1)")
        if self.precision not in ("fp32", "tf32", "bf16", "fp16"):
            raise SSLRError(f"--precision {self.precision!r}: choose fp32, tf32, bf16 or fp16")
        if not (math.isfinite(self.max_minutes) and self.max_minutes >= 0):
            raise SSLRError(f"--max-minutes {self.max_minutes}: must be a finite number >= 0")
        if self.max_steps < 0:
            raise SSLRError(f"--max-steps {self.max_steps}: must be >= 0")
        if self.checkpoint_minutes < 0 or self.checkpoint_steps < 0:
            raise SSLRError(f"--checkpoint-minutes/--checkpoint-steps ({self.checkpoint_minutes}, {self.checkpoint_steps}): must be >= 0")
        if self.lr_schedule not in LR_SCHEDULES:
            raise SSLRError(f"--lr-schedule {self.lr_schedule!r}: choose one of {', '.join(LR_SCHEDULES)}")
        if self.warmup_steps < 0 or self.schedule_steps < 0:
            raise SSLRError(f"--warmup-steps/--schedule-steps ({self.warmup_steps}, {self.schedule_steps}): must be >= 0")
        if not 0.0 <= self.min_lr_ratio <= 1.0:
            raise SSLRError(f"--min-lr-ratio {self.min_lr_ratio}: must be in [0, 1]")
        for name in ("eval_every", "keep_every"):
            if getattr(self, name) < 0:
                raise SSLRError(f"--{name.replace('_', '-')} {getattr(self, name)}: must be >= 0")
        check_r(self.late_inner_steps, "--late-inner-steps")
        if self.eval_images < 1:
            raise SSLRError(f"--eval-images {self.eval_images}: must be >= 1")

    def lr_at(self, step: int, total_steps: int) -> float:
        """The learning rate of optimizer step ``step`` (0-based) in a run of ``total_steps`` steps.

        A pure function of the step, so a resumed run follows the same schedule with nothing to store.
        """
        if self.warmup_steps and step < self.warmup_steps:
            return self.lr * (step + 1) / self.warmup_steps
        if self.lr_schedule == "constant" or total_steps <= self.warmup_steps:
            return self.lr
        progress = min(1.0, (step - self.warmup_steps) / max(1, total_steps - self.warmup_steps))
        floor = self.lr * self.min_lr_ratio
        return floor + (self.lr - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))



@dataclass(frozen=True)
class RunConfig:
    """Everything a run needs; what a checkpoint carries."""

    preset: str = "paper"
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    extra: dict = field(default_factory=dict)  # task-specific settings (e.g. matching head sizes)

    def validate(self) -> "RunConfig":
        """Ranges of every field. The generator (known, allowed for the task, its options valid) is checked
        by whoever builds the config, with ``engine.run_config.check_run_config``: only the registry knows it."""
        self.model.validate()
        self.train.validate()
        return self

    def r_at(self, epoch: int) -> int:
        """r, SSLR-SRN's refinement steps, in epoch ``epoch`` (0-based): ``model.inner_steps`` until
        ``train.late_epoch``, then ``train.late_inner_steps`` (the reference: 10 -> 20 at epoch 20). The one
        schedule of r: the loop trains at it, a checkpoint records it, the analysis commands evaluate at it."""
        if self.train.late_epoch >= 0 and epoch >= self.train.late_epoch:
            return self.train.late_inner_steps
        return self.model.inner_steps

    def r_values(self) -> set[int]:
        """Every r the schedule can take."""
        return {self.model.inner_steps} | ({self.train.late_inner_steps} if self.train.late_epoch >= 0 else set())

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "RunConfig":
        """The inverse of ``to_dict``. A key this version does not know is an error that names it
        (dropping it would load a renamed field with its default, silently)."""
        _reject_unknown("config", d, {f.name for f in fields(cls)})
        model, train = d.get("model", {}), d.get("train", {})
        _reject_unknown("config model", model, {f.name for f in fields(ModelConfig)})
        _reject_unknown("config train", train, {f.name for f in fields(TrainConfig)})
        return cls(
            preset=d.get("preset", "custom"),
            model=ModelConfig(**{**model, "generator_options": dict(model.get("generator_options", {}))}),
            # JSON turns tuples (eval_data) into lists
            train=TrainConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in train.items()}),
            extra=dict(d.get("extra", {})),
        )

    def with_overrides(self, model: dict[str, Any] | None = None, train: dict[str, Any] | None = None) -> "RunConfig":
        """A copy with the non-None values of ``model``/``train`` replaced."""
        m = {k: v for k, v in (model or {}).items() if v is not None}
        t = {k: v for k, v in (train or {}).items() if v is not None}
        return replace(self, model=replace(self.model, **m), train=replace(self.train, **t))


def _reject_unknown(where: str, d: Any, known: set[str]) -> None:
    if not isinstance(d, dict):
        raise SSLRError(f"{where}: expected a mapping, got {type(d).__name__}")
    unknown = sorted(set(d) - known)
    if unknown:
        raise SSLRError(f"{where}: unknown key{'s' if len(unknown) > 1 else ''} {', '.join(unknown)} "
                        f"(written by another version of sslr?)")
