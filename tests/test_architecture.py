"""The package's shape: folders are pipeline stages and imports run one way, down the pipeline.

Every import in every module is read from the source (those inside functions too; only
``if TYPE_CHECKING:`` blocks are skipped, as they never run). A module may import its own stage
and the stages below it, never one above; nothing inside the package imports the package root;
and no chain of imports comes back to where it started.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import perfsim

PACKAGE = Path(perfsim.__file__).parent
STAGES = (
    ("perfsim._version", "perfsim.errors", "perfsim.storage", "perfsim.text_files",
     "perfsim.yaml_source"),
    ("perfsim.workload",),
    ("perfsim.hardware",),
    ("perfsim.io",),
    ("perfsim.mapping",),
    ("perfsim.results",),
    ("perfsim.schedule",),
    ("perfsim.simulate",),
    ("perfsim.report",),
    ("perfsim.sweeps",),
    ("perfsim.cli", "perfsim.__main__"),
)
"""Stages from the bottom up; a module belongs to the stage of its longest matching prefix."""


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def stage_of(module: str) -> int:
    for rank, prefixes in enumerate(STAGES):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return rank
    raise AssertionError(f"module {module} belongs to no stage: add it to STAGES")


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """The perfsim modules ``path`` imports (``from a import b`` counts ``a.b`` when it is a
    module, else ``a``)."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "perfsim")
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0 \
                and node.module.split(".")[0] == "perfsim":
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found.add(sub if sub in modules else node.module)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(), filename=str(path)))
    return found


@cache
def import_graph() -> dict[str, set[str]]:
    files = {module_name(p): p for p in PACKAGE.rglob("*.py")
             if "workloads" not in p.parts and "hw_configs" not in p.parts}
    modules = set(files)
    return {name: imports_of(path, modules) for name, path in files.items()}


def test_every_module_belongs_to_a_stage():
    for module in import_graph():
        if module != "perfsim":
            stage_of(module)


def test_nothing_inside_imports_the_package_root():
    offenders = sorted(m for m, deps in import_graph().items() if m != "perfsim" and
                       "perfsim" in deps)
    assert not offenders, f"these import the package root: {offenders}"


def test_imports_only_go_down_the_pipeline():
    upward = [f"{m} (stage {stage_of(m)}) imports {d} (stage {stage_of(d)})"
              for m, deps in import_graph().items() if m != "perfsim"
              for d in sorted(deps) if d != "perfsim" and stage_of(d) > stage_of(m)]
    assert not upward, "\n".join(upward)


def test_no_import_circles():
    graph = import_graph()
    state: dict[str, int] = {}
    stack: list[str] = []
    circles = []

    def walk(module: str) -> None:
        state[module] = 1
        stack.append(module)
        for dep in sorted(graph.get(module, ())):
            if state.get(dep) == 1:
                circles.append(" -> ".join(stack[stack.index(dep):] + [dep]))
            elif dep not in state:
                walk(dep)
        stack.pop()
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            walk(module)
    assert not circles, "\n".join(circles)


def test_the_checks_catch_what_they_look_for(tmp_path):
    """The walk sees an import inside a function, and skips one under TYPE_CHECKING."""
    source = tmp_path / "m.py"
    source.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                      "    from perfsim.cli import main\n"
                      "def f():\n    from perfsim.report import tables\n    import perfsim\n")
    assert imports_of(source, {"perfsim.report.tables"}) == {"perfsim.report.tables",
                                                             "perfsim"}


def test_every_package_is_installed():
    """A plain ``pip install .`` installs exactly the packages pyproject.toml lists: a folder
    of the checkout missing there is missing from every user's install (and CI's)."""
    import tomllib

    checkout = Path(__file__).resolve().parent.parent
    listed = set(tomllib.loads((checkout / "pyproject.toml").read_text())
                 ["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(checkout).parts)
             for p in (checkout / "perfsim").rglob("__init__.py")}
    assert found and found <= listed, f"not in pyproject.toml: {sorted(found - listed)}"
