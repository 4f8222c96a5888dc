"""Every third-party import is a declared dependency: the package's against pyproject's `dependencies` and
its optional extras (`[project.optional-dependencies]` but `dev`: a feature such as `--log tensorboard` imports
its package where it runs and says how to install it), the tests' against `dependencies` plus the `dev` extra. An import that only works because some other
package happened to install it (as click once came with typer) breaks a fresh install."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parents[1]
FIRST_PARTY = {"sslr_cli"}


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_names(requirements: list[str]) -> set[str]:
    """The distribution names of PEP 508 requirement strings ("torch>=2.1; ..." -> "torch")."""
    return {_canonical(re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", r.strip()).group(0)) for r in requirements}


def declared() -> tuple[set[str], set[str]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime = _requirement_names(project["dependencies"])
    dev = _requirement_names(project.get("optional-dependencies", {}).get("dev", []))
    return runtime, runtime | dev


def optional_extras() -> dict[str, set[str]]:
    """The distributions of each optional extra but `dev` (which only the tests may use)."""
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"].get("optional-dependencies", {})
    return {name: _requirement_names(reqs) for name, reqs in extras.items() if name != "dev"}


def top_level_imports(path: Path) -> set[str]:
    """Absolute imports anywhere in the file (module level or inside functions)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.partition(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.partition(".")[0])
    return names


def undeclared(files: list[Path], allowed: set[str], local: set[str]) -> list[str]:
    """'file: import X (distribution D)' for each third-party import whose distribution is not in ``allowed``."""
    distributions = importlib.metadata.packages_distributions()
    problems = []
    for path in files:
        for name in sorted(top_level_imports(path)):
            if name in sys.stdlib_module_names or name in FIRST_PARTY or name in local:
                continue
            dists = {_canonical(d) for d in distributions.get(name, [])}
            if not dists:
                problems.append(f"{path.relative_to(ROOT)}: import {name} (no installed distribution provides it)")
            elif not dists & allowed:
                problems.append(f"{path.relative_to(ROOT)}: import {name} (distribution {', '.join(sorted(dists))} "
                                f"is not declared)")
    return problems


def test_every_import_of_the_package_is_a_declared_runtime_dependency_or_optional_extra():
    runtime, _ = declared()
    optional = set().union(*optional_extras().values())
    files = sorted((ROOT / "sslr_cli").rglob("*.py"))
    assert files
    assert undeclared(files, runtime | optional, local=set()) == []


def test_optional_extras_are_installed_for_the_tests_and_never_in_the_core():
    """What an extra brings is tested with the real library (so `dev` holds it), and a core dependency is not
    also an extra (the extra would then promise nothing)."""
    runtime, with_dev = declared()
    for name, dists in optional_extras().items():
        assert dists, f"extra {name!r} is empty"
        assert dists <= with_dev - runtime, f"extra {name!r}: {sorted(dists - (with_dev - runtime))} not in dev or in the core"


def test_the_check_names_an_undeclared_import(tmp_path, monkeypatch):
    """The check itself: a module importing a package that is installed but not declared is reported."""
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    module = tmp_path / "mod.py"
    module.write_text("import os\nimport numpy\n\ndef f():\n    from pytest import fixture\n")
    assert undeclared([module], {"numpy"}, local=set()) == ["mod.py: import pytest (distribution pytest is not declared)"]
    assert undeclared([module], {"numpy", "pytest"}, local=set()) == []


def test_requirement_names_ignore_versions_extras_and_markers():
    assert _requirement_names(["torch>=2.1", "opencv_python-headless >=4.8", "tomli; python_version < '3.11'",
                               "Typer[all]==0.12"]) == {"torch", "opencv-python-headless", "tomli", "typer"}
