"""Model and training settings as dataclasses, with named presets.

A checkpoint stores ``RunConfig.to_dict()``, so every command rebuilds the model from the
checkpoint alone. Every preset is defined here, in ``PRESETS`` (nothing is registered elsewhere):

- ``paper``: the paper's circles architecture and training, for a GPU (App. A; the reference code's
  |S| = 16, D = 10, r = 10 -> 20 at epoch 20, Adam 3e-4, batch 64, summed squared error).
- ``small`` / ``tiny``: narrower models for a 2-core CPU, sized by measurement (see README).
- ``clevr-paper`` / ``clevr-small``: the CLEVR variant (App. B) at 128x128; ``clevr-tiny`` at 64x64.
- ``match-paper`` / ``match-small`` / ``match-tiny``: the set-matching task (App. C), with the widths of
  ``paper`` / ``small`` / ``tiny``, so SSLR-SRN (r + init) starts from a circles run of that preset.

This module knows no torch and no model: which generators exist (``ModelConfig.generator``) and
what their own options are (``ModelConfig.generator_options``) is checked by
``sslr_cli.models.registry``, where the generators are listed.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field, fields, replace
from typing import Any

from sslr_cli.errors import SSLRError

INIT_MODES = ("detached", "learned")
LR_SCHEDULES = ("constant", "cosine")
REFINE_PRECISIONS = ("fp32", "autocast")


def check_r(r: int, option: str = "--inner-steps") -> int:
    """r, SSLR-SRN's number of refinement steps, is a count: >= 0 (the one check of it)."""
    if r < 0:
        raise SSLRError(f"{option} {r}: must be >= 0")
    return r


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
    # how the outer loss differentiates the r inner steps (models/generators.py SetRefiner): "unrolled"
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
        for name in ("encoder_width", "embed_dim", "set_size", "element_dim", "agg_hidden", "fspool_pieces", "decoder_width"):
            if getattr(self, name) < 1:
                raise SSLRError(f"--{name.replace('_', '-')} {getattr(self, name)}: must be >= 1")
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
    precision: str = "fp32"  # "fp32" or "bf16" (autocast)
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


_TYPES = {"int": int, "float": float, "str": str, "bool": bool}  # field annotations are strings (PEP 563)


def convert_option(option: str, name: str, value: Any, type_name: str) -> Any:
    """``value`` (a CLI string or a JSON value) as the field type ``type_name``."""
    kind = _TYPES.get(type_name)
    try:
        if kind is int:
            number = float(value)
            if not number.is_integer():
                raise ValueError
            return int(number)
        if kind is bool:
            if isinstance(value, bool):
                return value
            if str(value).lower() in ("1", "true", "yes", "on"):
                return True
            if str(value).lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError
        return kind(value) if kind is not None else value
    except (TypeError, ValueError):
        raise SSLRError(f"{option} {name}={value!r}: expected {type_name}") from None


def options_from_dict(cls: type, values: dict[str, Any], option: str, what: str) -> Any:
    """An instance of the options dataclass ``cls`` from ``values`` (strings from the CLI or typed
    values from a checkpoint). Unknown keys are an error naming them and the known ones."""
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise SSLRError(f"{option} {unknown[0]}: unknown setting for {what}; "
                        f"choose from {', '.join(known) or '(none: it has no settings)'}")
    instance = cls(**{k: convert_option(option, k, v, known[k].type) for k, v in values.items()})
    check = getattr(instance, "validate", None)
    return check() or instance if callable(check) else instance


def parse_key_values(items: list[str] | None, option: str) -> dict[str, str]:
    """``["a=1", "b=x"]`` -> {"a": "1", "b": "x"} (converted later, by the options dataclass)."""
    parsed: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise SSLRError(f"{option} {item!r}: expected KEY=VALUE")
        parsed[key.strip()] = value.strip()
    return parsed


REFERENCE_BATCH = 32  # the reference's set-matching batch
MATCH_COSTS = ("sq", "smooth_l1")  # the Hungarian pair costs (models/matching.py)


@dataclass(frozen=True)
class MatchSettings:
    """Settings of ``--task match`` (``RunConfig.extra``; the task is in ``engine/match_task.py``)."""

    loc_dim: int = 5  # location embedding per element (App. C.1: five dimensions; the reference code: 3)
    att_dim: int = 5  # attribute embedding per element
    match_cost: str = "sq"  # Hungarian cost per element pair: "sq" squared distance, "smooth_l1" (the reference's)
    match_weight: float = 10.0 / REFERENCE_BATCH  # weight of the mean Hungarian matching cost
    recon_weight: float = 0.0  # weight of the pixel-mean reconstruction error of image A; > 0 adds the decoder ("r")
    recon_images: int = 0  # images A per batch the reconstruction term decodes (0 = all, as the reference)
    cnn_lr: float = 1e-5  # learning rate used for --generator cnn unless --lr is given (App. C.2)
    init: str = ""  # the checkpoint --init took weights from (a record; "" = none)

    @classmethod
    def from_extra(cls, extra: dict[str, Any]) -> "MatchSettings":
        known = [f.name for f in fields(cls)]
        unknown = sorted(set(extra) - set(known))
        if unknown:
            names = ", ".join(k for k in known if k != "init")  # init is a record, set by --init
            raise SSLRError(f"--extra {unknown[0]}: unknown setting for --task match; choose from {names}")
        return options_from_dict(cls, extra, "--extra", "--task match")

    def validate(self) -> "MatchSettings":
        if self.recon_images < 0:
            raise SSLRError(f"--extra recon_images={self.recon_images}: must be >= 0 (0 = the whole batch)")
        if self.match_cost not in MATCH_COSTS:
            raise SSLRError(f"--extra match_cost={self.match_cost!r}: choose one of {', '.join(MATCH_COSTS)}")
        if self.loc_dim < 1 or self.att_dim < 1:
            raise SSLRError(f"--extra loc_dim/att_dim ({self.loc_dim}, {self.att_dim}): must be >= 1")
        for name in ("match_weight", "recon_weight"):
            if getattr(self, name) < 0:
                raise SSLRError(f"--{name.replace('_', '-')} {getattr(self, name)}: must be >= 0")
        if not self.cnn_lr > 0:
            raise SSLRError(f"--extra cnn_lr {self.cnn_lr}: must be > 0")
        return self

    def to_extra(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


_MATCH_TRAIN = dict(task="match", batch_size=REFERENCE_BATCH, lr=5e-4, optimizer="rmsprop", late_epoch=-1)
_MATCH_CPU_TRAIN = {**_MATCH_TRAIN, "lr": 2e-3, "epochs": 60}
# CPU: each model at the better of the rates tried in 1000 steps (README "Table 3 on a CPU"), r + init
# decoding 4 of the 32 images A per step (the decoder is most of a CPU step). match-X has the widths of the
# circles preset X, so `--init` from an X reconstruction run copies every weight of G and the decoder.
_MATCH_CPU_EXTRA = MatchSettings(recon_images=4, cnn_lr=5e-4).to_extra()
_TINY_WIDTHS = dict(encoder_width=16, decoder_width=32, agg_hidden=128, embed_dim=64)
_SMALL_WIDTHS = dict(encoder_width=32, decoder_width=64, agg_hidden=256)
_MATCH_TINY = dict(**_TINY_WIDTHS, inner_steps=5)
_MATCH_SMALL = dict(**_SMALL_WIDTHS, inner_steps=5)

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
        ModelConfig(**_SMALL_WIDTHS),
        TrainConfig(batch_size=32, lr=6e-3, late_epoch=-1, precision="bf16"),
    ),
    # tiny differentiates only the last 3 of SRN's r inner steps (--inner-grad truncated:3): in 10 CPU minutes
    # (2914 steps against unrolled's 2652) it disentangled more circles at the paper's threshold 0.1, three
    # seeds each (README "SRN's inner loop", benchmarks/results/issue16-table1-kernel.jsonl); S_r is the same.
    "tiny": RunConfig(
        "tiny",
        ModelConfig(**_TINY_WIDTHS, inner_grad="truncated:3"),
        TrainConfig(batch_size=32, lr=1e-2, late_epoch=-1, precision="bf16"),
    ),
    # CLEVR (Sec. 4.2, App. B, the reference run_reconstruct_clevr.py): 128x128 input, trunk 64 -> 512
    # channels (8192 features = 16 elements x 512), 512-d z, |S| = 16 x D = 10, relation-network H_agg
    # (hidden 512, FSPool 20 pieces), inner step 8, r = 10 (no switch to 20), decoder 1024 -> 512 -> 256,
    # Adam 3e-4, batch 32, binary cross-entropy against the foreground (objects on black) while the
    # input is the full image.
    "clevr-paper": RunConfig(
        "clevr-paper",
        ModelConfig(image_size=128, encoder_width=64, embed_dim=512, set_size=16, element_dim=10, agg="relation",
                    agg_hidden=512, fspool_pieces=20, decoder_width=256, inner_steps=10, inner_lr=8.0),
        TrainConfig(batch_size=32, lr=3e-4, optimizer="adam", loss="bce", target="foreground", late_epoch=-1),
    ),
    # the same narrowed for a 2-core CPU (trunk 16 -> 128, decoder 128 -> 64 -> 32, H_agg hidden 64, z of
    # 64: FSPool sorts z's channels over the 256 pairs in every inner step, a large share of a CPU step)
    "clevr-small": RunConfig(
        "clevr-small",
        ModelConfig(image_size=128, encoder_width=16, embed_dim=64, set_size=16, element_dim=10, agg="relation",
                    agg_hidden=64, fspool_pieces=20, decoder_width=32, inner_steps=10, inner_lr=8.0),
        TrainConfig(batch_size=16, lr=1e-3, optimizer="adam", loss="bce", target="foreground", late_epoch=-1),
    ),
    # 64x64 renders (CLEVR's frame at half the paper's side; objects keep CLEVR's apparent size, a small
    # one about 5 x 7 pixels), clevr-small's widths, bf16, batch 32, Adam 2e-3; sized by single-thread CPU
    # step time (README "CLEVR on a CPU": SRN 0.58 s, MLP 0.21 s)
    "clevr-tiny": RunConfig(
        "clevr-tiny",
        ModelConfig(image_size=64, encoder_width=16, embed_dim=64, set_size=16, element_dim=10, agg="relation",
                    agg_hidden=64, fspool_pieces=20, decoder_width=32, inner_steps=10, inner_lr=8.0),
        TrainConfig(batch_size=32, lr=2e-3, optimizer="adam", loss="bce", target="foreground", late_epoch=-1,
                    precision="bf16"),
    ),
    # Set matching: App. A's architecture, App. C.2's training (RMSprop 5e-4, batch 32, r = 5, step 0.1,
    # momentum 0.5, about 60 epochs). The CPU presets were sized by single-thread CPU step times
    # (benchmarks/match_steps.py) and learning curves (benchmarks/match_curves.py) to a step budget;
    # "SSLR-SRN (r + init)" starts (--init) from the circles SRN of the same-named preset.
    "match-paper": RunConfig("match-paper", ModelConfig(inner_steps=5), TrainConfig(epochs=60, **_MATCH_TRAIN),
                             MatchSettings().to_extra()),
    "match-small": RunConfig("match-small", ModelConfig(**_MATCH_SMALL),
                             TrainConfig(max_steps=6000, **_MATCH_CPU_TRAIN), _MATCH_CPU_EXTRA),
    "match-tiny": RunConfig("match-tiny", ModelConfig(**_MATCH_TINY),
                            TrainConfig(max_steps=3000, **_MATCH_CPU_TRAIN), _MATCH_CPU_EXTRA),
}


def get_preset(name: str) -> RunConfig:
    """A preset by name (every preset is in ``PRESETS``)."""
    if name not in PRESETS:
        raise SSLRError(f"--preset {name!r}: unknown; choose one of {', '.join(sorted(PRESETS))}")
    return PRESETS[name]
