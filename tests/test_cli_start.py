"""The CLI answers at once: importing it and printing help imports none of the heavy libraries; `sslr --version`
and `sslr info` say what a bug report needs."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from sslr_cli.cli import app
from sslr_cli.engine.environment import CPU_FEATURES, cpu_description

HEAVY = ("torch", "h5py", "matplotlib", "sklearn", "scipy", "cv2")


def _modules_after(argv: list[str]) -> dict:
    """Run `sslr ARGV` in a fresh interpreter; which heavy modules did it import, and what did it print?"""
    script = (
        "import json, sys\n"
        "from typer.testing import CliRunner\n"
        "from sslr_cli.cli import app\n"
        f"result = CliRunner().invoke(app, {argv!r}, prog_name='sslr')\n"
        f"print(json.dumps({{'loaded': [m for m in {HEAVY!r} if m in sys.modules], "
        "'code': result.exit_code, 'output': result.output}))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("argv", [["--help"], ["train", "--help"], ["gen-data", "circles", "--help"],
                                  ["reproduce", "--help"], ["--version"], ["train", "--no-such-option"]])
def test_help_version_and_usage_errors_import_no_heavy_library(argv):
    result = _modules_after(argv)
    assert result["loaded"] == [], f"`sslr {' '.join(argv)}` imported {result['loaded']}"
    assert result["code"] == (2 if "--no-such-option" in argv else 0), result["output"]


def test_version_names_sslr_python_and_torch():
    from sslr_cli import __version__

    result = CliRunner().invoke(app, ["--version"], prog_name="sslr")
    assert result.exit_code == 0
    line = result.output.strip()
    assert line.startswith(f"sslr {__version__} (Python ") and "torch " in line


def test_info_json_has_what_a_bug_report_needs():
    result = CliRunner().invoke(app, ["info", "--json"], prog_name="sslr")
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    import h5py
    import numpy
    import torch

    assert info["torch"] == torch.__version__ and info["numpy"] == numpy.__version__ and info["h5py"] == h5py.__version__
    assert info["cpu"]["cores"] >= 1
    assert isinstance(info["gpus"], list) and len(info["gpus"]) == torch.cuda.device_count()
    assert info["fspool_kernel"] and info["cache_dir"]


def test_info_table_names_the_kernel_and_the_devices():
    result = CliRunner().invoke(app, ["info"], prog_name="sslr")
    assert result.exit_code == 0, result.output
    for row in ("torch", "CPU", "FSPool kernel", "cache folder"):
        assert row in result.output
    import torch

    assert ("cuda:0" in result.output) == torch.cuda.is_available()


def test_cpu_description_reads_model_and_features_from_cpuinfo():
    cpuinfo = ("processor\t: 0\nmodel name\t: Example CPU 9000\nflags\t\t: fpu sse avx2 avx512f avx512_bf16\n\n"
               "processor\t: 1\nmodel name\t: Example CPU 9000\nflags\t\t: fpu sse avx2 avx512f avx512_bf16\n")
    cpu = cpu_description(cpuinfo)
    assert cpu["model"] == "Example CPU 9000"
    assert cpu["features"] == {"avx2": True, "avx512f": True, "avx512_bf16": True, "amx_bf16": False}
    assert set(cpu["features"]) == set(CPU_FEATURES)
    assert cpu_description("")["features"] == {}  # no flags line (not Linux): no claims either way
