"""Alert delivery: one alert POSTed to a webhook, each attempt bounded by an overall deadline,
retried with exponential backoff only when retrying can help.

httpx's timeouts bound each socket operation, not the exchange: a receiver that answers
`200 OK` and then sends one header line every 2 s never trips a 5 s read timeout. So each
attempt runs an async httpx client inside `anyio.fail_after(deadline)`: the cancel scope covers
connect, send and read together, and cancelling it exits the client's context, which closes
the socket. A streaming response checked against a monotonic clock would not do: httpx reads
the whole header block before it returns a stream, so the trickle happens before any check.

One delivery waits at most `longest_hold_seconds`. The outcome is `delivered` (a 2xx),
`transient` (connection refused or reset, the deadline, a 5xx, a 429: worth another try later)
or `permanent` (no or an unusable URL, a redirect, any other 4xx: a configuration error that
no retry fixes). Delivery never raises.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Literal

import anyio

from ..params.monitoring import MonitoringSpec

WEBHOOK_ENV = "GOVERNANCE_ALERT_WEBHOOK"
SCHEMES = ("http", "https")
Outcome = Literal["delivered", "transient", "permanent"]
DELIVERED: Outcome = "delivered"
TRANSIENT: Outcome = "transient"
PERMANENT: Outcome = "permanent"


@dataclass
class Delivery:
    """What happened to one alert in one delivery: the outcome, why, and every attempt."""

    receiver: str | None
    outcome: Outcome
    reason: str | None = None
    attempts: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def webhook_url(override: str, settings: MonitoringSpec) -> str | None:
    """The receiver: an explicit URL, else $GOVERNANCE_ALERT_WEBHOOK, else params."""
    return override or os.environ.get(WEBHOOK_ENV) or settings.alert_webhook_url


def longest_hold_seconds(settings: MonitoringSpec) -> float:
    """The longest one delivery can take: every attempt's deadline plus the backoff waits."""
    waits = sum(settings.alert_backoff_seconds * 2 ** n
                for n in range(settings.alert_attempts - 1))
    return settings.alert_attempts * settings.alert_deadline_seconds + waits


def configuration_error(url: str | None) -> str | None:
    """Why `url` can never receive an alert (no network needed to tell), or None."""
    import httpx

    if not url:
        return (f"no webhook configured (monitoring.alert_webhook_url or ${WEBHOOK_ENV})")
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as error:
        return f"malformed webhook URL {url!r}: {error}"
    if parsed.scheme not in SCHEMES:
        return (f"unsupported scheme {parsed.scheme!r} in webhook URL {url!r}: alerts are "
                "POSTed to an http:// or https:// receiver")
    if not parsed.host:
        return f"malformed webhook URL {url!r}: it names no host"
    return None


def deliver(url: str | None, payload: dict, settings: MonitoringSpec) -> Delivery:
    """POST `payload` until a 2xx, a permanent failure, or `alert_attempts` transient ones."""
    problem = configuration_error(url)
    if problem is not None:
        return Delivery(receiver=receiver(url), outcome=PERMANENT, reason=problem)
    return anyio.run(_deliver, url, payload, settings)


async def _deliver(url: str, payload: dict, settings: MonitoringSpec) -> Delivery:
    delivery = Delivery(receiver=receiver(url), outcome=TRANSIENT)
    for attempt in range(1, settings.alert_attempts + 1):
        if attempt > 1:
            await anyio.sleep(settings.alert_backoff_seconds * 2 ** (attempt - 2))
        started = datetime.now(timezone.utc).isoformat()
        outcome, result = await _attempt(url, payload, settings.alert_deadline_seconds)
        delivery.attempts.append({"attempt": attempt, "at": started, **result})
        delivery.outcome, delivery.reason = outcome, result.get("error")
        if outcome != TRANSIENT:
            break
    return delivery


async def _attempt(url: str, payload: dict, deadline: float) -> tuple[Outcome, dict]:
    """One POST, connect to last byte within `deadline`; the socket is closed when it passes."""
    import httpx

    try:
        with anyio.fail_after(deadline):
            async with httpx.AsyncClient(timeout=deadline) as client:
                answer = await client.post(url, json=payload,
                                           headers={"Idempotency-Key": str(payload.get("id"))})
    except TimeoutError:
        return TRANSIENT, {"error": f"no complete answer within the {deadline:g} s deadline "
                                    "(monitoring.alert_deadline_seconds)"}
    except httpx.TransportError as error:
        return TRANSIENT, {"error": f"{type(error).__name__}: {error}"}
    return _judge(answer)


def _judge(answer) -> tuple[Outcome, dict]:
    """2xx delivered; 5xx and 429 may pass later; a redirect or other 4xx never will."""
    status = answer.status_code
    if answer.is_success:
        return DELIVERED, {"status": status}
    said = " ".join(answer.text.split())[:200]
    error = f"HTTP {status} {answer.reason_phrase}" + (f": {said}" if said else "")
    if status >= 500 or status == 429:
        return TRANSIENT, {"status": status, "error": error}
    if answer.is_redirect:
        error += f" (redirect to {answer.headers.get('location')}; configure the final URL)"
    return PERMANENT, {"status": status, "error": error}


def alert_text(payload: dict) -> str:
    """The one human sentence a chat channel shows (Slack's `text`): what, where, how bad.
    Batch names are file names: `&`, `<` and `>` are escaped as Slack's formatting asks, so a
    name like `<!channel>` is shown, never acted on."""
    breaches = ", ".join(f"{check} at {level}" for check, level in payload["breaches"].items())
    monitored = datetime.fromisoformat(payload["created"]).strftime("%Y-%m-%d %H:%M UTC")
    return _slack_escaped(
        f"Monitoring alert for {payload['dataset']} batch '{payload['batch']}' scored by "
        f"production version {payload['production_version']}: {breaches}; report "
        f"{payload['report']} (monitored {monitored}).")


def _slack_escaped(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def receiver(url: str | None) -> str | None:
    """The URL without its path and query, as records and logs keep it: a Slack webhook's
    path is its secret."""
    import httpx

    try:
        parsed = httpx.URL(url or "")
    except httpx.InvalidURL:
        return url
    return f"{parsed.scheme}://{parsed.netloc.decode()}" if parsed.host else url
