"""The package seams, read from the source: every ``import`` of every module (ast).

Units are the top-level packages (``actions``, ``bot``, ``voice``, ...) and the
parts of ``integrations`` (``integrations.shared``, ``integrations.telegram``,
``integrations.workorders``, ``integrations.rasa_rest``, ``integrations.notifier``).
Imports anywhere in a module count, inside functions and ``TYPE_CHECKING``
blocks too: a deferred import is still a dependency.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("integrations", "actions", "bot", "voice", "tools", "benchmarks", "migrations")

Edge = tuple[str, str, str]  # (importing module, imported module, "file:line")


def module_name(path: Path, root: Path) -> tuple[str, bool]:
    """``integrations.telegram.app`` of ``root/integrations/telegram/app.py``; is it a package."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    is_package = parts[-1] == "__init__"
    if is_package:
        parts.pop()
    return ".".join(parts), is_package


def imported_modules(tree: ast.AST, module: str, is_package: bool) -> Iterable[tuple[str, int]]:
    """Absolute names of what ``module`` imports (relative imports resolved), with lines."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                yield node.module or "", node.lineno
                continue
            base = module.split(".")
            if not is_package:
                base = base[:-1]
            base = base[: len(base) - (node.level - 1)]
            if node.module:
                yield ".".join([*base, node.module]), node.lineno
            else:  # from . import a, b: each name may be a module
                for alias in node.names:
                    yield ".".join([*base, alias.name]), node.lineno


def import_edges(root: Path, packages: Iterable[str] = PACKAGES) -> list[Edge]:
    edges: list[Edge] = []
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            module, is_package = module_name(path, root)
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            for target, line in imported_modules(tree, module, is_package):
                if target.split(".")[0] in packages:
                    edges.append((module, target, f"{path.relative_to(root)}:{line}"))
    return edges


def unit(module: str, depth: int = 2, within: str = "integrations") -> str:
    """The unit a module belongs to: ``integrations.<part>`` or its top-level package."""
    parts = module.split(".")
    if parts[0] == within and len(parts) > 1:
        return ".".join(parts[:depth])
    return parts[0]


def unit_graph(edges: Iterable[Edge], to_unit=unit) -> dict[str, dict[str, list[str]]]:
    """``{from unit: {to unit: [where, ...]}}`` without a unit's imports of itself."""
    graph: dict[str, dict[str, list[str]]] = {}
    for source, target, where in edges:
        a, b = to_unit(source), to_unit(target)
        if a != b:
            graph.setdefault(a, {}).setdefault(b, []).append(where)
    return graph


def cycles(graph: dict[str, dict[str, list[str]]]) -> list[list[str]]:
    """The strongly connected components with more than one unit (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, {}):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    nodes = set(graph) | {b for targets in graph.values() for b in targets}
    for node in sorted(nodes):
        if node not in index:
            visit(node)
    return found


def explain(graph: dict[str, dict[str, list[str]]], component: list[str]) -> str:
    return "; ".join(
        f"{a} -> {b} ({', '.join(graph[a][b][:3])})"
        for a in component for b in graph.get(a, {}) if b in component
    )


@pytest.fixture(scope="module")
def graph() -> dict[str, dict[str, list[str]]]:
    return unit_graph(import_edges(REPO_ROOT))


def imports_of(graph: dict[str, dict[str, list[str]]], source: str) -> dict[str, list[str]]:
    return graph.get(source, {})


def test_no_import_cycle_between_packages(graph):
    assert graph, "no imports found: is REPO_ROOT right?"
    found = cycles(graph)
    assert found == [], " | ".join(explain(graph, c) for c in found)


def test_the_shared_package_imports_no_other_project_package(graph):
    assert imports_of(graph, "integrations.shared") == {}


def test_the_work_order_service_imports_no_channel(graph):
    forbidden = {"integrations.telegram", "integrations.notifier", "voice", "actions", "bot",
                 "tools", "benchmarks", "migrations"}
    found = {b: where for b, where in imports_of(graph, "integrations.workorders").items()
             if b in forbidden}
    assert found == {}


def test_the_channels_import_nothing_of_the_service(graph):
    for channel in ("integrations.telegram", "voice", "integrations.rasa_rest"):
        found = {b: where for b, where in imports_of(graph, channel).items()
                 if b in ("integrations.workorders", "integrations.notifier")}
        assert found == {}, channel


def test_the_channels_import_each_other_not(graph):
    channels = ("integrations.telegram", "voice")
    for channel in channels:
        found = {b: where for b, where in imports_of(graph, channel).items() if b in channels}
        assert found == {}, channel


def test_the_rasa_side_imports_nothing_of_the_application_side(graph):
    """``actions`` and ``bot`` run in Rasa's interpreter (.venv-rasa, other library
    versions): they reach the service over HTTP only."""
    application = {"integrations.shared", "integrations.telegram", "integrations.workorders",
                   "integrations.rasa_rest", "integrations.notifier", "voice", "tools"}
    for side in ("actions", "bot"):
        found = {b: where for b, where in imports_of(graph, side).items() if b in application}
        assert found == {}, side


def test_the_service_layers_point_one_way():
    """Inside the service: the domain imports no other part; no cycle between the parts."""
    edges = [e for e in import_edges(REPO_ROOT, ("integrations",))
             if e[0].startswith("integrations.workorders.")
             and e[1].startswith("integrations.workorders.")]
    layers = unit_graph(edges, lambda m: unit(m, depth=3, within="integrations"))
    assert imports_of(layers, "integrations.workorders.domain") == {}
    found = cycles(layers)
    assert found == [], " | ".join(explain(layers, c) for c in found)


def test_the_check_finds_a_cycle_and_a_deferred_import(tmp_path):
    """The checks above can fail: a cycle through a relative import inside a function."""
    (tmp_path / "integrations" / "a").mkdir(parents=True)
    (tmp_path / "integrations" / "b").mkdir()
    for part in ("integrations", "integrations/a", "integrations/b"):
        (tmp_path / part / "__init__.py").write_text("")
    (tmp_path / "integrations" / "a" / "x.py").write_text("from ..b import y\n")
    (tmp_path / "integrations" / "b" / "y.py").write_text(
        "def later():\n    from integrations.a.x import thing\n")
    found_graph = unit_graph(import_edges(tmp_path, ("integrations",)))
    assert found_graph == {
        "integrations.a": {"integrations.b": ["integrations/a/x.py:1"]},
        "integrations.b": {"integrations.a": ["integrations/b/y.py:2"]},
    }
    assert cycles(found_graph) == [["integrations.a", "integrations.b"]]
