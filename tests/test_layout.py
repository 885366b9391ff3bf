"""The package's shape: no module imports one that imports it back (directly or not)."""

import ast
from pathlib import Path

HELPERS = Path(__file__).resolve().parents[1] / "helpers"


def _imports(path: Path) -> set[str]:
    """The helpers modules ``path`` imports anywhere (top level or inside functions)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "helpers":
                found |= {alias.name for alias in node.names}
            elif node.module.startswith("helpers."):
                found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[1] for a in node.names if a.name.startswith("helpers.")}
    return found


def _cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import cycle in ``graph`` (module → modules it imports), or []."""
    state: dict[str, str] = {}

    def visit(module, trail):
        state[module] = "open"
        for other in sorted(graph.get(module, ())):
            if state.get(other) == "open":
                return trail[trail.index(other) :] + [other] if other in trail else [other]
            if other not in state and (found := visit(other, trail + [other])):
                return found
        state[module] = "done"
        return []

    for module in sorted(graph):
        if module not in state and (found := visit(module, [module])):
            return found
    return []


def test_no_module_of_helpers_imports_one_that_imports_it_back():
    modules = {path.stem for path in HELPERS.glob("*.py")}
    graph = {path.stem: _imports(path) & modules for path in HELPERS.glob("*.py")}
    graph.pop("__init__", None)
    assert _cycle(graph) == []


def test_the_cycle_finder_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) == []
