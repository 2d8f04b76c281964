"""The `monitoring:` block of params.yaml: where batches arrive, WARN/ERROR levels, alerts.

Kept apart from `policy:` on purpose: policy thresholds decide promotion and are hashed into
every card; monitoring levels decide alerts and re-searches of a model already in production.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from .base import StrictModel


class UpperLevels(StrictModel):
    """A statistic that is bad when high (PSI, a drop): WARN above `warn`, ERROR above `error`."""

    warn: float = Field(ge=0)
    """Above this: WARN."""
    error: float = Field(ge=0)
    """Above this: ERROR."""

    @model_validator(mode="after")
    def _ordered(self) -> UpperLevels:
        if self.warn > self.error:
            raise ValueError(f"warn {self.warn} must not exceed error {self.error}")
        return self


class LowerLevels(StrictModel):
    """A statistic that is bad when low (disparate impact): WARN below `warn`, ERROR below."""

    warn: float = Field(ge=0, le=1)
    """Below this: WARN."""
    error: float = Field(ge=0, le=1)
    """Below this: ERROR."""

    @model_validator(mode="after")
    def _ordered(self) -> LowerLevels:
        if self.warn < self.error:
            raise ValueError(f"warn {self.warn} must not be below error {self.error}")
        return self


class MonitoringSpec(StrictModel):
    """Production monitoring of batches scored by the `production` model (docs/production.md);
    no DVC stage reads it."""

    batch_folder: str = "data/batches"
    """Batch files (CSV or Parquet, the training file's columns; the target column optional)
    in <batch_folder>/<dataset>/; each file is one partition, named by its stem."""
    log_chunk_rows: int = Field(default=5000, ge=10)
    """Decisions are written in chunks of this many rows, each an atomic Parquet part: a run
    killed mid-batch resumes at the first missing chunk, never writing a row twice."""
    stream_rows: int = Field(default=100_000, ge=100)
    """A batch is read, validated and scored this many rows at a time (core/monitor/
    batch_stream.py): memory stays that of one piece whatever the batch's size; every piece is
    validated before any is scored."""
    shadow: bool = True
    """Score each batch with the `staging` model too (shadow) when it differs from production."""
    psi: UpperLevels = UpperLevels(warn=0.1, error=0.25)
    """A feature drifts at a level when its PSI exceeds the level and its noise floor."""
    drifted_share: UpperLevels = UpperLevels(warn=0.2, error=0.5)
    """Share of features drifted at ERROR."""
    prediction_psi: UpperLevels = UpperLevels(warn=0.1, error=0.25)
    """PSI of the production scores against the reference's scores, above its noise floor."""
    label_psi: UpperLevels = UpperLevels(warn=0.1, error=0.25)
    """PSI of the favourable-label share, with min_labelled_rows labels, above its noise
    floor."""
    auc_drop: UpperLevels = UpperLevels(warn=0.02, error=0.05)
    """With labels: the production card's golden AUC minus the batch AUC; counts only above
    its noise floor (the drop a resample of the reference of as many labelled rows shows)."""
    disparate_impact: LowerLevels = LowerLevels(warn=0.85, error=0.8)
    """The lowest disparate impact ratio of any sensitive attribute in the batch's decisions;
    ERROR (a fairness breach) only when its bootstrap interval (fairness.bootstrap_rounds) lies
    wholly below `error`. Groups under policy.min_group_size rows are left out and named."""
    min_labelled_rows: int = Field(default=100, ge=10)
    """Labelled rows needed for label drift and AUC."""
    alert_webhook_url: str | None = None
    """Alerts: a Slack-compatible JSON POSTed here (or to $GOVERNANCE_ALERT_WEBHOOK), for every
    batch with a check at alert_level or worse (WARNs are always in the checks). Each alert is
    written to the outbox (reports/alerts/) first and re-sent until a 2xx (`governance alerts`)."""
    alert_level: Literal["WARN", "ERROR"] = "ERROR"
    """The level that sends an alert."""
    alert_attempts: int = Field(default=4, ge=1, le=10)
    """Delivery attempts per alert and per delivery run; a transient failure (connection,
    deadline, 5xx, 429) is retried, a permanent one (scheme, malformed URL, other 4xx) is not."""
    alert_backoff_seconds: float = Field(default=0.5, ge=0, le=60)
    """Wait before the first retry, doubled at each further one."""
    alert_deadline_seconds: float = Field(default=5, gt=0, le=60)
    """Overall deadline of one delivery attempt: connect, send and read the answer together, so
    a receiver that trickles its answer cannot hold the loop. One delivery run waits at most
    alert_attempts x this plus the backoff waits."""
    rollback_on_fairness_breach: bool = False
    """A disparate-impact ERROR in production moves `production` back to the previous approved
    version (the fairness_rollback sensor); off by default: a human decides."""
