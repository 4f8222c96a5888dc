"""The command line: help, version, gen-data and train, exit codes and one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys

import h5py
import pytest
from conftest import one_line_error, run

from sslr_cli import __version__
from sslr_cli.data.store import open_scenes

def test_help_lists_commands_and_version():
    result = run("--help")
    assert result.exit_code == 0
    for name in ("gen-data", "train"):
        assert name in result.output
    assert run("--version").output.startswith(f"sslr {__version__} (Python ")


def test_module_entry_point():
    out = subprocess.run([sys.executable, "-m", "sslr_cli", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and __version__ in out.stdout


def test_gen_data_circles_json_and_file(tmp_path):
    out = tmp_path / "c.h5"
    result = run("gen-data", "circles", out, "--n", 30, "--count", 3, "--seed", 2, "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["images"] == 30 and summary["objects_per_image"] == {"3": 30}
    f = open_scenes(out, "circles")
    assert f.n == 30 and f.seed == 2 and f.params["min_count"] == 3


def test_gen_data_table_output(tmp_path):
    result = run("gen-data", "isocircles", tmp_path / "iso.h5", "--n", 10, "-q")
    assert result.exit_code == 0
    assert "isocircles dataset" in result.output and "target" in result.output


def test_existing_output_without_force(tmp_path):
    out = tmp_path / "c.h5"
    assert run("gen-data", "circles", out, "--n", 5, "-q").exit_code == 0
    before = out.read_bytes()
    one_line_error(run("gen-data", "circles", out, "--n", 6, "-q"), "already exists", "--force")
    assert out.read_bytes() == before
    assert run("gen-data", "circles", out, "--n", 6, "-q", "--force").exit_code == 0


@pytest.mark.parametrize(
    "args, fragment",
    [
        (("--count", 3, "--min-count", 1), "--count"),
        (("--min-count", 5, "--max-count", 2), "--min-count"),
        (("--max-radius", 50), "--max-radius"),
        (("--count", 5000), "cannot place"),
        (("--n", 0), "--n"),
    ],
)
def test_gen_data_bad_options(tmp_path, args, fragment):
    one_line_error(run("gen-data", "circles", tmp_path / "c.h5", *args, "-q"), fragment)
    assert not (tmp_path / "c.h5").exists()


@pytest.mark.parametrize("args, message", [
    (("circles", "--n", 0), "--n 0: must be >= 1"),
    (("circles", "--count", -1), "--count -1: must be >= 0"),
    (("circles", "--max-radius", 50), "--max-radius 50"),
    (("isocircles", "--n", 0), "--n 0: must be >= 1"),
    (("isocircles", "--count", 0), "--count 0: need at least one circle per image"),
    (("clevr", "--n", 0), "--n 0: must be >= 1"),
    (("clevr", "--limit", 0), "--limit 0: must be >= 1"),
])
def test_gen_data_checks_its_settings_before_making_the_output_folder(tmp_path, args, message):
    kind, *rest = args
    one_line_error(run("gen-data", kind, tmp_path / "new" / "x.h5", *rest, "-q"), message)
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize("args, message", [
    (("--max-objects", -1), "--max-objects -1: must be >= 0"),
    (("--limit", 0), "--limit 0: must be >= 1"),
    (("--skip", -1), "--skip -1: must be >= 0"),
])
def test_import_multi_object_ranges(tmp_path, args, message):
    one_line_error(run("gen-data", "import-multi-object", tmp_path / "none.tfrecords", tmp_path / "x.h5",
                       "--dataset", "tetrominoes", *args), message)


def test_usage_error_exits_2(tmp_path):
    assert run("gen-data", "circles", tmp_path / "c.h5", "--n", "many").exit_code == 2
    assert run("train").exit_code == 2


def test_train_cli_runs_and_reports_json(tmp_path, circles_file):
    result = run("train", circles_file, "--out", tmp_path / "run", "--preset", "tiny", "--epochs", 1, "--batch-size", 16,
                 "--set-size", 4, "--element-dim", 3, "--inner-steps", 2, "--encoder-width", 4, "--decoder-width", 4,
                 "--device", "cpu", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["stopped"] == "finished" and summary["steps"] == 2 and summary["generator"] == "srn"
    cfg = json.loads((tmp_path / "run" / "config.json").read_text())
    assert cfg["model"]["set_size"] == 4 and cfg["model"]["inner_steps"] == 2


@pytest.mark.parametrize(
    "args, fragment",
    [
        (("--generator", "gan"), "--generator"),
        (("--preset", "huge"), "--preset"),
        (("--set-size", 7), "--set-size"),
        (("--batch-size", 0), "--batch-size"),
        (("--lr", -1), "--lr"),
        (("--device", "tpu"), "--device"),
        (("--precision", "fp8"), "--precision"),
    ],
)
def test_train_bad_options(tmp_path, circles_file, args, fragment):
    one_line_error(run("train", circles_file, "--out", tmp_path / "run", "--encoder-width", 4, "--decoder-width", 4, *args), fragment)


def test_train_bad_data_files(tmp_path):
    text = tmp_path / "notes.h5"
    text.write_text("not hdf5")
    one_line_error(run("train", text, "--out", tmp_path / "run"), "notes.h5", "not an HDF5 file")
    one_line_error(run("train", tmp_path / "missing.h5", "--out", tmp_path / "run"), "missing.h5")
    iso = tmp_path / "iso.h5"
    assert run("gen-data", "isocircles", iso, "--n", 4, "-q").exit_code == 0
    one_line_error(run("train", iso, "--out", tmp_path / "run", "--preset", "tiny"), "isocircles")
    broken = tmp_path / "broken.h5"
    assert run("gen-data", "circles", broken, "--n", 4, "-q").exit_code == 0
    with h5py.File(broken, "a") as h:
        del h["images"]
    one_line_error(run("train", broken, "--out", tmp_path / "run"), "missing dataset 'images'")
