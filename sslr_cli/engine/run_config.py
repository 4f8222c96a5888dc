"""A run's config: built in one place, checked as a whole.

``build_run_config`` is the one way a run's ``RunConfig`` is made from what a user gives (``sslr train``
only parses its command line and calls it; ``engine.train.train`` calls it for ``--resume``):

1. the preset: the one named, else the dataset's (``default_preset`` opens the data file); with
   ``--task match`` a preset X means match-X;
2. the overrides, ``{"section.field": value}`` (typed values from the CLI's options; ``settings`` are the
   same as ``SECTION.FIELD=VALUE`` strings, from ``--set``/``--gen-opt``/``--extra``). Sections: ``model``
   and ``train`` (the dataclasses' fields), ``generator`` (the generator's own options: kept from the preset
   while the generator stays the preset's) and ``match`` (``MatchSettings``, the match task's);
3. the checks: every field's range (the dataclasses' ``validate``) and the generator (``check_run_config``);
   the generator's options written out in full and typed;
4. the match task's rules (``engine/match_task.configure_matching``): the CNN's learning rate and the
   weight decay of a run with a reconstruction term, unless given;
5. on resume (``resume_from``: the checkpoint, read once by its caller), the checkpoint's config, of which
   only ``RESUME_OVERRIDES`` may change: another field given with another value than the run's is refused.

The config module knows no model, so it cannot check the generator itself: ``check_run_config`` does.
"""

from __future__ import annotations

from dataclasses import fields, replace
from pathlib import Path
from typing import Any, Mapping, Sequence

from sslr_cli.config import ModelConfig, RunConfig, TrainConfig, convert_option, get_preset, parse_key_values
from sslr_cli.errors import SSLRError
from sslr_cli.models.registry import check_generator, check_run_config, with_full_options  # noqa: F401 (re-exported)

RESUME_OVERRIDES = ("epochs", "max_minutes", "max_steps", "compile", "cuda_graphs",  # what a resumed run may change
                    "checkpoint_minutes", "checkpoint_steps", "eval_every", "keep_every")
SECTIONS = ("model", "train", "generator", "match")


def default_preset(data: str | Path, task: str) -> str:
    """The preset a dataset calls for when none is given: its kind's answer (``DatasetKind.default_preset``,
    from the file's attributes, its image size say)."""
    from sslr_cli.data.registry import DATASETS
    from sslr_cli.data.store import open_scenes

    f = open_scenes(data)  # a kind not in DATASETS is refused here
    return DATASETS[f.kind].default_preset(f, task)


def parse_settings(items: Sequence[str] | Mapping[str, str] | None, option: str = "--set") -> dict[str, str]:
    """``["model.inner_lr=0.2", "generator.hidden=6"]`` -> {"model.inner_lr": "0.2", ...} (converted later)."""
    parsed = dict(items) if isinstance(items, Mapping) else parse_key_values(list(items or []), option)
    for key in parsed:
        section, dot, name = key.partition(".")
        if not dot or section not in SECTIONS or not name:
            raise SSLRError(f"{option} {key}: expected SECTION.FIELD=VALUE with SECTION one of {', '.join(SECTIONS)}")
    return parsed


def _typed(section_cls: type, section: str, name: str, value: Any, option: str) -> Any:
    known = {f.name: f for f in fields(section_cls)}
    if name not in known:
        raise SSLRError(f"{option} {section}.{name}: unknown field; choose from {', '.join(known)}")
    if not isinstance(value, str):  # a CLI option's value, typed by the parser
        return value
    kind = known[name].type
    if kind.startswith("tuple"):
        return tuple(v for v in value.split(",") if v)
    if kind == "dict":
        raise SSLRError(f"{option} {section}.{name}: set its entries with --set generator.KEY=VALUE")
    return convert_option(option, f"{section}.{name}", value, kind)


def build_run_config(data: str | Path | None, *, preset: str | None = None, task: str = "reconstruct",
                     overrides: Mapping[str, Any] | None = None,
                     settings: Sequence[str] | Mapping[str, str] | None = None,
                     init: str | Path | None = None, resume_from: Mapping[str, Any] | None = None,
                     run_dir: str | Path | None = None) -> RunConfig:
    """The config of a run (see the module's doc for the order of the rules).

    ``overrides``: ``{"section.field": value}``, None values ignored (an option not given); ``settings``:
    ``SECTION.FIELD=VALUE`` strings (typed by the field; an override of the same field wins). ``init``: the
    checkpoint a match run takes its first weights from (recorded in the config). ``resume_from``: a
    checkpoint to continue; its config is kept but for ``RESUME_OVERRIDES``, and an override of another field
    (or ``{"preset": name}``) with another value than the run's is an error naming the option and
    ``run_dir``, the run's directory.
    """
    given = {k: v for k, v in (overrides or {}).items() if v is not None}
    if resume_from is not None:
        cfg, refused = resumed_config(resume_from, given)
        if refused:  # the first, in key order
            key, (ours, theirs) = next(iter(refused.items()))
            run = "the run" if run_dir is None else f"the run in {run_dir}"
            raise SSLRError(f"--{key.rpartition('.')[2].replace('_', '-')} {ours}: {run} was trained with {theirs}; "
                            f"--resume continues it as it was (drop the option, or start a new run elsewhere)")
        return cfg
    for key in given:
        if key.partition(".")[0] not in SECTIONS:
            raise SSLRError(f"override {key!r}: expected SECTION.FIELD with SECTION one of {', '.join(SECTIONS)}")
    values: dict[str, Any] = {**parse_settings(settings), **given}
    by_section: dict[str, dict[str, Any]] = {s: {} for s in SECTIONS}
    for key, value in values.items():
        section, _, name = key.partition(".")
        by_section[section][name] = value
    task = by_section["train"].pop("task", task)

    preset_name = preset or default_preset(data, task)
    if task == "match" and not preset_name.startswith("match-"):
        preset_name = "match-" + preset_name  # --preset small --task match means match-small
    base = get_preset(preset_name)
    # a preset's generator options belong to its generator; --gen-opt adds to or replaces them
    generator = by_section["model"].get("generator")
    same_generator = generator in (None, base.model.generator)
    options = {**(base.model.generator_options if same_generator else {}), **by_section["generator"]}
    model = {k: _typed(ModelConfig, "model", k, v, "--set") for k, v in by_section["model"].items()}
    train = {k: _typed(TrainConfig, "train", k, v, "--set") for k, v in by_section["train"].items()}
    cfg = base.with_overrides(model={**model, "generator_options": options}, train={**train, "task": task})
    check_run_config(cfg)
    cfg = replace(cfg, model=with_full_options(cfg.model))

    match = by_section["match"]
    if cfg.train.task == "match":
        from sslr_cli.engine.match_task import configure_matching

        recon_weight = match.pop("recon_weight", None)
        cfg = check_run_config(configure_matching(
            cfg, lr_given="lr" in train, weight_decay_given="weight_decay" in train, recon_weight=recon_weight,
            extra=[f"{k}={v}" for k, v in match.items()], init=init))
    elif match:
        raise SSLRError("--recon-weight/--extra: only for --task match")
    return cfg


def resumed_config(checkpoint: Mapping[str, Any], overrides: Mapping[str, Any] | None = None,
                   ) -> tuple[RunConfig, dict[str, tuple[Any, Any]]]:
    """A resumed run's config and the overrides it refuses: (its checkpoint's config with only the training
    fields of ``RESUME_OVERRIDES`` changed (``{"train.epochs": 5}`` or ``{"epochs": 5}``), ``{key: (given, the
    run's)}`` for each other ``model``/``train`` field or ``"preset"`` given with another value than the run's,
    in key order). None values are not given; the ``generator`` and ``match`` sections are not compared."""
    saved = RunConfig.from_dict(checkpoint["config"])
    allowed, refused = {}, {}
    for key, value in sorted((overrides or {}).items()):
        section, _, name = key.rpartition(".")
        if value is None:
            continue
        if name in RESUME_OVERRIDES:
            if section in ("", "train"):
                allowed[name] = value
            continue
        if key == "preset":
            theirs = saved.preset
        elif section in ("model", "train"):
            theirs = getattr(getattr(saved, section), name)
        else:
            continue
        if value != theirs:
            refused[key] = (value, theirs)
    return saved.with_overrides(train=allowed), refused
