"""Model and training settings as dataclasses, with named presets.

A checkpoint stores ``RunConfig.to_dict()``, so every command rebuilds the model from the
checkpoint alone. Presets:

- ``paper``: the paper's circles architecture and training, for a GPU (App. A; the reference code's
  |S| = 16, D = 10, r = 10 -> 20 at epoch 20, Adam 3e-4, batch 64, summed squared error).
- ``small`` / ``tiny``: narrower models for a 2-core CPU, sized by measurement (see README).
- ``clevr-paper`` / ``clevr-small``: the CLEVR variant (App. B) at 128x128 (registered by
  ``sslr_cli.clevr_presets``).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field, fields, replace
from typing import Any

from sslr_cli.errors import SSLRError

GENERATORS = ("mlp", "srn")
MATCH_GENERATORS = GENERATORS + ("cnn",)  # "cnn": the naive CNN baseline of the set-matching task (no set)
INIT_MODES = ("detached", "learned")
LR_SCHEDULES = ("constant", "cosine")


@dataclass(frozen=True)
class ModelConfig:
    """The architecture (paper notation in comments)."""

    generator: str = "srn"  # "mlp": S = S0; "srn": S = r refinement steps from S0 (Eq. 5)
    image_size: int = 64
    encoder_width: int = 64  # trunk channels w, 2w, 4w, 8w (paper: 64 -> 512)
    embed_dim: int = 100  # |z|, output of H_embed
    set_size: int = 16  # |S|
    element_dim: int = 10  # D, dimension of each set element
    agg: str = "mlp"  # H_agg: "mlp" (per element, circles) or "relation" (all pairs, CLEVR)
    agg_hidden: int = 512
    fspool_pieces: int = 20
    decoder_width: int = 256  # F_reconstruct channels 4w, 2w, w (paper: 1024, 512, 256)
    inner_steps: int = 10  # r
    inner_lr: float = 0.1  # step size of the inner gradient descent
    inner_momentum: float = 0.5
    init_mode: str = "detached"  # S0 gets gradient ("learned", the paper's text) or not ("detached", its code)

    def validate(self, generators: tuple[str, ...] = GENERATORS) -> None:
        if self.generator == "cnn" and "cnn" not in generators:
            raise SSLRError("--generator cnn: the naive CNN baseline exists only for --task match")
        if self.generator not in generators:
            raise SSLRError(f"--generator {self.generator!r}: choose one of {', '.join(generators)}")
        if self.init_mode not in INIT_MODES:
            raise SSLRError(f"--init-mode {self.init_mode!r}: choose one of {', '.join(INIT_MODES)}")
        if self.agg not in ("mlp", "relation"):
            raise SSLRError(f"agg {self.agg!r}: choose mlp or relation")
        if self.image_size % 32 or self.image_size < 64:
            raise SSLRError(f"image size {self.image_size}: must be a multiple of 32, at least 64")
        for name in ("encoder_width", "embed_dim", "set_size", "element_dim", "agg_hidden", "fspool_pieces", "decoder_width"):
            if getattr(self, name) < 1:
                raise SSLRError(f"--{name.replace('_', '-')} {getattr(self, name)}: must be >= 1")
        if self.inner_steps < 0:
            raise SSLRError(f"--inner-steps {self.inner_steps}: must be >= 0")
        if self.feature_count % self.set_size:
            raise SSLRError(
                f"--set-size {self.set_size}: the encoder's {self.feature_count} features do not split into "
                f"{self.set_size} equal groups (choose a divisor of {self.feature_count})"
            )

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
    precision: str = "fp32"  # "fp32" or "bf16" (autocast)
    seed: int = 0
    log_every: int = 50  # steps between metrics.jsonl lines
    compile: bool = False  # torch.compile the parts outside SRN's inner loop (engine/compile.py)
    sync_bn: bool = True  # under torchrun: batch-norm statistics over the global batch (engine/sync_bn.py)

    def validate(self) -> None:
        if self.task not in ("reconstruct", "match"):
            raise SSLRError(f"--task {self.task!r}: choose reconstruct or match")
        if self.batch_size < 1:
            raise SSLRError(f"--batch-size {self.batch_size}: must be >= 1")
        if not self.lr > 0:
            raise SSLRError(f"--lr {self.lr}: must be > 0")
        if self.optimizer not in ("adam", "rmsprop"):
            raise SSLRError(f"--optimizer {self.optimizer!r}: choose adam or rmsprop")
        if self.loss not in ("sse", "bce"):
            raise SSLRError(f"--loss {self.loss!r}: choose sse or bce")
        if self.epochs < 1:
            raise SSLRError(f"--epochs {self.epochs}: must be >= 1")
        if not 0.0 <= self.val_fraction < 1.0:
            raise SSLRError(f"--val-fraction {self.val_fraction}: must be in [0, 1)")
        if self.precision not in ("fp32", "bf16", "fp16"):
            raise SSLRError(f"--precision {self.precision!r}: choose fp32, bf16 or fp16")
        if self.max_minutes < 0:
            raise SSLRError(f"--max-minutes {self.max_minutes}: must be >= 0")
        if self.max_steps < 0:
            raise SSLRError(f"--max-steps {self.max_steps}: must be >= 0")
        if self.lr_schedule not in LR_SCHEDULES:
            raise SSLRError(f"--lr-schedule {self.lr_schedule!r}: choose one of {', '.join(LR_SCHEDULES)}")
        if self.warmup_steps < 0 or self.schedule_steps < 0:
            raise SSLRError(f"--warmup-steps/--schedule-steps ({self.warmup_steps}, {self.schedule_steps}): must be >= 0")
        if not 0.0 <= self.min_lr_ratio <= 1.0:
            raise SSLRError(f"--min-lr-ratio {self.min_lr_ratio}: must be in [0, 1]")

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

    def inner_steps_at(self, epoch: int, base: int) -> int:
        """r for an epoch: ``base`` until ``late_epoch``, then ``late_inner_steps``."""
        if self.late_epoch >= 0 and epoch >= self.late_epoch:
            return self.late_inner_steps
        return base


@dataclass(frozen=True)
class RunConfig:
    """Everything a run needs; what a checkpoint carries."""

    preset: str = "paper"
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    extra: dict = field(default_factory=dict)  # task-specific settings (e.g. matching head sizes)

    def validate(self) -> "RunConfig":
        self.model.validate(MATCH_GENERATORS if self.train.task == "match" else GENERATORS)
        self.train.validate()
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "RunConfig":
        known_m = {f.name for f in fields(ModelConfig)}
        known_t = {f.name for f in fields(TrainConfig)}
        return cls(
            preset=d.get("preset", "custom"),
            model=ModelConfig(**{k: v for k, v in d.get("model", {}).items() if k in known_m}),
            train=TrainConfig(**{k: v for k, v in d.get("train", {}).items() if k in known_t}),
            extra=dict(d.get("extra", {})),
        )

    def with_overrides(self, model: dict[str, Any] | None = None, train: dict[str, Any] | None = None) -> "RunConfig":
        """A copy with the non-None values of ``model``/``train`` replaced."""
        m = {k: v for k, v in (model or {}).items() if v is not None}
        t = {k: v for k, v in (train or {}).items() if v is not None}
        return replace(self, model=replace(self.model, **m), train=replace(self.train, **t))


PRESETS: dict[str, RunConfig] = {
    "paper": RunConfig("paper", ModelConfig(), TrainConfig()),
    # CPU presets, sized by measurement (README "What the CPU presets reach"): Table 1 against optimizer
    # steps for 24 settings on a GPU (benchmarks/sweep.py, benchmarks/results/), then the chosen ones
    # confirmed on a 2-core CPU (benchmarks/claim.py). Adam's rate was the lever: 1e-2 (tiny) and 6e-3
    # (small) disentangled fastest per step; r = 5, inner momentum 0.9, a 0.3 inner step, 32 x 16 sets
    # and a learned S0 were all slower. bf16 autocast makes a tiny SRN step 1.7x faster at one thread
    # (0.39 -> 0.23 s); use --precision fp32 on CPUs without bf16.
    "small": RunConfig(
        "small",
        ModelConfig(encoder_width=32, decoder_width=64, agg_hidden=256),
        TrainConfig(batch_size=32, lr=6e-3, late_epoch=-1, precision="bf16"),
    ),
    "tiny": RunConfig(
        "tiny",
        ModelConfig(encoder_width=16, decoder_width=32, agg_hidden=128, embed_dim=64),
        TrainConfig(batch_size=32, lr=1e-2, late_epoch=-1, precision="bf16"),
    ),
}


def register_preset(name: str, config: RunConfig) -> None:
    PRESETS[name] = config


def get_preset(name: str) -> RunConfig:
    if name not in PRESETS:
        raise SSLRError(f"--preset {name!r}: unknown; choose one of {', '.join(sorted(PRESETS))}")
    return PRESETS[name]
