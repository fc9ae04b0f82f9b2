"""The house's floors: imports flow one way. ``qtok`` (the tokenizer) imports nothing of this
project above it; the study (``analysis/``, installed as ``qtok.analysis``) and the model
(``qtok.model``) stand on ``qtok`` and not on each other; the playground stands on ``qtok`` and
the study. Every import counts, those inside functions too, since that is how an upward arrow
hides."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("qtok", "analysis", "model", "playground")
# What each package may import of this project (besides itself).
ALLOWED = {
    "qtok": set(),
    "analysis": {"qtok"},
    "model": {"qtok"},
    "playground": {"qtok", "analysis"},
}


def layer(module: str) -> str | None:
    """The floor a module name stands on: ``qtok.analysis.count`` -> ``analysis`` (the folder
    installed under qtok's name), ``qtok.core`` -> ``qtok``; a top-level ``analysis`` too (the
    old name, which test_nothing_imports_the_old_top_level_names refuses)."""
    parts = module.split(".")
    if parts[0] == "qtok" and len(parts) > 1 and parts[1] in PACKAGES[1:]:
        return parts[1]
    return parts[0] if parts[0] in PACKAGES else None


def project_imports(path: Path) -> list[tuple[int, str]]:
    """``(line, floor)`` of every import of one of this project's packages in a file, wherever
    in the file it stands (relative imports resolve to the file's own package)."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        out += [(node.lineno, layer(n)) for n in names if layer(n)]
    return out


def test_nothing_imports_the_old_top_level_names():
    """The wheel installs no top-level ``analysis``, ``model`` or ``playground`` (they would
    shadow a user's own, or be shadowed): code, tests and benchmarks import ``qtok.analysis``."""
    old = [f"{p.relative_to(ROOT)}:{node.lineno}"
           for folder in (*PACKAGES, "tests", "benchmarks", "docs")
           for p in sorted((ROOT / folder).rglob("*.py"))
           for node in ast.walk(ast.parse(p.read_text(encoding="utf-8")))
           if (isinstance(node, ast.ImportFrom) and node.level == 0 and node.module
               and node.module.split(".")[0] in PACKAGES[1:])
           or (isinstance(node, ast.Import) and any(a.name.split(".")[0] in PACKAGES[1:] for a in node.names))]
    assert not old, "\n".join(old)


@pytest.mark.parametrize("package", PACKAGES)
def test_imports_flow_one_way(package):
    upward = [f"{path.relative_to(ROOT)}:{line} imports {target}"
              for path in sorted((ROOT / package).rglob("*.py"))
              for line, target in project_imports(path)
              if target != package and target not in ALLOWED[package]]
    assert not upward, "\n".join(upward)


def test_the_check_sees_imports_inside_functions(tmp_path):
    f = tmp_path / "m.py"
    f.write_text("import os\n\ndef f():\n    from qtok.analysis.tokenizers import get_adapter\n")
    assert project_imports(f) == [(4, "analysis")]


def test_the_tokenizer_tests_need_no_study():
    """tests/qtok/ runs with the tokenizer's own dependencies: none of its files imports the
    study, the model or the playground."""
    found = [f"{p.relative_to(ROOT)}:{line} imports {target}"
             for p in sorted((ROOT / "tests" / "qtok").rglob("*.py"))
             for line, target in project_imports(p) if target != "qtok"]
    assert not found, "\n".join(found)


def _import_graph():
    """docs/import_graph.py, the walk that draws the graph: one resolver of module names and
    relative imports for the drawing and for this test."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("import_graph", ROOT / "docs" / "import_graph.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_qtok_has_no_import_cycles():
    """Within the tokenizer too the arrows go one way: CLI -> core -> engines -> load."""
    walk = _import_graph()
    modules = {name: path for name, path in walk.modules().items() if walk.floor(name) == "qtok"}
    graph = {name: set() for name in modules}
    for a, b in walk.edges(modules):  # function-level imports count too
        graph[a].add(b)
    # A package's __init__ re-exporting its modules is not a cycle with them.
    graph["qtok"] = set()
    seen, stack = set(), []

    def visit(m):
        if m in stack:
            pytest.fail("import cycle: " + " -> ".join(stack[stack.index(m):] + [m]))
        if m in seen:
            return
        stack.append(m)
        for d in sorted(graph.get(m, ())):
            visit(d)
        stack.pop()
        seen.add(m)

    for m in sorted(graph):
        visit(m)
