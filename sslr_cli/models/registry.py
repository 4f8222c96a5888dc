"""Every set generator G, in one plain dict: ``GENERATORS[name]`` -> ``GeneratorSpec``.

A new generator is one module with a ``SetGenerator`` subclass (``models/generator.py`` says what
it declares) and one entry here; ``--generator``'s choices and help, the table labels and the
checks of ``ModelConfig.generator_options`` all come from this dict. A generator's own settings are
a frozen dataclass (``GeneratorSpec.options``): ``sslr train --gen-opt KEY=VALUE`` fills it, the
checkpoint stores it in ``config.json`` under ``model.generator_options``, and the constructor
gets it as ``build(model_cfg, options)``.

``TASK_BASELINES`` lists the models of one task that are not set generators (the naive CNN of
``--task match``): they share ``--generator`` but their task builds them itself.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from sslr_cli.config import ModelConfig, RunConfig, options_from_dict
from sslr_cli.errors import SSLRError
from sslr_cli.models.projection import check_projection
from sslr_cli.models.slot_options import SlotAttentionConfig

if TYPE_CHECKING:
    from sslr_cli.models.generator import SetGenerator

TASKS_WITH_SETS = ("reconstruct", "match")


def lazy(reference: str) -> Callable:
    """A callable that imports ``"module:name"`` when first called: the registry names each generator's
    torch module without importing it, so the CLI (``--help``, ``--generator``'s choices) starts without torch."""
    module, _, name = reference.partition(":")

    def call(*args, **kwargs):
        return getattr(importlib.import_module(module), name)(*args, **kwargs)

    call.__qualname__ = call.__name__ = name
    return call


@dataclass(frozen=True)
class NoOptions:
    """A generator without settings of its own."""


@dataclass(frozen=True)
class GeneratorSpec:
    name: str  # the --generator value, stored in checkpoints
    label: str  # the paper's name, used in tables ("SSLR-SRN")
    help: str  # one line for --help
    build: Callable[[ModelConfig, Any], SetGenerator]  # (shared model settings, its options) -> G
    options: type = NoOptions  # frozen dataclass of its own settings (--gen-opt KEY=VALUE)
    tasks: tuple[str, ...] = TASKS_WITH_SETS
    check: Callable[[ModelConfig], None] | None = None  # its demands on the shared fields (raises SSLRError)

    @property
    def short(self) -> str:
        """The label without "SSLR-" (run labels in analysis tables: "SRN <run>")."""
        return self.label.removeprefix("SSLR-")


@dataclass(frozen=True)
class BaselineSpec:
    name: str
    label: str
    help: str


GENERATORS: dict[str, GeneratorSpec] = {
    "mlp": GeneratorSpec("mlp", "SSLR-MLP", "S = S0 = H_set(X), no refinement",
                         lazy("sslr_cli.models.sslr_generator:build_mlp"), check=check_projection),
    "srn": GeneratorSpec("srn", "SSLR-SRN", "S0 refined by r inner gradient steps (Eq. 5)",
                         lazy("sslr_cli.models.sslr_generator:build_srn"), check=check_projection),
    "slot": GeneratorSpec("slot", "Slot Attention", "Slot Attention (Locatello et al., 2020) over the trunk's feature map",
                          lazy("sslr_cli.models.slot_attention:SlotGenerator"), options=SlotAttentionConfig),
}

TASK_BASELINES: dict[str, dict[str, BaselineSpec]] = {
    "match": {"cnn": BaselineSpec("cnn", "Naive CNNs", "the naive CNN baseline, no set (--task match only)")},
}


def generator_names(task: str | None = None) -> list[str]:
    """The --generator values for ``task`` (all tasks' when None)."""
    names = [n for n, s in GENERATORS.items() if task is None or task in s.tasks]
    for t, baselines in TASK_BASELINES.items():
        if task is None or task == t:
            names += [n for n in baselines if n not in names]
    return names


def generator_help() -> str:
    """--generator's help, from the registry."""
    parts = [f"{s.name} ({s.label}: {s.help})" for s in GENERATORS.values()]
    parts += [f"{b.name} ({b.help})" for bs in TASK_BASELINES.values() for b in bs.values()]
    return "Set generator G: " + "; ".join(parts) + ". Default: srn."


def label(name: str) -> str:
    """The table label of a generator or baseline name (the name itself when unknown)."""
    if name in GENERATORS:
        return GENERATORS[name].label
    for baselines in TASK_BASELINES.values():
        if name in baselines:
            return baselines[name].label
    return name


def short_label(name: str) -> str:
    return GENERATORS[name].short if name in GENERATORS else name.upper()


def generator_options(cfg: ModelConfig) -> Any:
    """``cfg.generator_options`` as the generator's options dataclass (unknown keys: an error naming them)."""
    spec = GENERATORS[cfg.generator]
    return options_from_dict(spec.options, dict(cfg.generator_options), "--gen-opt", f"--generator {spec.name}")


def with_full_options(cfg: ModelConfig) -> ModelConfig:
    """``cfg`` with every option of its generator written out, typed (what a checkpoint should record)."""
    from dataclasses import asdict, replace

    if cfg.generator not in GENERATORS:
        return cfg
    return replace(cfg, generator_options=asdict(generator_options(cfg)))


def check_generator(cfg: ModelConfig, task: str) -> None:
    """``cfg.generator`` exists and serves ``task``; its options are valid. Raises SSLRError."""
    for t, baselines in TASK_BASELINES.items():
        if cfg.generator in baselines and cfg.generator not in GENERATORS:
            if task != t:
                raise SSLRError(f"--generator {cfg.generator}: {baselines[cfg.generator].label} exists only for --task {t}")
            if cfg.generator_options:
                raise SSLRError(f"--gen-opt: --generator {cfg.generator} has no settings")
            return
    allowed = generator_names(task)
    if cfg.generator not in allowed:
        raise SSLRError(f"--generator {cfg.generator!r}: choose one of {', '.join(allowed)}")
    generator_options(cfg)
    if GENERATORS[cfg.generator].check is not None:
        GENERATORS[cfg.generator].check(cfg)


def check_run_config(cfg: RunConfig) -> RunConfig:
    """A run's config in full: every field's range, then its generator (known, serving the task, its options
    valid). What each builder of a config calls before using it."""
    cfg.validate()
    check_generator(cfg.model, cfg.train.task)
    return cfg


def build_generator(cfg: ModelConfig) -> SetGenerator:
    """G for ``cfg`` (``cfg.generator`` must be a set generator of ``GENERATORS``)."""
    if cfg.generator not in GENERATORS:
        raise SSLRError(f"--generator {cfg.generator!r}: not a set generator; choose one of {', '.join(GENERATORS)}")
    cfg.validate()
    spec = GENERATORS[cfg.generator]
    return spec.build(cfg, generator_options(cfg))
