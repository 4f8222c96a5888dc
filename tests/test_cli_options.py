"""r's one range check for training and evaluation; `--print-config` shows the resolved run (the declarations and
the help panels: tests/test_run_config.py)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from conftest import one_line_error, run

PACKAGE = Path(__file__).resolve().parents[1] / "sslr_cli"


def test_inner_steps_out_of_range_is_the_same_error_for_training_and_evaluation(circles_file, tmp_path):
    one_line_error(run("train", circles_file, "--preset", "tiny", "-r", 5000, "--out", tmp_path / "a"),
                   "--inner-steps 5000", "must be in 0..1000")
    one_line_error(run("reconstruct", tmp_path / "none.pt", "--data", circles_file, "--inner-steps", -1),
                   "--inner-steps -1", "must be in 0..1000")


def test_print_config_shows_the_resolved_run_and_trains_nothing(circles_file, tmp_path):
    out = tmp_path / "run"
    result = run("train", circles_file, "--preset", "tiny", "--lr", 0.005, "-r", 7, "--out", out, "--print-config")
    assert result.exit_code == 0, result.output
    cfg = json.loads(result.stdout)
    assert cfg["preset"] == "tiny" and cfg["train"]["lr"] == 0.005 and cfg["model"]["inner_steps"] == 7
    assert cfg["model"]["encoder_width"] == 16  # the preset's, not the paper's default
    assert not out.exists()
