"""The package's shape, checked by walking its source: no import cycle, no Dagster in core/, no
module that grew past 500 lines without saying why, and asset groups that import from their
own domain of core/ first."""

from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "governance_assets"
LONG_REASON = "Over 500 lines because"
MAX_LINES = 500

# The core/ domains each asset group draws its evidence from (core/__init__.py describes them).
ASSET_DOMAINS = {
    "data": {"data"},
    "training": {"model"},
    "evaluation": {"evidence"},
    "assurance": {"evidence"},
    "documentation": {"report"},
    "promotion": {"decide"},
    "production": {"trust", "record"},
    "monitoring": {"monitor"},
}


def module_name(path: Path, package: Path = PACKAGE) -> str:
    parts = list(path.relative_to(package.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_of(path: Path, package: Path = PACKAGE) -> str:
    name = module_name(path, package)
    return name if path.name == "__init__.py" else name.rpartition(".")[0]


def imported_names(path: Path, package: Path = PACKAGE) -> list[str]:
    """Every module `path` imports, at any depth of its code (function-level imports count:
    a cycle through a lazy import still ties two modules together)."""
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package_of(path, package).split(".")
                parts = parts[: len(parts) - node.level + 1]
                base = ".".join(parts + ([node.module] if node.module else []))
            names += [f"{base}.{alias.name}" for alias in node.names] + [base]
    return names


def project_modules(package: Path = PACKAGE) -> dict[str, Path]:
    return {module_name(path, package): path for path in package.rglob("*.py")}


def import_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    """Module -> the project modules it imports (a package's own parents excluded: importing
    `a.b.c` runs `a.b`'s __init__, which is not a dependency `a.b.c` chose)."""
    modules = project_modules(package)
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets = set()
        for imported in imported_names(path, package):
            imported = resolve(imported, modules)
            if imported and imported != name and not name.startswith(imported + "."):
                targets.add(imported)
        graph[name] = targets
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle in `graph` as a list of modules, or None (iterative depth-first search)."""
    state: dict[str, str] = {}
    for start in sorted(graph):
        if start in state:
            continue
        path, stack = [start], [iter(sorted(graph[start]))]
        state[start] = "open"
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                state[path.pop()] = "done"
                stack.pop()
            elif state.get(nxt) == "open":
                return path[path.index(nxt):] + [nxt]
            elif nxt not in state:
                state[nxt] = "open"
                path.append(nxt)
                stack.append(iter(sorted(graph.get(nxt, ()))))
    return None


def test_the_cycle_finder_finds_a_cycle_through_a_lazy_import(tmp_path):
    """The guard itself: a function-level import that closes a circle is found, and a package
    importing its own modules is not a circle."""
    package = tmp_path / "governance_assets"
    package.mkdir()
    (package / "__init__.py").write_text("from . import c\n")
    (package / "a.py").write_text("from .b import f\n")
    (package / "b.py").write_text("def f():\n    from .a import g\n")
    (package / "c.py").write_text("from . import a\n")
    assert find_cycle(import_graph(package)) == [
        "governance_assets.a", "governance_assets.b", "governance_assets.a"]
    (package / "b.py").write_text("def f():\n    return 1\n")
    assert find_cycle(import_graph(package)) is None


def test_no_import_cycle_between_project_modules():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_core_never_imports_dagster():
    offenders = [
        f"{module_name(path)} imports {name}"
        for path in (PACKAGE / "core").rglob("*.py")
        for name in imported_names(path)
        if name == "dagster" or name.startswith(("dagster.", "dagster_"))
    ]
    assert not offenders, offenders


def test_a_module_over_500_lines_says_why():
    too_long = []
    for path in PACKAGE.rglob("*.py"):
        lines = len(path.read_text().splitlines())
        docstring = ast.get_docstring(ast.parse(path.read_text())) or ""
        if lines > MAX_LINES and LONG_REASON not in docstring:
            too_long.append(f"{path.relative_to(PACKAGE.parent)}: {lines} lines")
    assert not too_long, too_long


def core_domains_imported(path: Path) -> Counter:
    """How many modules of each core/ domain an asset module imports (core's shared top-level
    modules, params, layout and files, belong to no domain)."""
    modules = project_modules()
    counts: Counter = Counter()
    for name in {resolve(name, modules) for name in imported_names(path)}:
        parts = name.split(".")
        if parts[:2] == ["governance_assets", "core"] and len(parts) == 4:
            counts[parts[2]] += 1
    return counts


def resolve(name: str, modules: dict[str, Path]) -> str:
    """The module an imported name lives in (`pkg.mod.function` -> `pkg.mod`)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name


@pytest.mark.parametrize("group", sorted(ASSET_DOMAINS))
def test_an_asset_group_imports_mostly_from_its_own_domain(group):
    counts = core_domains_imported(PACKAGE / "assets" / f"{group}.py")
    own = sum(counts[domain] for domain in ASSET_DOMAINS[group])
    assert own >= max(counts.values()), (
        f"assets/{group}.py imports more from another core domain than from "
        f"{sorted(ASSET_DOMAINS[group])}: {dict(counts)}")
