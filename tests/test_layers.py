"""The package's layers: cli -> commands -> reproduce -> experiments -> engine -> models / data -> config, with the
shared leaf modules at the bottom. No module imports one of a higher layer, not even inside a function, and no
two modules import each other (directly or around a cycle)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "sslr_cli"

# lower number = higher layer; a module may import its own layer's modules or any lower layer's
LAYERS = {"cli": 0, "__main__": 0, "commands": 1, "reproduce": 2, "experiments": 3, "engine": 4, "models": 5, "data": 5,
          "config": 6}
LEAVES = {"errors", "atomic", "jsonsafe", "__init__"}  # shared utilities: they import nothing of the package above them
LEAF_LAYER = 7


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> int:
    parts = module.split(".")
    if len(parts) == 1:  # the package itself (sslr_cli/__init__.py: the version only)
        return LEAF_LAYER
    top = parts[1]
    if top in LAYERS:
        return LAYERS[top]
    assert top in LEAVES, f"{module}: no layer assigned (add it to LAYERS or LEAVES in this test)"
    return LEAF_LAYER


def imports_of(path: Path) -> set[str]:
    """The package's modules ``path`` imports, at module level or inside functions (relative ones too)."""
    names: set[str] = set()
    me = module_name(path).split(".")
    package = me if path.name == "__init__.py" else me[:-1]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names if a.name.startswith("sslr_cli"))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1])
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            if not module.startswith("sslr_cli"):
                continue
            for alias in node.names:  # `from sslr_cli.models import registry` imports a module
                candidate = f"{module}.{alias.name}"
                names.add(candidate if _exists(candidate) else module)
    return {n for n in names if _exists(n)}


def _exists(module: str) -> bool:
    rel = Path(*module.split("."))
    return (PACKAGE.parent / rel).with_suffix(".py").exists() or (PACKAGE.parent / rel / "__init__.py").exists()


def graph() -> dict[str, set[str]]:
    return {module_name(p): imports_of(p) - {module_name(p)} for p in sorted(PACKAGE.rglob("*.py"))}


def upward_imports(edges: dict[str, set[str]]) -> list[str]:
    return sorted(f"{a} imports {b}" for a, bs in edges.items() for b in bs if layer_of(b) < layer_of(a))


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of more than one module (Tarjan), each as a sorted list."""
    index, low, stack, on, found, counter = {}, {}, [], set(), [], [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_no_module_imports_a_higher_layer():
    assert upward_imports(graph()) == []


def test_no_import_cycles():
    assert cycles(graph()) == []


def test_the_checks_find_an_upward_import_and_a_cycle():
    edges = {"sslr_cli.engine.train": {"sslr_cli.experiments.curves"}, "sslr_cli.experiments.curves": {"sslr_cli.engine.train"}}
    assert upward_imports(edges) == ["sslr_cli.engine.train imports sslr_cli.experiments.curves"]
    assert cycles(edges) == [["sslr_cli.engine.train", "sslr_cli.experiments.curves"]]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []
