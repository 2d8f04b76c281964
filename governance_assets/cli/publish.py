"""`governance publish mlflow`: a version that passed its gates, into an MLflow Model Registry.

Needs the `.[mlflow]` extra (`make mlflow`). Exit codes (output.py): 0 published, or already
published (the same MLflow model version; nothing is duplicated); 1 refused: a gate failed, is
stale or was never judged (promotion's reasons are printed); 2 bad input: an unknown version or
alias, no tracking URI, the extra not installed, params.yaml invalid; 3 MLflow could not be
reached or refused a request; 4 the registry is locked or the ledger write failed.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
from pathlib import Path

from ..core.layout import Layout
from ..core.params import ParamsError, load_params
from ..core.publish import mlflow_registry
from ..core.publish.publishable import NotPublishable
from ..core.record import ledger, registry
from .output import DONE, FAILURE, INPUT_ERROR, LEDGER_WRITE_FAILED, REFUSED, say
from .registry import UsageError, resolve

TRACKING_ENV = "MLFLOW_TRACKING_URI"


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Register `governance publish mlflow`."""
    publish = commands.add_parser(
        "publish", help="register a version that passed its gates into an MLflow registry",
        description="Register a version whose every blocking gate has a current PASS (as "
                    "promotion counts them) into an MLflow Model Registry: the model in "
                    "MLflow's scikit-learn flavour with its signature and an input example, the "
                    "card, decision record and compliance report as artifacts, the governance "
                    "tags and one tag per gate verdict. Recorded in the ledger as a "
                    "`publication` entry with the MLflow model URI; publishing the same "
                    "version again returns the same MLflow model version. Needs the mlflow "
                    "extra (`make mlflow`).")
    publish.add_argument("target", choices=["mlflow"], help="where to publish: mlflow")
    publish.add_argument("version", nargs="?", default="staging",
                         help="version id, unique prefix, or staging/production (default "
                              "staging)")
    publish.add_argument("--tracking-uri",
                         help=f"the MLflow tracking URI (default publish.mlflow.tracking_uri, "
                              f"then {TRACKING_ENV})")
    publish.add_argument("--name", help="the registered model's name (default "
                                        "publish.mlflow.registered_model, then "
                                        "governance-<dataset>)")
    publish.add_argument("--sync-aliases", action="store_true", default=None,
                         help="MLflow's staging and production follow this project's aliases "
                              "(default publish.mlflow.sync_aliases)")
    publish.set_defaults(handler=_publish_mlflow_command)


def _tracking_uri(option: str | None, configured: str | None) -> str:
    uri = option or configured or os.environ.get(TRACKING_ENV)
    if not uri:
        raise UsageError(f"no MLflow tracking URI: pass --tracking-uri, set "
                         f"publish.mlflow.tracking_uri in params.yaml or {TRACKING_ENV}")
    return uri


def _require_extra() -> None:
    if importlib.util.find_spec("mlflow") is None:
        raise UsageError("the mlflow extra is not installed: `make mlflow` (or pip install "
                         "'governance-assets[mlflow]')")


def _publish(project: Path, args: argparse.Namespace) -> int:
    params = load_params(project)
    spec = params.publish.mlflow
    uri = _tracking_uri(args.tracking_uri, spec.tracking_uri)
    _require_extra()
    layout = Layout(project)
    version = resolve(layout.registry, args.version)
    name = mlflow_registry.model_name(params, args.name)
    sync = spec.sync_aliases if args.sync_aliases is None else args.sync_aliases
    done = mlflow_registry.publish(params, layout, version, uri, name, sync)
    how = "published as" if done.created else "already published as"
    say(f"{version} {how} {done.model_uri} (MLflow model version {done.mlflow_version} at "
        f"{mlflow_registry.recorded_uri(uri)}); ledger #{done.ledger_entry['seq']}")
    if sync:
        say(f"MLflow aliases of {version}: {', '.join(done.aliases) or 'none'}")
    return DONE


def _publish_mlflow_command(project: Path, args: argparse.Namespace) -> int:
    """Every refusal is one paragraph with its exit code."""
    try:
        return _publish(project, args)
    except NotPublishable as error:
        say(f"refused: version {error.version} is not published (exit {REFUSED}):")
        for reason in error.reasons:
            say(f"  {reason}")
        return REFUSED
    except (ledger.RegistryLocked, ledger.LedgerWriteFailed) as error:
        say(f"error: {error} (exit {LEDGER_WRITE_FAILED})")
        return LEDGER_WRITE_FAILED
    except (ParamsError, UsageError, registry.RegistryError, ledger.LedgerError) as error:
        say(f"error: {error} (exit {INPUT_ERROR})")
        return INPUT_ERROR
    except mlflow_registry.PublishError as error:
        say(f"error: {error} (exit {FAILURE})")
        return FAILURE
