"""The extension points: registries list what docs/extending.md documents, presets and tasks resolve through
the public API alone, old configs with unknown keys fail by name, and a generator defined here plugs
in through the registry alone (trained by `sslr train`, evaluated by `sslr reconstruct`)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from conftest import runner, tiny_model, tiny_run
from torch import nn

from sslr_cli.cli import app
from sslr_cli.config import PRESETS, RunConfig, get_preset
from sslr_cli.engine.checkpoint import load_model, save_checkpoint
from sslr_cli.engine.compile import eager_modules
from sslr_cli.engine.run_config import check_run_config
from sslr_cli.engine.distributed import frozen_parameter_names, may_leave_parameters_unused
from sslr_cli.engine.tasks import TASKS, get_task
from sslr_cli.errors import SSLRError
from sslr_cli.models import SetAutoencoder
from sslr_cli.models.generator import SetEncoding, SetGenerator
from sslr_cli.models.registry import (GENERATORS, TASK_BASELINES, GeneratorSpec, check_generator, generator_help,
                                      generator_names)

ROOT = Path(__file__).resolve().parents[1]


def readme_registry(name: str) -> set[str]:
    """The backticked entries of docs/extending.md's registry table row that starts with ``name``."""
    section = (ROOT / "docs" / "extending.md").read_text()
    row = next(line for line in section.splitlines() if line.startswith(f"| {name}"))
    return set(re.findall(r"`([a-z][a-z0-9-]*)`", row.split("|")[3]))


def docs_presets(page: str) -> set[str]:
    """The presets a docs/ page documents: the backticked first cells of the table under its "## Presets"."""
    text = (ROOT / "docs" / page).read_text()
    section = text[text.index("## Presets"):].split("\n## ")[0]
    return {m for line in section.splitlines() if line.startswith("| `")
            for m in re.findall(r"`([a-z][a-z0-9-]*)`", line.split("|")[1])}


def test_every_registry_lists_what_the_readme_documents():
    assert readme_registry("set generators") == set(GENERATORS)
    assert readme_registry("task baselines") == {n for b in TASK_BASELINES.values() for n in b}
    # the multi-object presets are documented on their own page (docs/multi-object.md)
    assert readme_registry("presets") | docs_presets("multi-object.md") == set(PRESETS)
    assert readme_registry("tasks") == set(TASKS)
    help_text = generator_help()
    for spec in GENERATORS.values():
        assert f"{spec.name} ({spec.label}" in help_text


def test_documented_presets_and_tasks_resolve_through_the_public_api_alone():
    """In a fresh interpreter: no import for effect, and config.py needs no torch."""
    code = (
        "import sys\n"
        "from sslr_cli.config import PRESETS, get_preset\n"
        "assert 'torch' not in sys.modules\n"
        "names = ['paper', 'small', 'tiny', 'clevr-paper', 'clevr-small', 'match-paper', 'match-small', 'match-tiny']\n"
        "for n in names: get_preset(n).validate()\n"
        "from sslr_cli.engine.tasks import get_task\n"
        "print(sorted(PRESETS), get_task('match').name, get_task('reconstruct').name)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    assert "match reconstruct" in done.stdout
    assert get_preset("match-tiny").train.task == "match" and get_preset("clevr-small").model.image_size == 128


def test_generators_per_task_and_errors():
    assert generator_names("reconstruct") == ["mlp", "srn", "slot"]
    assert generator_names("match") == ["mlp", "srn", "slot", "cnn"]
    with pytest.raises(SSLRError, match="exists only for --task match"):
        check_generator(tiny_model(generator="cnn"), "reconstruct")
    with pytest.raises(SSLRError, match="--generator 'gan': choose one of mlp, srn"):
        check_generator(tiny_model(generator="gan"), "reconstruct")
    with pytest.raises(SSLRError, match="--gen-opt depth: unknown setting for --generator srn"):
        check_generator(tiny_model(generator="srn", generator_options={"depth": 2}), "reconstruct")
    with pytest.raises(SSLRError, match="--set-size 3: the encoder's 128 features"):
        check_run_config(tiny_run("mlp", model=dict(set_size=3)))  # SSLR's H_set splits the features into |S| groups
    with pytest.raises(SSLRError, match="--task 'nope'"):
        get_task("nope")


def test_config_with_unknown_keys_is_an_error_naming_them(tmp_path):
    d = tiny_run("srn").to_dict()
    assert RunConfig.from_dict(d) == tiny_run("srn")
    assert RunConfig.from_dict({**d, "model": {k: v for k, v in d["model"].items() if k != "generator_options"}}) == tiny_run("srn")
    d["model"]["inner_step"] = 3  # a renamed field must not load with the default of the new name
    with pytest.raises(SSLRError, match="config model: unknown key inner_step"):
        RunConfig.from_dict(d)
    d = tiny_run("srn").to_dict()
    d["train"]["foo"], d["train"]["bar"] = 1, 2
    with pytest.raises(SSLRError, match="config train: unknown keys bar, foo"):
        RunConfig.from_dict(d)
    cfg = tiny_run("srn")
    bad = cfg.to_dict()
    bad["model"]["old_field"] = 1
    save_checkpoint(tmp_path / "old.pt", {"config": bad, "model": SetAutoencoder(cfg.model).state_dict()})
    with pytest.raises(SSLRError, match=r"old\.pt: config model: unknown key old_field"):
        load_model(tmp_path / "old.pt")


# --- a generator defined here, plugged in through the registry alone ---------------------------------

@dataclass(frozen=True)
class PoolOptions:
    hidden: int = 8
    scale: float = 1.0

    def validate(self) -> "PoolOptions":
        if self.hidden < 1:
            raise SSLRError(f"--gen-opt hidden={self.hidden}: must be >= 1")
        return self


class PoolGenerator(SetGenerator):
    """S = MLP(average-pooled 4x4 image), reshaped to |S| x D; ``spare`` never gets a gradient."""

    def __init__(self, cfg, options: PoolOptions) -> None:
        super().__init__()
        self.cfg, self.options = cfg, options
        self.pool = nn.AdaptiveAvgPool2d(4)
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(48, options.hidden), nn.ReLU(),
                                 nn.Linear(options.hidden, cfg.set_size * cfg.element_dim))
        self.spare = nn.Linear(2, 2)

    def forward(self, images: torch.Tensor, inner_steps: int | None = None) -> SetEncoding:
        s = self.options.scale * self.net(self.pool(images)).view(-1, self.cfg.set_size, self.cfg.element_dim)
        return SetEncoding(s, s, None, [])

    def frozen_parameters(self) -> list[str]:
        return ["spare.weight", "spare.bias"]

    def eager_submodules(self) -> list[str]:
        return ["net"]


@pytest.fixture
def pool_generator(monkeypatch):
    monkeypatch.setitem(GENERATORS, "pool", GeneratorSpec("pool", "SSLR-POOL", "pooled pixels, for the tests",
                                                          PoolGenerator, PoolOptions))


def test_a_generator_declares_what_ddp_and_compile_need(pool_generator):
    model = SetAutoencoder(tiny_model(generator="pool", generator_options={"hidden": 5}))
    assert isinstance(model.encoder, PoolGenerator) and model.encoder.options == PoolOptions(hidden=5)
    assert frozen_parameter_names(model) == ["encoder.spare.weight", "encoder.spare.bias"]
    assert eager_modules(model) == {id(model.encoder.net)}
    assert not may_leave_parameters_unused(model, RunConfig("t", model.cfg))
    srn = SetAutoencoder(tiny_model(generator="srn", inner_steps=0))
    assert frozen_parameter_names(srn) == ["encoder.set_head.proj.weight", "encoder.set_head.proj.bias"]
    assert frozen_parameter_names(SetAutoencoder(tiny_model(generator="srn", init_mode="learned"))) == []
    assert may_leave_parameters_unused(srn, RunConfig("t", srn.cfg, tiny_run().train))
    assert eager_modules(srn) == {id(srn.encoder.refiner)}


def test_a_generator_defined_in_a_test_trains_and_is_evaluated_through_the_cli(tmp_path, circles_file, pool_generator):
    assert "pool (SSLR-POOL: pooled pixels, for the tests)" in generator_help()
    base = ["train", str(circles_file), "--preset", "tiny", "--generator", "pool", "--max-steps", "2",
            "--batch-size", "8", "--precision", "fp32", "--quiet", "--json"]
    bad = runner.invoke(app, base + ["--gen-opt", "depth=3", "--out", str(tmp_path / "bad")])
    assert bad.exit_code == 2 and "--gen-opt depth: unknown setting for --generator pool" in bad.stderr
    bad = runner.invoke(app, base + ["--gen-opt", "hidden=0", "--out", str(tmp_path / "bad")])
    assert bad.exit_code == 2 and "hidden=0: must be >= 1" in bad.stderr
    result = runner.invoke(app, base + ["--gen-opt", "hidden=6", "--gen-opt", "scale=0.5", "--out", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["generator"] == "pool" and summary["steps"] == 2
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["model"]["generator_options"] == {"hidden": 6, "scale": 0.5}  # typed, every option written out
    model, cfg, _ = load_model(tmp_path / "run")
    assert isinstance(model.encoder, PoolGenerator) and model.encoder.options == PoolOptions(6, 0.5)

    result = runner.invoke(app, ["reconstruct", str(tmp_path / "run"), "--data", str(circles_file), "--samples", "0",
                                 "--limit", "8", "--json", "--quiet"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["checkpoints"][0]["label"] == "POOL run" and payload["checkpoints"][0]["generator"] == "pool"
    assert payload["images"] == 8
