"""Publish a governed registry version into an MLflow Model Registry (`.[mlflow]` extra).

The only module that imports mlflow, and only inside its functions, so the rest of the project
never needs it. What is published was judged by core/publish/publishable.py first; the model is
the registry's verified model (core/record/registry.py load_model: skops, the ledger's sha256),
logged in MLflow's scikit-learn flavour (skops serialization, the project's trusted types) with
a signature and an input example from the golden rows, its card, decision record and compliance
report beside it as artifacts, and the governance tags on both the run and the model version.

Idempotent: a model version is found again by its `governance.version` tag (and evidence hash)
among the registered model's versions before anything is logged, so publishing a version twice
returns the model version made the first time; the ledger gains a `publication` entry only when
the publication differs from the last one recorded (a new model version, another server or
model name, other aliases). Publishers of one registry take its lock, so two at once cannot both
miss the other's model version.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from ..data.columns import model_inputs
from ..layout import Layout
from ..model import model_files
from ..params import Params
from ..record import ledger, registry
from .publishable import Publishable, judge, registered_version

ENTRY_KIND = "publication"
ALIASES = ("staging", "production")
MODEL_ARTIFACT = "model"
GOVERNANCE_ARTIFACTS = "governance"
INPUT_EXAMPLE_ROWS = 5


class PublishError(RuntimeError):
    """MLflow could not be reached or refused a request; the message names the server."""


@dataclass(frozen=True)
class Published:
    """What a publication did: the MLflow model version, and whether it was new."""

    version: str
    model_uri: str
    mlflow_version: str
    created: bool
    aliases: tuple[str, ...]
    ledger_entry: dict


def model_name(params: Params, override: str | None = None) -> str:
    """The registered model's name: the option, else publish.mlflow.registered_model, else
    governance-<dataset>."""
    return override or params.publish.mlflow.registered_model or f"governance-{params.dataset}"


def recorded_uri(tracking_uri: str) -> str:
    """The tracking URI as the ledger keeps it: without user name or password."""
    parts = urlsplit(tracking_uri)
    if parts.username is None and parts.password is None:
        return tracking_uri
    host = parts.hostname or ""
    netloc = host + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def publish(params: Params, layout: Layout, version: str, tracking_uri: str, name: str,
            sync_aliases: bool = False) -> Published:
    """Register the version in MLflow once, after judging it (NotPublishable with promotion's
    reasons); a version MLflow already holds is not judged or registered again (its gates were
    judged when it was published), only its aliases are moved when asked. Either way the
    publication is recorded in the ledger."""
    import mlflow
    from mlflow.exceptions import MlflowException

    root = layout.registry
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    try:
        with ledger.registry_lock(root):
            item = registered_version(root, version)
            found = published_version(client, name, item)
            model_version = found or _register(params, layout, judge(params, layout, version),
                                               name)
            aliases = sync_mlflow_aliases(client, name, root) if sync_aliases else ()
            mine = tuple(a for a in aliases if registry.get_alias(root, a) == version)
            entry = _record(root, item, tracking_uri, name, model_version.version, mine)
    except MlflowException as error:
        raise PublishError(f"MLflow at {recorded_uri(tracking_uri)} refused: {error}") from error
    return Published(version, model_uri(name, model_version.version), str(model_version.version),
                     found is None, mine, entry)


def model_uri(name: str, mlflow_version: str | int) -> str:
    return f"models:/{name}/{mlflow_version}"


def published_version(client, name: str, item: Publishable):
    """The MLflow model version already carrying this version's evidence, or None (also when
    the registered model does not exist yet)."""
    for candidate in client.search_model_versions(f"name = '{_quoted(name)}'"):
        tags = candidate.tags or {}
        if (tags.get("governance.version") == item.version
                and tags.get("governance.evidence_hash") == item.evidence_hash):
            return candidate
    return None


def _quoted(name: str) -> str:
    return name.replace("'", "\\'")


def _register(params: Params, layout: Layout, item: Publishable, name: str):
    """Log the verified model and the governance files in one MLflow run, then create the model
    version with every tag in the same request (a version is never left untagged)."""
    import mlflow

    model = registry.load_model(layout.registry, item.version,
                                model_files.declared_types(params.active))
    inputs = _golden_inputs(layout, model)
    tags = item.tags()
    mlflow.set_experiment(name)
    with mlflow.start_run(run_name=f"governance {item.version}", tags=tags):
        info = mlflow.sklearn.log_model(
            model, name=MODEL_ARTIFACT, serialization_format="skops",
            skops_trusted_types=[*model_files.TRUSTED_TYPES,
                                 *model_files.declared_types(params.active)],
            signature=mlflow.models.infer_signature(inputs, model.predict_proba(inputs)),
            input_example=inputs.head(INPUT_EXAMPLE_ROWS), pyfunc_predict_fn="predict_proba",
            pip_requirements=_requirements())
        with tempfile.TemporaryDirectory(prefix="governance-publish-") as folder:
            for file, data in item.files.items():
                (Path(folder) / file).write_bytes(data)
            mlflow.log_artifacts(folder, GOVERNANCE_ARTIFACTS)
    return mlflow.register_model(info.model_uri, name, tags=tags, await_registration_for=60)


def _golden_inputs(layout: Layout, model):
    """The golden rows as the model reads them: the signature's and input example's source."""
    import pandas as pd

    path = layout.split("golden_test")
    if not path.is_file():
        raise registry.RegistryError(f"{layout.relative(path)} is missing: the signature and "
                                     "input example are taken from the golden rows; run the "
                                     "pipeline first")
    return model_inputs(model, pd.read_parquet(path))


def _requirements() -> list[str]:
    """What loading the logged model needs, pinned to what logged it (no inference run)."""
    import sklearn
    import skops

    return [f"scikit-learn=={sklearn.__version__}", f"skops=={skops.__version__}"]


def sync_mlflow_aliases(client, name: str, root) -> tuple[str, ...]:
    """MLflow's staging and production point at the model version published for the version
    this project's alias points at; an MLflow alias whose project alias points at a version not
    published there is removed rather than left pointing at something else. Returns the aliases
    that point somewhere."""
    by_version = {mv.tags.get("governance.version"): mv.version
                  for mv in client.search_model_versions(f"name = '{_quoted(name)}'")
                  if mv.tags}
    pointing = []
    for alias in ALIASES:
        target = by_version.get(registry.get_alias(root, alias))
        if target is not None:
            client.set_registered_model_alias(name, alias, target)
            pointing.append(alias)
        elif alias in (client.get_registered_model(name).aliases or {}):
            client.delete_registered_model_alias(name, alias)
    return tuple(pointing)


def _record(root, item: Publishable, tracking_uri: str, name: str, mlflow_version: str | int,
            aliases: tuple[str, ...]) -> dict:
    """The ledger's publication entry, unless the last one for this version says the same."""
    data = {"version": item.version, "evidence_hash": item.evidence_hash, "target": "mlflow",
            "tracking_uri": recorded_uri(tracking_uri), "registered_model": name,
            "mlflow_version": str(mlflow_version), "model_uri": model_uri(name, mlflow_version),
            "aliases": list(aliases),
            "fairness_verified": item.tags()["fairness_verified"] == "true"}
    last = ledger.last_entry(root, ENTRY_KIND, version=item.version,
                             tracking_uri=data["tracking_uri"], registered_model=name)
    if last is not None and last["data"] == data:
        return last
    return ledger.append_locked(root, ENTRY_KIND, data)
