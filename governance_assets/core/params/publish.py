"""Where a governed version is published beyond this project's registry (publish)."""

from __future__ import annotations

from pydantic import Field

from .base import StrictModel


class MlflowPublishSpec(StrictModel):
    """`governance publish mlflow`: the MLflow Model Registry a version that passed its gates
    is registered into; each command-line option overrides its key."""

    tracking_uri: str | None = None
    """The MLflow tracking URI (http://host:5000, databricks, sqlite:///mlflow.db); unset: the
    command needs --tracking-uri (or MLFLOW_TRACKING_URI)."""
    registered_model: str | None = Field(default=None, min_length=1)
    """The MLflow registered model's name; unset: governance-<dataset>."""
    sync_aliases: bool = False
    """MLflow's aliases staging and production follow this project's aliases."""


class PublishSpec(StrictModel):
    """Registries outside the project a governed version can be published to."""

    mlflow: MlflowPublishSpec = MlflowPublishSpec()
    """The MLflow Model Registry (docs/mlflow.md)."""
