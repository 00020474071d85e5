"""The package's shape (issue 8): no import loop in bridge/, no module over 400 lines.

Read from the source with `ast`, nothing imported. An edge goes from a module to each bridge
module it imports by name, at any depth (an import inside a function still runs), except under
``if TYPE_CHECKING:``, which never runs. ``from bridge.a import b`` is an edge to `bridge.a.b`
when that is a module, else to `bridge.a`; importing a submodule is not counted as importing
its package's ``__init__`` too, so a package may re-export what its modules define.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "bridge"
MAX_LINES = 400


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def _type_checking_only(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    found: list[ast.Import | ast.ImportFrom] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _type_checking_only(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
        for node_child in ast.iter_child_nodes(node):
            visit(node_child)

    visit(tree)
    return found


def import_graph() -> dict[str, set[str]]:
    known = modules()
    graph: dict[str, set[str]] = {}
    for name, path in known.items():
        is_package = path.name == "__init__.py"
        edges: set[str] = set()
        for node in _imports(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                edges.update(alias.name for alias in node.names if alias.name in known)
                continue
            base = node.module or ""
            if node.level:
                anchor = name.split(".")
                anchor = anchor if is_package else anchor[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                target = f"{base}.{alias.name}"
                if target in known:
                    edges.add(target)
                elif base in known:
                    edges.add(base)
        edges.discard(name)
        graph[name] = edges
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import loop (its modules, the first repeated at the end), or None."""
    done: set[str] = set()
    stack: list[str] = []
    on_stack: set[str] = set()

    def visit(module: str) -> list[str] | None:
        stack.append(module)
        on_stack.add(module)
        for target in sorted(graph.get(module, ())):
            if target in on_stack:
                return [*stack[stack.index(target) :], target]
            if target not in done:
                cycle = visit(target)
                if cycle:
                    return cycle
        stack.pop()
        on_stack.discard(module)
        done.add(module)
        return None

    for module in sorted(graph):
        if module not in done:
            cycle = visit(module)
            if cycle:
                return cycle
    return None


def test_the_package_has_no_import_loop() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, "import loop: " + " -> ".join(cycle or [])


def test_no_module_is_over_400_lines() -> None:
    long = {
        name: lines
        for name, path in modules().items()
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}


def test_the_loop_finder_reports_the_loop() -> None:
    graph = {"bridge.a": {"bridge.b"}, "bridge.b": {"bridge.c"}, "bridge.c": {"bridge.a"}}
    assert find_cycle(graph) == ["bridge.a", "bridge.b", "bridge.c", "bridge.a"]
    assert find_cycle({"bridge.a": {"bridge.b"}, "bridge.b": set()}) is None


def test_imports_in_functions_count_and_type_checking_ones_do_not() -> None:
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from bridge.config import LogSettings\n"
        "def later() -> None:\n"
        "    from bridge.metrics import Metrics\n"
    )
    found = [
        node.module for node in _imports(ast.parse(source)) if isinstance(node, ast.ImportFrom)
    ]
    assert found == ["typing", "bridge.metrics"]
