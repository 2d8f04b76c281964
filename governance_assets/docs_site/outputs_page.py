"""docs/reference/outputs.md from `Layout` (where each file goes) and dvc.yaml (what DVC tracks).

Every path dvc.yaml declares, every evidence file a gate judges and every fixed path of Layout is
one row: the stage that writes it, how DVC tracks it, the Layout accessor that names it and the
gates whose verdicts are bound to its bytes.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..core import yaml_text
from ..core.decide.gate_catalog import GATES
from ..core.layout import Layout
from ..core.params import RegistrySpec
from ..core.report.markdown import rendered_table
from .page_text import anchor, code, link, one_line, page

ROOT = Path("/project")
NOT_TRACKED = "not tracked"


@dataclass(frozen=True)
class Accessor:
    """One Layout member as code calls it, the path it gives (`<arg>` for an argument), its
    docstring."""

    name: str
    pattern: str
    doc: str

    def gives(self, path: str) -> bool:
        """The accessor names this path, its arguments standing for one path segment each."""
        regex = re.sub(r"<\w+>", "[^/]+", re.escape(self.pattern))
        return re.fullmatch(regex, path) is not None

    def holds(self, path: str) -> bool:
        return path.startswith(self.pattern + "/")


def _layout() -> Layout:
    """A Layout at a placeholder root, its registry at the default `registry.root`."""
    layout = Layout(ROOT)
    layout.__dict__["registry"] = ROOT / RegistrySpec().root
    return layout


def accessors() -> list[Accessor]:
    """Every public path-giving member of Layout, in the order the class declares them."""
    layout, found = _layout(), []
    for name, member in vars(Layout).items():
        if name.startswith("_") or name == "relative":
            continue
        if callable(member):
            arguments = list(inspect.signature(member).parameters)[1:]
            shown = f"{name}({', '.join(arguments)})"
            value = getattr(layout, name)(*(f"<{a}>" for a in arguments))
        else:
            shown, value = name, getattr(layout, name)
        if isinstance(value, Path) and value.is_relative_to(ROOT):
            found.append(Accessor(shown, str(value.relative_to(ROOT)),
                                  inspect.getdoc(member) or ""))
    return found


def _entries(items: list) -> Iterator[tuple[str, dict]]:
    for item in items or []:
        if isinstance(item, dict):
            yield from ((path, options or {}) for path, options in item.items())
        else:
            yield item, {}


def dvc_tracking(dvc_yaml: Path) -> dict[str, tuple[str, str]]:
    """Each path dvc.yaml declares: (the stage writing it, how DVC tracks it)."""
    declared = yaml_text.safe_load(dvc_yaml.read_text())
    tracked = {path: ("", "metric (top level, not cached)")
               for path, _ in _entries(declared.get("metrics"))}
    for stage, spec in declared["stages"].items():
        for kind in ("outs", "metrics", "plots"):
            for path, options in _entries(spec.get(kind)):
                cached = "" if options.get("cache", True) else ", not cached"
                tracked[path] = (stage, f"{kind.removesuffix('s')}{cached}")
    return tracked


def _tracking_of(path: str, tracked: dict[str, tuple[str, str]]) -> tuple[str, str]:
    if path in tracked:
        return tracked[path]
    for folder, (stage, kind) in tracked.items():
        if path.startswith(folder + "/"):
            return stage, f"inside {code(folder)} ({kind})"
    return "", NOT_TRACKED


def _accessor_of(path: str, found: list[Accessor]) -> str:
    """The accessor that names the path: a fixed one, else one with arguments, else the
    deepest folder holding it."""
    exact = [a for a in found if a.pattern == path]
    matching = exact or [a for a in found if a.gives(path)] or [a for a in found if a.holds(path)]
    best = max(matching, key=lambda a: len(a.pattern), default=None)
    return code(f"Layout.{best.name}") if best else ""


def _judges(path: str) -> str:
    names = [gate.name for gate in GATES if path in gate.evidence]
    return ", ".join(link(name, "gates.md", name) for name in names)


def paths(tracked: dict[str, tuple[str, str]], found: list[Accessor]) -> list[str]:
    """dvc.yaml's paths, then gate evidence, then Layout's fixed paths that are not just the
    folder of those (`reports`), each once."""
    listed = [*tracked, *(path for gate in GATES for path in gate.evidence)]
    fixed = [a.pattern for a in found if "<" not in a.pattern and not
             any(path.startswith(a.pattern + "/") for path in listed)]
    return list(dict.fromkeys([*listed, *fixed]))


def files_table(dvc_yaml: Path) -> str:
    tracked, found = dvc_tracking(dvc_yaml), accessors()
    rows = []
    for path in paths(tracked, found):
        stage, kind = _tracking_of(path, tracked)
        rows.append((f"{anchor(path)}{code(path)}", code(stage) if stage else "", kind,
                     _accessor_of(path, found), _judges(path)))
    return rendered_table(("Path", "DVC stage", "DVC", "Layout", "Judged by"), rows)


def accessors_table() -> str:
    rows = [(code(f"Layout.{a.name}"), code(a.pattern), one_line(a.doc)) for a in accessors()]
    return rendered_table(("Accessor", "Path", "What it is"), rows)


def render(dvc_yaml: Path) -> str:
    intro = ("Every file a governed run writes, relative to the project root, from `Layout` in "
             "`governance_assets/core/layout.py` and the stages of `dvc.yaml`. DVC tracks the "
             "outs (and restores them from its cache); metrics and plots marked not cached are "
             "committed so `dvc metrics diff` has a baseline; paths DVC does not track are "
             "history (the registry) or machine-dependent figures (`reports/runtime/`). Link a "
             "path as `reference/outputs.md#<path>`.")
    return page("Output paths", intro, "## Files", files_table(dvc_yaml),
                "## Where Layout puts them", accessors_table())
