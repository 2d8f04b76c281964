"""The project a run works in: its root, its params and its file layout."""


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
    params monitoring.alert_webhook_url. Every alert goes through the outbox
    (core/monitor/outbox.py): written first, delivered oldest first, never raised."""

    url: str = ""

    def webhook(self, params: Params) -> str | None:
        from .core.monitor.alerts import webhook_url

        return webhook_url(self.url, params.monitoring)

    def send(self, layout: Layout, params: Params, record: dict) -> dict:
        """Write `record` to the outbox, then deliver it behind any older pending alert;
        the record as it stands after this run."""
        from .core.monitor import outbox

        outbox.enqueue(layout.alert_outbox, record)
        url = self.webhook(params)
        if not url:
            return outbox.mark_unsendable(layout.alert_outbox, record, url)
        outbox.deliver_pending(layout.alert_outbox, url, params.monitoring)
        return outbox.read_record(layout.alert_outbox, record)

    def resend(self, layout: Layout, params: Params, include_failed: bool = False) -> list[dict]:
        """Deliver what is still pending (and failed, when asked), oldest first."""
        from .core.monitor import outbox

        return outbox.deliver_pending(layout.alert_outbox, self.webhook(params),
                                      params.monitoring, include_failed)
