"""Typed loading of params.yaml: a typo or an out-of-range threshold stops the run by name."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator


class ParamsError(ValueError):
    """params.yaml is missing, malformed or inconsistent; the message names the key."""


class _Strict(BaseModel):
    # allow_inf_nan=False: `.inf` and `.nan` are valid YAML floats but no threshold can be one.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class DerivedFeature(_Strict):
    """A sensitive attribute decoded from a raw column: by a code mapping or numeric bands."""

    source: str
    mapping: dict[str, str] | None = None
    band_edges: list[float] | None = None
    band_labels: list[str] | None = None

    @model_validator(mode="after")
    def _one_rule(self) -> DerivedFeature:
        if (self.mapping is None) == (self.band_edges is None):
            raise ValueError("give exactly one of 'mapping' or 'band_edges'")
        if self.band_edges is not None:
            if sorted(self.band_edges) != self.band_edges:
                raise ValueError("'band_edges' must be increasing")
            if not self.band_labels or len(self.band_labels) != len(self.band_edges) + 1:
                raise ValueError("'band_labels' needs one label more than 'band_edges'")
        return self


class TimeSelection(_Strict):
    """Reference and current periods for drift, read from a time column."""

    column: str
    reference: str
    current: str


class DatasetSpec(_Strict):
    path: str
    datasheet: str
    license: str
    intended_use: str
    limitations: list[str] = []
    target: str
    labels: list[str] = Field(min_length=2, max_length=2)
    favourable_label: str
    numeric_columns: list[str]
    categorical_columns: list[str]
    ignore_columns: list[str] = []
    missing_values: list[str] = []
    derived: dict[str, DerivedFeature] = {}
    sensitive_features: list[str] = Field(min_length=1)
    protected_columns: list[str] = []
    proxies: list[str] = []
    exclude_from_model: list[str] = []
    time: TimeSelection | None = None

    @model_validator(mode="after")
    def _consistent(self) -> DatasetSpec:
        if self.favourable_label not in self.labels:
            raise ValueError(f"favourable_label {self.favourable_label!r} is not in labels")
        known = set(self.numeric_columns) | set(self.categorical_columns) | set(self.derived)
        for name in self.sensitive_features:
            if name not in known:
                raise ValueError(f"sensitive feature {name!r} is neither a column nor derived")
        if not self.model_features:
            raise ValueError("no model features are left after exclude_from_model")
        return self

    @property
    def raw_columns(self) -> list[str]:
        """Every column the raw file must have."""
        derived_sources = [d.source for d in self.derived.values()]
        time = [self.time.column] if self.time else []
        ordered = [
            self.target,
            *self.numeric_columns,
            *self.categorical_columns,
            *derived_sources,
            *time,
        ]
        return list(dict.fromkeys(ordered))

    @property
    def model_features(self) -> list[str]:
        excluded = set(self.exclude_from_model) | {self.target}
        return [c for c in self.numeric_columns + self.categorical_columns if c not in excluded]

    @property
    def protected_model_features(self) -> list[str]:
        """Model inputs that carry protected information: sources, protected columns, proxies."""
        protected = set(self.protected_columns) | set(self.proxies) | set(self.sensitive_features)
        protected |= {d.source for d in self.derived.values()}
        return [c for c in self.model_features if c in protected]


class SplitSpec(_Strict):
    validation: float = Field(gt=0, lt=0.5)
    golden_test: float = Field(gt=0, lt=0.5)
    seed: int


class ModelSpec(_Strict):
    candidates: list[Literal["logistic_regression", "hist_gradient_boosting", "random_forest"]] = (
        Field(min_length=1)
    )
    class_weight: Literal["balanced"] | None = None
    decision_threshold: float = Field(gt=0, lt=1)


class ExplainSpec(_Strict):
    sample_rows: int = Field(ge=10, le=5000)
    background_rows: int = Field(ge=10, le=1000)


class EvaluationSpec(_Strict):
    bootstrap_rounds: int = Field(ge=50, le=5000)
    latency_rows: int = Field(ge=20, le=5000)
    latency_repeats: int = Field(default=5, ge=1, le=50)


class Policy(_Strict):
    """Every gate threshold. Its hash goes into the card, so a weakened rule stays visible."""

    min_group_size: int = Field(ge=1)
    insufficient_evidence: Literal["fail", "warn"]
    min_disparate_impact: float = Field(gt=0, le=1)
    max_demographic_parity_difference: float = Field(ge=0, le=1)
    max_equalized_odds_difference: float = Field(ge=0, le=1)
    min_auc: float = Field(ge=0.5, le=1)
    max_regression: float = Field(ge=0, le=0.5)
    max_latency_ms: float = Field(gt=0)
    max_protected_influence: float = Field(ge=0, le=1)
    max_psi: float = Field(gt=0)
    max_drifted_share: float = Field(gt=0, le=1)
    max_outlier_share: float = Field(ge=0, le=1)


class Params(_Strict):
    dataset: str
    datasets: dict[str, DatasetSpec]
    split: SplitSpec
    model: ModelSpec
    explain: ExplainSpec
    evaluation: EvaluationSpec
    policy: Policy

    @model_validator(mode="after")
    def _dataset_declared(self) -> Params:
        if self.dataset not in self.datasets:
            raise ValueError(f"dataset {self.dataset!r} is not one of {sorted(self.datasets)}")
        return self

    @property
    def active(self) -> DatasetSpec:
        return self.datasets[self.dataset]

    @property
    def policy_hash(self) -> str:
        return _sha256_of(self.policy.model_dump())

    def values_at(self, keys: tuple[str, ...]) -> dict[str, object]:
        """The values of dotted params keys; ACTIVE_DATASET stands for the selected block."""
        tree = self.model_dump(mode="json")
        values: dict[str, object] = {}
        for key in keys:
            dotted = f"datasets.{self.dataset}" if key == ACTIVE_DATASET else key
            node: object = tree
            for part in dotted.split("."):
                node = node[part]  # type: ignore[index]
            values[dotted] = node
        return values

    @property
    def search_space_hash(self) -> str:
        return _sha256_of(self.model.model_dump())


ACTIVE_DATASET = "datasets.<active>"
DATA_FOLDER = "data/raw"


def hash_values(values: dict[str, object]) -> str:
    """The hash a verdict binds to: the exact params values the gate read."""
    return _sha256_of(values)


def _sha256_of(data: object) -> str:
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _describe(error: ValidationError, source: Path) -> str:
    lines = []
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"]) or "(top level)"
        reason = "unknown key" if item["type"] == "extra_forbidden" else item["msg"]
        lines.append(f"{source.name}: {key}: {reason}")
    return "\n".join(lines)


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML keeps the last of two equal keys; a policy must never be read that way."""

    def construct_mapping(self, node, deep=False):
        seen: dict[object, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise ParamsError(
                    f"params.yaml: key {key!r} appears twice in one block (lines {seen[key]} "
                    f"and {key_node.start_mark.line + 1}); keep one")
            seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


def _check_data_path(root: Path, params: Params, source: Path) -> None:
    """Inside data/raw/ of the project: DVC versions that folder, so a changed byte re-runs."""
    key = f"datasets.{params.dataset}.path"
    relative = params.active.path
    resolved = (root / relative).resolve()
    folder = (root / DATA_FOLDER).resolve()
    if not resolved.is_relative_to(folder):
        raise ParamsError(
            f"{source.name}: {key}: {relative!r} is outside {DATA_FOLDER}/ of the project; "
            f"copy the file under {DATA_FOLDER}/ (DVC tracks that folder) and point {key} there")
    if not resolved.is_file():
        raise ParamsError(f"{source.name}: {key}: file {relative} not found")


def load_params(root: Path) -> Params:
    """Read and check root/params.yaml, including that the selected dataset file exists."""
    source = root / "params.yaml"
    if not source.is_file():
        raise ParamsError(f"{source}: file not found")
    try:
        raw = yaml.load(source.read_text(), Loader=_UniqueKeyLoader)  # noqa: S506 (safe loader)
    except yaml.YAMLError as exc:
        raise ParamsError(f"{source.name}: not valid YAML: {exc}") from exc
    try:
        params = Params.model_validate(raw or {})
    except ValidationError as exc:
        raise ParamsError(_describe(exc, source)) from exc
    _check_data_path(root, params, source)
    return params
