"""docs/reference/params.md from the pydantic models under `core.params.Params`.

Every key is a dotted path (`<name>` for a key of your choosing, `[]` for a list item), with
its type, default, constraints and description: the Field's description, else the comment
written above the field in its model, else the docstring of the section it opens.
"""

from __future__ import annotations

import ast
import inspect
import json
import textwrap
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from ..core.params import Params
from ..core.report.markdown import rendered_table
from .page_text import anchor, code, one_line, page

BOUNDS = (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<"),
          ("min_length", "length ≥"), ("max_length", "length ≤"))


@dataclass(frozen=True)
class Key:
    """One row of the page: a dotted key and what a reader needs to write its value."""

    path: str
    type: str
    default: str
    constraints: str
    description: str


def _arguments(annotation: object) -> tuple:
    return typing.get_args(annotation)


def _is_union(annotation: object) -> bool:
    return typing.get_origin(annotation) in (typing.Union, types.UnionType)


def type_text(annotation: object) -> str:
    """An annotation as a reader of YAML sees it: str, float, list[str], a section, null."""
    if annotation is type(None):
        return "null"
    if _is_union(annotation):
        return " or ".join(dict.fromkeys(type_text(a) for a in _arguments(annotation)))
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return " or ".join(dict.fromkeys(type(v).__name__ for v in _arguments(annotation)))
    if origin in (list, dict):
        return f"{origin.__name__}[{', '.join(type_text(a) for a in _arguments(annotation))}]"
    if inspect.isclass(annotation) and issubclass(annotation, BaseModel):
        return "section"
    return getattr(annotation, "__name__", str(annotation))


def _choices(annotation: object) -> list[object]:
    if typing.get_origin(annotation) is typing.Literal:
        return list(_arguments(annotation))
    return [choice for argument in _arguments(annotation) for choice in _choices(argument)]


def constraint_text(field: FieldInfo) -> str:
    """Bounds, lengths, a pattern and the allowed values of a Literal."""
    parts = [f"{sign} {getattr(item, name)}" for item in field.metadata
             for name, sign in BOUNDS if getattr(item, name, None) is not None]
    parts += [f"pattern {code(item.pattern)}" for item in field.metadata
              if getattr(item, "pattern", None)]
    choices = _choices(field.annotation)
    if choices:
        parts.append("one of " + ", ".join(code(json.dumps(choice)) for choice in choices))
    return "; ".join(parts)


def default_text(field: FieldInfo) -> str:
    """The default as YAML-compatible JSON; a section with defaults points at its keys."""
    if field.is_required():
        return "required"
    value = field.get_default(call_default_factory=True)
    if isinstance(value, BaseModel):
        return "the defaults below"
    return code(json.dumps(value))


@cache
def field_comments(model: type[BaseModel]) -> dict[str, str]:
    """The comment lines written right above each field in the model's class body."""
    lines = textwrap.dedent(inspect.getsource(model)).splitlines()
    comments = {}
    for node in ast.parse("\n".join(lines)).body[0].body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            above = []
            for line in reversed(lines[:node.lineno - 1]):
                if not line.strip().startswith("#"):
                    break
                above.insert(0, line.strip().lstrip("#").strip())
            comments[node.target.id] = " ".join(above)
    return comments


def _section(annotation: object) -> tuple[type[BaseModel], str] | None:
    """The model a field opens, with the path segments between them (`.<name>`, `[]`)."""
    if inspect.isclass(annotation) and issubclass(annotation, BaseModel):
        return annotation, ""
    if _is_union(annotation):
        found = [s for a in _arguments(annotation) if (s := _section(a)) is not None]
        return found[0] if found else None
    origin = typing.get_origin(annotation)
    if origin is dict:
        inner = _section(_arguments(annotation)[1])
        return (inner[0], ".<name>" + inner[1]) if inner else None
    if origin is list:
        inner = _section(_arguments(annotation)[0])
        return (inner[0], "[]" + inner[1]) if inner else None
    return None


def _description(model: type[BaseModel], name: str, field: FieldInfo) -> str:
    """The Field's description, the comment above the field, or the docstring of the section
    it opens (a named or listed section's docstring goes on its item's row)."""
    section = _section(field.annotation)
    opened = section[0].__doc__ if section and not section[1] else ""
    return field.description or field_comments(model).get(name) or opened or ""


def keys(model: type[BaseModel] = Params, prefix: str = "") -> Iterator[Key]:
    """Every key of the model and of the sections it opens, depth first, in declared order;
    a named or listed section (`datasets.<name>`) has a row of its own too."""
    for name, field in model.model_fields.items():
        path = f"{prefix}{name}"
        yield Key(path, code(type_text(field.annotation)), default_text(field),
                  constraint_text(field), _description(model, name, field))
        section = _section(field.annotation)
        if section is None:
            continue
        model_of_section, between = section
        if between:
            yield Key(f"{path}{between}", code("section"), "", "", model_of_section.__doc__ or "")
        yield from keys(model_of_section, f"{path}{between}.")


def _row(key: Key) -> tuple[str, ...]:
    return (f"{anchor(key.path)}{code(key.path)}", key.type, key.default, key.constraints,
            one_line(key.description))


def render() -> str:
    intro = ("Every key `params.yaml` accepts, from the pydantic models under `Params` in "
             "`governance_assets/core/params/` (a dataset's keys, `datasets.<name>.*`, are "
             "written in `datasets/<name>.yaml`): an unknown key, a wrong type or a value "
             "outside its constraints stops the run and names the key. `<name>` stands for a "
             "name you choose (a dataset, a derived feature), `[]` for an item of a list. Link "
             "a key as `reference/params.md#<dotted.key>`.")
    rows = [_row(key) for key in keys()]
    return page("Params reference", intro,
                rendered_table(("Key", "Type", "Default", "Constraints", "Description"), rows))
