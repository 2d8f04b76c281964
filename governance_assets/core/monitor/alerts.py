"""Alerts: a JSON POST to a webhook, retried with exponential backoff, every attempt recorded.

Delivery never raises: an alert that cannot be delivered is logged with each attempt's outcome,
and monitoring goes on (the breach is in the report and the asset checks either way).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field


@dataclass
class Delivery:
    url: str | None
    delivered: bool
    attempts: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def post_json(url: str | None, payload: dict, attempts: int, backoff_seconds: float,
              timeout_seconds: float, sleep: Callable[[float], None] = time.sleep) -> Delivery:
    """POST `payload`; retry on a network error or a 5xx/429 answer, waiting backoff * 2^n."""
    import httpx

    if not url:
        return Delivery(url=None, delivered=False,
                        attempts=[{"error": "no webhook configured (monitoring.alert_webhook_url "
                                            "or $GOVERNANCE_ALERT_WEBHOOK)"}])
    delivery = Delivery(url=url, delivered=False)
    for attempt in range(attempts):
        if attempt:
            sleep(backoff_seconds * 2 ** (attempt - 1))
        try:
            answer = httpx.post(url, json=payload, timeout=timeout_seconds)
        except httpx.HTTPError as error:
            delivery.attempts.append({"attempt": attempt + 1, "error": f"{type(error).__name__}: "
                                                                       f"{error}"})
            continue
        delivery.attempts.append({"attempt": attempt + 1, "status": answer.status_code})
        if answer.is_success:
            delivery.delivered = True
            return delivery
        if answer.status_code < 500 and answer.status_code != 429:
            return delivery  # the receiver refused this payload: retrying cannot help
    return delivery
