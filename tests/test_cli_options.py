"""Each option declared once, checked once; `sslr train --help` grouped; `--print-config` shows the resolved run."""

from __future__ import annotations

import json
import re
from pathlib import Path

from conftest import one_line_error, run

PACKAGE = Path(__file__).resolve().parents[1] / "sslr_cli"


def test_inner_steps_is_declared_once_and_checked_in_one_function():
    sources = {p: p.read_text() for p in PACKAGE.rglob("*.py")}
    declared = [p.name for p, text in sources.items() if re.search(r'typer\.Option\([^)]*"--inner-steps"', text)]
    assert declared == ["common.py"]
    checks = [p.name for p, text in sources.items() if re.search(r"inner_steps\s*<\s*0", text)]
    assert checks == []  # the range lives in config.check_inner_steps alone
    assert "def check_inner_steps" in sources[PACKAGE / "config.py"]


def test_inner_steps_out_of_range_is_the_same_error_for_training_and_evaluation(circles_file, tmp_path):
    one_line_error(run("train", circles_file, "--preset", "tiny", "-r", 5000, "--out", tmp_path / "a"),
                   "--inner-steps 5000", "must be in 0..1000")
    one_line_error(run("reconstruct", tmp_path / "none.pt", "--data", circles_file, "--inner-steps", -1),
                   "--inner-steps -1", "must be in 0..1000")


def test_train_help_groups_its_options():
    result = run("train", "--help")
    assert result.exit_code == 0
    panels = re.findall(r"[╭+]─ ([A-Za-z ]+?) ─", result.output)
    for panel in ("Data and run", "Model", "SRN refinement", "Training", "Learning curves and logging", "Checkpoints",
                  "Speed and devices"):
        assert panel in panels, panels


def test_print_config_shows_the_resolved_run_and_trains_nothing(circles_file, tmp_path):
    out = tmp_path / "run"
    result = run("train", circles_file, "--preset", "tiny", "--lr", 0.005, "-r", 7, "--out", out, "--print-config")
    assert result.exit_code == 0, result.output
    cfg = json.loads(result.stdout)
    assert cfg["preset"] == "tiny" and cfg["train"]["lr"] == 0.005 and cfg["model"]["inner_steps"] == 7
    assert cfg["model"]["encoder_width"] == 16  # the preset's, not the paper's default
    assert not out.exists()
