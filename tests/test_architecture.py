"""The package's shape: no import cycles (one pipeline, each module below the ones that use
it), and git run through the git module and the modules that plumb the sandbox and cluster."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "autoresearch"


def import_graph() -> dict[str, set[str]]:
    """Module -> the package's modules it imports (anywhere in it, functions included)."""
    modules = {".".join(p.relative_to(PACKAGE.parent).with_suffix("").parts)
               .removesuffix(".__init__"): p for p in PACKAGE.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        base = name if path.name == "__init__.py" else name.rpartition(".")[0]
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                module = node.module or ""
                if node.level:
                    parts = base.split(".")[: len(base.split(".")) - node.level + 1]
                    module = ".".join(parts + ([module] if module else []))
                found |= {module} | {f"{module}.{alias.name}" for alias in node.names}
        graph[name] = {m for m in found if m in modules and m != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[str]:
    found, done, path = set(), set(), []

    def visit(node: str) -> None:
        if node in path:
            found.add(" -> ".join(path[path.index(node):] + [node]))
            return
        if node in done:
            return
        done.add(node)
        path.append(node)
        for dependency in sorted(graph[node]):
            visit(dependency)
        path.pop()

    for node in sorted(graph):
        visit(node)
    return sorted(found)


def test_the_package_has_no_import_cycle():
    assert cycles(import_graph()) == []


def test_the_checker_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a -> b -> c -> a"]


def test_decide_and_the_records_depend_on_nothing_that_runs():
    graph = import_graph()
    for pure in ("autoresearch.decide", "autoresearch.compare", "autoresearch.experiment",
                 "autoresearch.schema"):
        reached, todo = set(), [pure]
        while todo:
            for dependency in graph[todo.pop()] - reached:
                reached.add(dependency)
                todo.append(dependency)
        assert not reached & {"autoresearch.runner", "autoresearch.git", "autoresearch.loop"}, pure


def test_git_runs_only_through_the_git_module():
    """Every git command line is built in git.py (hooks off, one place to audit); state.py
    alone asks git where the repository is, before any Repo can be opened."""
    allowed = {"git.py", "state.py"}
    found = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.List) and node.elts and \
                    isinstance(node.elts[0], ast.Constant) and node.elts[0].value == "git":
                found.add(path.name)
    assert found and found <= allowed, found - allowed
