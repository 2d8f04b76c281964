"""Reading params.yaml and datasets/<name>.yaml: a typo or an out-of-range threshold stops the
run in one paragraph that names the file and the key."""

from __future__ import annotations

import difflib
import functools
from pathlib import Path

import yaml
from pydantic import ValidationError

from .base import ParamsError
from .dataset import DatasetSpec
from .root import Params

PARAMS_FILE = "params.yaml"
DATASETS_FOLDER = "datasets"
DATA_FOLDER = "data/raw"
REFERENCE_FOLDER = "data/reference"
EXTERNAL_FOLDER = "data/external"
MERGE_TAG = "tag:yaml.org,2002:merge"


class _DuplicateKey(Exception):
    """A key written twice in one block, with the lines of both."""


class _UniqueKeyLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    """PyYAML keeps the last of two equal keys; a policy must never be read that way.

    A YAML merge key (`<<: *block`) is allowed: a block may reuse another of the same file and
    replace some of its keys; only keys written twice are refused."""

    def construct_mapping(self, node, deep=False):
        seen: dict[object, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == MERGE_TAG:
                continue
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise _DuplicateKey(f"key {key!r} appears twice in one block (lines "
                                    f"{seen[key]} and {key_node.start_mark.line + 1}); keep one")
            seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


def _read_yaml(text: str, name: str) -> object:
    """The YAML document of one params file, or a ParamsError naming the file."""
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 (a safe loader)
    except _DuplicateKey as exc:
        raise ParamsError(f"{name}: {exc}") from None
    except yaml.YAMLError as exc:
        raise ParamsError(f"{name}: not valid YAML: {exc}") from exc


def _describe(error: ValidationError, name: str, within: tuple[str, ...] = ()) -> list[str]:
    """One clause per problem, keyed by its dotted params key (`within` the section the file
    holds); an unknown key next to a missing one is named as its typo."""
    errors = [(".".join(str(part) for part in (*within, *item["loc"])) or "(top level)", item)
              for item in error.errors()]
    missing = [key for key, item in errors if item["type"] == "missing"]
    clauses = []
    for key, item in errors:
        reason = item["msg"]
        if item["type"] == "extra_forbidden":
            close = difflib.get_close_matches(key, missing, n=1)
            reason = "unknown key" + (f" (did you mean {close[0]}?)" if close else "")
        clauses.append(f"{name}: {key}: {reason}")
    return clauses


def dataset_file(name: str) -> str:
    """Where the spec of dataset `name` lives, relative to the project."""
    return f"{DATASETS_FOLDER}/{name}.yaml"


def _dataset_texts(root: Path) -> tuple[tuple[str, str], ...]:
    """(name, text) of every datasets/<name>.yaml: adding a dataset is adding a file."""
    return tuple((path.stem, path.read_text())
                 for path in sorted((root / DATASETS_FOLDER).glob("*.yaml")))


def _dataset_specs(texts: tuple[tuple[str, str], ...]) -> dict[str, DatasetSpec]:
    """Every dataset file validated; the problems of all of them in one paragraph."""
    specs: dict[str, DatasetSpec] = {}
    clauses: list[str] = []
    for name, text in texts:
        try:
            specs[name] = DatasetSpec.model_validate(_read_yaml(text, dataset_file(name)) or {})
        except ValidationError as exc:
            clauses += _describe(exc, dataset_file(name), within=("datasets", name))
    if clauses:
        raise ParamsError("; ".join(clauses))
    return specs


@functools.lru_cache(maxsize=8)
def _validated(text: str, dataset_texts: tuple[tuple[str, str], ...]) -> Params:
    raw = _read_yaml(text, PARAMS_FILE) or {}
    if isinstance(raw, dict) and "datasets" in raw:
        raise ParamsError(f"{PARAMS_FILE}: datasets: dataset specs live in "
                          f"{DATASETS_FOLDER}/<name>.yaml, one file each; move each block there")
    specs = _dataset_specs(dataset_texts)
    try:
        return Params.model_validate({**raw, "datasets": specs} if isinstance(raw, dict)
                                     else raw)
    except ValidationError as exc:
        raise ParamsError("; ".join(_describe(exc, PARAMS_FILE))) from exc


def _check_data_path(root: Path, params: Params) -> None:
    """Inside data/raw/ of the project: DVC versions that folder, so a changed byte re-runs."""
    key = f"datasets.{params.dataset}.path"
    _check_inside(root, params, key, params.active.path, DATA_FOLDER,
                  f"; copy the file under {DATA_FOLDER}/ (DVC tracks that folder) and point "
                  f"{key} there")
    _check_declared_files(root, params)


def _check_declared_files(root: Path, params: Params) -> None:
    """Approved cases and external models live in folders a DVC stage depends on."""
    spec = params.active
    files = [("reference_decisions", spec.reference_decisions, REFERENCE_FOLDER),
             ("external_model.path", spec.external_model and spec.external_model.path,
              EXTERNAL_FOLDER)]
    for name, relative, folder in files:
        if relative is not None:
            _check_inside(root, params, f"datasets.{params.dataset}.{name}", relative, folder,
                          " (a DVC stage depends on that folder)")


def _check_inside(root: Path, params: Params, key: str, relative: str, folder: str,
                  advice: str) -> None:
    """A file the active dataset names exists, inside the project folder DVC tracks for it."""
    source = dataset_file(params.dataset)
    resolved = (root / relative).resolve()
    if not resolved.is_relative_to((root / folder).resolve()):
        raise ParamsError(f"{source}: {key}: {relative!r} is outside {folder}/ of the "
                          f"project{advice}")
    if not resolved.is_file():
        raise ParamsError(f"{source}: {key}: file {relative} not found")


def load_params(root: Path) -> Params:
    """Read and check root/params.yaml and root/datasets/*.yaml, including that the selected
    dataset's file exists.

    A stage reads params in every asset and gate: the same texts are parsed and validated once
    per process (keyed by their bytes, so an edit is always seen), and each caller gets its own
    copy; the files they name are checked every time."""
    source = root / PARAMS_FILE
    if not source.is_file():
        raise ParamsError(f"{source}: file not found")
    params = _validated(source.read_text(), _dataset_texts(root)).model_copy(deep=True)
    _check_data_path(root, params)
    return params
