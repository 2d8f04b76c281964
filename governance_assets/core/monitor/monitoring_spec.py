"""The `monitoring:` block of params.yaml: where batches arrive, WARN/ERROR levels, alerts.

Kept apart from `policy:` on purpose: policy thresholds decide promotion and are hashed into
every card; monitoring levels decide alerts and re-searches of a model already in production.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class UpperLevels(_Strict):
    """A statistic that is bad when high (PSI, a drop): WARN above `warn`, ERROR above `error`."""

    warn: float = Field(ge=0)
    error: float = Field(ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> UpperLevels:
        if self.warn > self.error:
            raise ValueError(f"warn {self.warn} must not exceed error {self.error}")
        return self


class LowerLevels(_Strict):
    """A statistic that is bad when low (disparate impact): WARN below `warn`, ERROR below."""

    warn: float = Field(ge=0, le=1)
    error: float = Field(ge=0, le=1)

    @model_validator(mode="after")
    def _ordered(self) -> LowerLevels:
        if self.warn < self.error:
            raise ValueError(f"warn {self.warn} must not be below error {self.error}")
        return self


class MonitoringSpec(_Strict):
    """Production monitoring of batches scored by the `production` model (docs/production.md)."""

    # Batch files (CSV or Parquet, the training file's columns; the target column optional) in
    # <batch_folder>/<dataset>/; each file is one partition, named by its stem.
    batch_folder: str = "data/batches"
    # Decisions are written in chunks of this many rows, each an atomic Parquet part: a run
    # killed mid-batch resumes at the first missing chunk, never writing a row twice.
    log_chunk_rows: int = Field(default=5000, ge=10)
    # Score each batch with the `staging` model too (shadow) when it differs from production.
    shadow: bool = True
    # A feature drifts at a level when its PSI exceeds the level and its noise floor.
    psi: UpperLevels = UpperLevels(warn=0.1, error=0.25)
    drifted_share: UpperLevels = UpperLevels(warn=0.2, error=0.5)
    prediction_psi: UpperLevels = UpperLevels(warn=0.1, error=0.25)
    label_psi: UpperLevels = UpperLevels(warn=0.1, error=0.25)
    # With labels: the production card's golden AUC minus the batch AUC.
    auc_drop: UpperLevels = UpperLevels(warn=0.02, error=0.05)
    # With labels: the lowest disparate impact ratio of any sensitive attribute in the batch.
    disparate_impact: LowerLevels = LowerLevels(warn=0.85, error=0.8)
    min_labelled_rows: int = Field(default=100, ge=10)
    # Alerts: JSON POSTed here (or to $GOVERNANCE_ALERT_WEBHOOK), retried with backoff, for
    # every batch with a check at alert_level or worse (WARNs are always in the checks).
    alert_webhook_url: str | None = None
    alert_level: Literal["WARN", "ERROR"] = "ERROR"
    alert_attempts: int = Field(default=4, ge=1, le=10)
    alert_backoff_seconds: float = Field(default=0.5, ge=0, le=60)
    alert_timeout_seconds: float = Field(default=5, gt=0, le=60)
    # A disparate-impact ERROR in production moves `production` back to the previous approved
    # version (the fairness_rollback sensor); off by default: a human decides.
    rollback_on_fairness_breach: bool = False
