"""The package's layers: imports point down only, and no two modules import each other (directly or
around a loop), counting every import, those inside functions included.

Top to bottom: cli -> commands -> reproduce -> experiments -> engine -> models / data -> config, and at the
bottom the shared leaf utilities. What a lower layer needs from a higher one is passed down (a callable,
a hook, a checked config)."""

from __future__ import annotations

import ast
from pathlib import Path

import sslr_cli

PACKAGE = Path(sslr_cli.__file__).parent
LEAVES = ("errors", "atomic", "jsonsafe", "parsing", "settings")  # shared leaf utilities, below every layer
LAYERS = {"cli": 0, "__main__": 0, "commands": 1, "reproduce": 2, "experiments": 3, "engine": 4,
          "models": 5, "data": 5, "config": 6}
BOTTOM = 7


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def layer(module: str) -> int:
    parts = module.split(".")
    if len(parts) == 1:  # the package itself (__version__)
        return BOTTOM
    top = parts[1]
    if top in LEAVES:
        return BOTTOM
    assert top in LAYERS, f"{module}: assign it a layer in tests/test_layers.py"
    return LAYERS[top]


def imports(module: str, path: Path, known: set[str]) -> set[str]:
    """The package's modules that ``module`` imports anywhere in its file (resolved to known modules)."""
    tree = ast.parse(path.read_text(), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()

    def add(name: str) -> None:
        while name and name not in known:  # "sslr_cli.models.registry.GENERATORS" -> the module
            name = name.rpartition(".")[0]
        if name and name != module:
            found.add(name)

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("sslr_cli"):
                    add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            if not base.startswith("sslr_cli"):
                continue
            for alias in node.names:
                full = f"{base}.{alias.name}"
                add(full if full in known else base)
    return found


def import_graph() -> dict[str, set[str]]:
    mods = modules()
    known = set(mods)
    return {m: imports(m, p, known) for m, p in mods.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_every_module_has_a_layer():
    for m in modules():
        layer(m)


def test_imports_point_down_only():
    graph = import_graph()
    upward = sorted(f"{m} (layer {layer(m)}) imports {d} (layer {layer(d)})"
                    for m, deps in graph.items() for d in deps if layer(d) < layer(m))
    assert not upward, "upward imports:\n" + "\n".join(upward)


def test_no_import_cycles():
    found = cycles(import_graph())
    assert not found, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in found)


def test_the_checker_sees_imports_inside_functions(tmp_path):
    source = tmp_path / "m.py"
    source.write_text("def f():\n    from sslr_cli.cli import app\n    from . import errors\n")
    found = imports("sslr_cli.config", source, {"sslr_cli.cli", "sslr_cli.errors", "sslr_cli.config"})
    assert found == {"sslr_cli.cli", "sslr_cli.errors"}
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
