"""The whole params tree: params.yaml's sections plus the dataset specs of datasets/, and the
hashes a verdict and the card bind to."""

from __future__ import annotations

import hashlib
import json
from typing import Literal

from pydantic import ValidationError, model_validator

from .base import StrictModel
from .dataset import DatasetSpec, SplitSpec
from .evidence import AuditSpec, EvaluationSpec, ExplainSpec, FairnessSpec, RobustnessSpec
from .model import ModelSpec, SearchConstraints
from .monitoring import MonitoringSpec
from .policy import Policy
from .publish import PublishSpec
from .release import RegistrySpec, SignoffSpec

ACTIVE_DATASET = "datasets.<active>"


class Params(StrictModel):
    """Everything a run reads: params.yaml, with `datasets` filled from datasets/<name>.yaml."""

    dataset: str
    """The active dataset: the name of a file datasets/<name>.yaml."""
    datasets: dict[str, DatasetSpec]
    """Every dataset spec, one per file datasets/<name>.yaml (read from that folder, never
    written in params.yaml); the params key of a spec's field is datasets.<name>.<field>."""
    split: SplitSpec
    """How the validated rows are split into train, validation and golden test."""
    model: ModelSpec
    """Algorithm families, search, operating threshold and mitigation."""
    fairness: FairnessSpec = FairnessSpec()
    """How the fairness report is computed."""
    explain: ExplainSpec
    """Row counts that bound the explanations' cost."""
    evaluation: EvaluationSpec
    """How the performance, latency and drift evidence is computed."""
    policy: Policy
    """Every gate threshold."""
    robustness: RobustnessSpec = RobustnessSpec()
    """How the robustness gates perturb and slice the golden set."""
    audit: AuditSpec = AuditSpec()
    """The rows an external candidate is judged on."""
    monitoring: MonitoringSpec = MonitoringSpec()
    """Production monitoring: batches, WARN/ERROR levels, alerts, rollback."""
    signoff: SignoffSpec = SignoffSpec()
    """Who may approve and promote, and how long an approval counts."""
    registry: RegistrySpec = RegistrySpec()
    """Where versions, aliases and the ledger live."""
    publish: PublishSpec = PublishSpec()
    """Registries outside the project a governed version is published to (MLflow)."""

    @model_validator(mode="after")
    def _dataset_declared(self) -> Params:
        if self.dataset not in self.datasets:
            raise ValueError(f"dataset {self.dataset!r} is not one of {sorted(self.datasets)} "
                             "(the files datasets/<name>.yaml)")
        try:
            self.search_constraints  # noqa: B018 (validates the dataset's overrides)
        except ValidationError as error:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}"
                                 for e in error.errors())
            raise ValueError(f"datasets.{self.dataset}.search_constraints: {problems}") from None
        sensitive = self.datasets[self.dataset].sensitive_features
        named = self.model.mitigation.sensitive_feature
        if named is not None and named not in sensitive:
            raise ValueError(f"model.mitigation.sensitive_feature {named!r} is not one of the "
                             f"active dataset's sensitive_features {sensitive}")
        if isinstance(self.fairness.intersections, list):
            unknown = sorted({a for m in self.fairness.intersections for a in m} - set(sensitive))
            if unknown:
                raise ValueError(f"fairness.intersections names {unknown}, not among the active "
                                 f"dataset's sensitive_features {sensitive}")
        return self

    @property
    def search_constraints(self) -> SearchConstraints:
        """model.search.constraints with the active dataset's overrides applied (validated)."""
        merged = {**self.model.search.constraints.model_dump(), **self.active.search_constraints}
        return SearchConstraints.model_validate(merged)

    @property
    def mitigation_feature(self) -> str:
        named = self.model.mitigation.sensitive_feature
        return named or self.active.sensitive_features[0]

    @property
    def active(self) -> DatasetSpec:
        return self.datasets[self.dataset]

    @property
    def evaluation_rows(self) -> Literal["all", "golden"]:
        """The rows the reports judge the candidate on (AuditSpec): golden unless external."""
        return self.audit.rows if self.active.external else "golden"

    @property
    def policy_hash(self) -> str:
        return _sha256_of(self.policy.model_dump())

    def values_at(self, keys: tuple[str, ...]) -> dict[str, object]:
        """The values of dotted params keys; ACTIVE_DATASET stands for the selected spec, the
        whole of datasets/<dataset>.yaml, so an edit to that file changes what a verdict read."""
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
        """What may be searched: allowed and banned families and their ranges."""
        search = self.model.search
        return _sha256_of({"allowed": self.model.allowed_families, "banned": search.banned,
                           "space": {family: {name: r.model_dump() for name, r in
                                              search.space.get(family, {}).items()}
                                     for family in self.model.allowed_families},
                           "class_weight": self.model.class_weight})


def hash_values(values: dict[str, object]) -> str:
    """The hash a verdict binds to: the exact params values the gate read."""
    return _sha256_of(values)


def _sha256_of(data: object) -> str:
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()
