"""One function builds a run's config (engine/run_config.py); `sslr train` only parses. `--set SECTION.FIELD=VALUE`
sets any field, `--print-config` shows the result, r has one schedule and one check, and every option is declared
once (commands/options.py)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from conftest import one_line_error, run, tiny_run

import sslr_cli
from sslr_cli.config import RunConfig, get_preset
from sslr_cli.engine.run_config import RESUME_OVERRIDES, build_run_config, resumed_config
from sslr_cli.errors import SSLRError

PACKAGE = Path(sslr_cli.__file__).parent


def printed(*args) -> dict:
    result = run("train", *args, "--print-config")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_print_config_is_the_preset_with_the_options_and_settings(circles_file):
    cfg = printed(circles_file, "--preset", "small", "--set-size", 8, "--set", "model.inner_lr=0.25",
                  "--set", "train.lr_schedule=cosine", "--lr", "0.001")
    small = get_preset("small").to_dict()
    assert cfg["preset"] == "small" and cfg["model"]["set_size"] == 8 and cfg["model"]["inner_lr"] == 0.25
    assert cfg["train"]["lr_schedule"] == "cosine" and cfg["train"]["lr"] == 0.001
    assert cfg["model"]["encoder_width"] == small["model"]["encoder_width"]
    assert RunConfig.from_dict(cfg) == build_run_config(circles_file, preset="small", overrides={
        "model.set_size": 8, "train.lr": 0.001}, settings=["model.inner_lr=0.25", "train.lr_schedule=cosine"])


def test_the_dataset_picks_the_preset_and_match_maps_x_to_match_x(circles_file):
    assert printed(circles_file)["preset"] == "tiny"
    cfg = printed(circles_file, "--task", "match", "--preset", "small", "--extra", "loc_dim=3")
    assert cfg["preset"] == "match-small" and cfg["extra"]["loc_dim"] == 3
    assert cfg == printed(circles_file, "--task", "match", "--preset", "small", "--set", "match.loc_dim=3")


def test_gen_opt_and_extra_are_set_sections(circles_file):
    a = printed(circles_file, "--generator", "slot", "--gen-opt", "slot_size=8")
    b = printed(circles_file, "--generator", "slot", "--set", "generator.slot_size=8")
    assert a == b and a["model"]["generator_options"]["slot_size"] == 8


def test_an_option_of_its_own_wins_over_set(circles_file):
    assert printed(circles_file, "--set", "train.seed=3", "--seed", 4)["train"]["seed"] == 4


@pytest.mark.parametrize("setting, fragment", [
    ("model.nope=1", "model.nope: unknown field"),
    ("nope.x=1", "SECTION.FIELD=VALUE"),
    ("train.lr=fast", "expected float"),
    ("model.inner_steps=-1", "--inner-steps -1: must be in 0..1000"),
    ("lr", "KEY=VALUE"),
])
def test_bad_settings_are_one_line_errors(circles_file, setting, fragment):
    one_line_error(run("train", circles_file, "--set", setting, "--print-config"), fragment)


def test_resume_keeps_the_checkpoints_config_but_for_the_allowed_fields():
    saved = tiny_run("srn", epochs=2)
    checkpoint = {"config": saved.to_dict()}
    cfg, refused = resumed_config(checkpoint, {"train.epochs": 5, "train.lr": 9.0, "model.set_size": 7, "max_steps": 3,
                                               "train.seed": saved.train.seed, "preset": saved.preset})
    assert cfg.train.epochs == 5 and cfg.train.max_steps == 3
    assert cfg.train.lr == saved.train.lr and cfg.model == saved.model
    assert "lr" not in RESUME_OVERRIDES
    # what it cannot honour, in key order, as (given, the run's); the run's own values are no change
    assert refused == {"model.set_size": (7, saved.model.set_size), "train.lr": (9.0, saved.train.lr)}
    assert build_run_config(None, overrides={"train.epochs": 5}, resume_from=checkpoint) == cfg.with_overrides(
        train={"max_steps": saved.train.max_steps})


def test_resume_refuses_a_changed_setting_naming_the_option_and_the_run():
    saved = tiny_run("srn", epochs=2)
    checkpoint = {"config": saved.to_dict()}
    with pytest.raises(SSLRError, match=r"^--set-size 7: the run in runs/x was trained with "
                                        rf"{saved.model.set_size}; --resume continues it as it was"):
        build_run_config(None, overrides={"model.set_size": 7, "train.lr": 9.0}, resume_from=checkpoint,
                         run_dir="runs/x")
    with pytest.raises(SSLRError, match=rf"^--preset other: the run was trained with {saved.preset};"):
        build_run_config(None, overrides={"preset": "other"}, resume_from=checkpoint)


def test_r_has_one_schedule():
    cfg = tiny_run("srn", model=dict(inner_steps=2), late_epoch=3, late_inner_steps=7)
    assert [cfg.r_at(e) for e in range(5)] == [2, 2, 2, 7, 7] and cfg.r_values() == {2, 7}
    assert tiny_run("srn", model=dict(inner_steps=2), late_epoch=-1).r_values() == {2}
    with pytest.raises(SSLRError, match="--late-inner-steps -1"):
        tiny_run("srn", late_inner_steps=-1).validate()


def _sources() -> dict[str, str]:
    return {str(p.relative_to(PACKAGE)): p.read_text() for p in PACKAGE.rglob("*.py")}


def test_inner_steps_is_declared_once_and_checked_once():
    declared = {f: len(re.findall(r'Option\(\s*"--inner-steps"', s)) for f, s in _sources().items()}
    assert {f: n for f, n in declared.items() if n} == {"commands/options.py": 1}
    # one check (config.check_r), which the config's fields and the analysis commands' --inner-steps call
    assert [f for f, s in _sources().items() if "def check_r(" in s] == ["config/schemas.py"]
    assert [f for f, s in _sources().items() if 'f"--inner-steps {' in s] == []


def test_every_commands_options_are_declared_once_in_the_options_module():
    for path in sorted((PACKAGE / "commands").glob("*.py")) + [PACKAGE / "cli.py"]:
        text = path.read_text()
        assert "locals()" not in text and "import inspect" not in text and "signature(" not in text, path.name
        if path.name == "options.py":
            continue
        assert "typer.Option(" not in text and "typer.Argument(" not in text, path.name


def test_train_help_groups_its_options():
    result = run("train", "--help")
    assert result.exit_code == 0
    for panel in ("Data", "Model", "SRN refinement", "Training", "Schedule", "Evaluation curves", "Checkpoints",
                  "Devices", "Output"):
        assert f"─ {panel} ─" in result.output, panel


def test_the_cpu_presets_study_reads_its_settings_with_the_same_key_value_parser():
    import importlib.util

    path = PACKAGE.parent / "studies" / "cpu-presets" / "claim.py"
    spec = importlib.util.spec_from_file_location("claim", path)
    claim = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(claim)
    # FIELD=VALUE (the study's records use it) or SECTION.FIELD=VALUE (as sslr train --set), typed by the field
    assert claim.parse_sets(["lr=2e-3", "model.set_size=12", "init_mode=learned", "train.seed=3"]) == (
        {"set_size": 12, "init_mode": "learned"}, {"lr": 0.002, "seed": 3})
    assert claim.parse_steps("srn=12000,mlp=13500") == {"srn": 12000, "mlp": 13500}
    for bad, words in ((["lr=abc"], "--set lr='abc': expected float"), (["lr"], "expected KEY=VALUE"),
                       (["hidden=3"], "--set hidden: not a ModelConfig or TrainConfig field")):
        with pytest.raises(SystemExit, match=re.escape(words)):
            claim.parse_sets(bad)
    with pytest.raises(SystemExit, match="--steps srn='1.5': expected int"):
        claim.parse_steps("srn=1.5")
