"""The package's imports follow the layer order written in docs/design.md: no import from a lower layer into a
higher one, none between two packages of one layer, and so no import cycle between packages.

Every ``import`` statement counts — at module level, inside functions (lazy imports) and under ``TYPE_CHECKING``
— because each is a dependency the code states. The layer table is read from the ``layers`` block of
docs/design.md, so the document and this test cannot disagree.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "descentlab"
DESIGN = ROOT / "docs" / "design.md"
TOP = "descentlab"  # the package root (descentlab/__init__.py) is its own unit


def layers_from_design(text: str) -> dict[str, int]:
    """``unit -> layer`` from the fenced ``layers`` block: one line per layer, ``N  unit unit …`` (N higher =
    higher layer); a unit is a subpackage or top-level module of ``descentlab`` by its name."""
    match = re.search(r"```layers\n(.*?)```", text, re.S)
    assert match, "docs/design.md has no ```layers block"
    table: dict[str, int] = {}
    for line in match.group(1).splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        number, *units = line.split()
        for unit in units:
            assert unit not in table, f"{unit} is listed twice in the layers block"
            table[unit] = int(number)
    return table


def unit_of(module: str) -> str:
    """``descentlab.report.plots`` → ``report``; ``descentlab`` → ``descentlab``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else TOP


def _module_name(path: Path, package: Path = PACKAGE) -> str:
    rel = path.relative_to(package.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_module(dotted: str, package: Path = PACKAGE) -> bool:
    path = package.parent.joinpath(*dotted.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def imported_modules(path: Path, root: Path = PACKAGE) -> Iterable[tuple[str, int]]:
    """(module imported, line) for every import statement of the file at ``path`` (in the package at ``root``) that
    names ``descentlab``."""
    name = _module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == TOP:
                    yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this file's package
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            if source.split(".")[0] != TOP:
                continue
            for alias in node.names:  # `from descentlab import optim` imports the module descentlab.optim
                child = f"{source}.{alias.name}"
                yield (child if _is_module(child, root) else source), node.lineno


def import_edges() -> list[tuple[str, str, str]]:
    """(importing unit, imported unit, "file:line") for every import between two different units."""
    edges = []
    for path in sorted(PACKAGE.rglob("*.py")):
        here = unit_of(_module_name(path))
        for target, line in imported_modules(path):
            there = unit_of(target)
            if there != here:
                edges.append((here, there, f"{path.relative_to(ROOT)}:{line}"))
    return edges


def violations(edges: Iterable[tuple[str, str, str]], layers: Mapping[str, int]) -> list[str]:
    """Every edge that goes to a unit not below its own layer, and every unit missing from the table."""
    out = []
    for here, there, where in edges:
        for unit in (here, there):
            if unit not in layers:
                out.append(f"{where}: {unit} is in no layer of docs/design.md")
        if here in layers and there in layers and layers[there] >= layers[here]:
            relation = "the same layer" if layers[there] == layers[here] else "a higher layer"
            out.append(f"{where}: {here} (layer {layers[here]}) imports {there}, {relation} ({layers[there]})")
    return sorted(set(out))


def cycles(edges: Iterable[tuple[str, str, str]]) -> list[list[str]]:
    """The import cycles between units (each as the list of units around it), by depth-first search."""
    graph: dict[str, set[str]] = {}
    for here, there, _ in edges:
        graph.setdefault(here, set()).add(there)
    found, state, stack = [], {}, []

    def visit(unit: str) -> None:
        state[unit] = "open"
        stack.append(unit)
        for nxt in sorted(graph.get(unit, ())):
            if state.get(nxt) == "open":
                found.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[unit] = "done"

    for unit in sorted(graph):
        if unit not in state:
            visit(unit)
    return found


@pytest.fixture(scope="module")
def layers() -> dict[str, int]:
    return layers_from_design(DESIGN.read_text(encoding="utf-8"))


def test_every_unit_of_the_package_has_a_layer(layers):
    units = {unit_of(_module_name(p)) for p in PACKAGE.rglob("*.py")}
    assert sorted(units - set(layers)) == []
    assert sorted(set(layers) - units) == [], "docs/design.md lists units the package does not have"


def test_no_import_goes_up_or_sideways(layers):
    assert violations(import_edges(), layers) == []


def test_no_import_cycle_between_packages():
    assert cycles(import_edges()) == []


def test_the_report_and_the_experiments_do_not_know_each_other():
    edges = {(here, there) for here, there, _ in import_edges()}
    assert ("experiments", "report") not in edges and ("report", "experiments") not in edges


def test_the_checker_catches_an_upward_import_a_sideways_one_and_a_cycle():
    table = {"store": 1, "report": 2, "experiments": 2}
    edges = [("store", "report", "store.py:3"), ("report", "experiments", "report/x.py:9"),
             ("experiments", "report", "experiments/y.py:4"), ("report", "store", "report/data.py:1"),
             ("report", "plugins", "report/z.py:2")]
    found = violations(edges, table)
    assert "store.py:3: store (layer 1) imports report, a higher layer (2)" in found
    assert "report/x.py:9: report (layer 2) imports experiments, the same layer (2)" in found
    assert "report/z.py:2: plugins is in no layer of docs/design.md" in found
    assert not any(w.startswith("report/data.py") for w in found)
    assert cycles(edges) == [["experiments", "report", "experiments"], ["report", "store", "report"]]


def test_lazy_relative_and_package_imports_are_all_seen(tmp_path):
    pkg = tmp_path / "descentlab"
    (pkg / "report").mkdir(parents=True)
    (pkg / "experiments").mkdir()
    for init in (pkg / "__init__.py", pkg / "report" / "__init__.py", pkg / "experiments" / "__init__.py"):
        init.write_text("")
    (pkg / "experiments" / "lr.py").write_text("")
    (pkg / "report" / "a.py").write_text(
        "def f():\n    from descentlab.experiments import lr\n\n"
        "from .. import experiments\nimport descentlab.experiments.lr\nfrom typing import Any\n")
    found = sorted(imported_modules(pkg / "report" / "a.py", pkg))
    assert found == [("descentlab.experiments", 4), ("descentlab.experiments.lr", 2),
                     ("descentlab.experiments.lr", 5)]
