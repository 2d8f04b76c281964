"""The project a run works in: its root, its params and its file layout."""


import os
from pathlib import Path

from dagster import ConfigurableResource

from .core.layout import Layout
from .core.params import Params, load_params


class GovernanceProject(ConfigurableResource):
    """Root of the project; '.' is the working directory, which is what `dvc repro` uses."""

    root: str = "."

    @property
    def layout(self) -> Layout:
        return Layout(Path(self.root).resolve())

    def params(self) -> Params:
        return load_params(self.layout.root)


# --- production monitoring (issue 11) ---
class AlertWebhook(ConfigurableResource):
    """Where monitoring alerts go: `url` here, else $GOVERNANCE_ALERT_WEBHOOK, else
    params monitoring.alert_webhook_url. Delivery is retried and recorded, never raised."""

    url: str = ""

    def send(self, payload: dict, params: Params) -> dict:
        from .core.monitor.alerts import post_json

        settings = params.monitoring
        url = self.url or os.environ.get("GOVERNANCE_ALERT_WEBHOOK") or settings.alert_webhook_url
        return post_json(url, payload, settings.alert_attempts, settings.alert_backoff_seconds,
                         settings.alert_timeout_seconds).to_dict()
