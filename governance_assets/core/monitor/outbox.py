"""The alert outbox: every alert is a file, written (atomically) before anyone tries to deliver
it, so an alert that cannot be delivered now is delivered later instead of lost.

One JSON record per alert, named `<created>-<id>.json`, so a listing sorted by name is oldest
first. A record is `pending` until a 2xx marks it `delivered`; a permanent failure marks it
`failed` with "permanent: <why>", and only an explicit resend (`governance alerts --resend
--failed`) tries it again; a transient failure leaves it pending with its last error. Each
delivery run sends the pending alerts oldest first, the payload as first written (the original
batch, time and id, so a receiver can de-duplicate), and stops at the first transient failure:
the receiver is down, the newer alerts wait behind the older ones, and one run waits at most one
delivery's bound. A lock per alert makes two concurrent runs (the schedule's, the CLI's) send
each alert once; a crash between the receiver's 2xx and the record's update sends it again,
which the id lets the receiver recognise.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal

from filelock import FileLock, Timeout

from ..files import read_json, write_json_atomic
from ..params.monitoring import MonitoringSpec
from . import alerts

Status = Literal["pending", "delivered", "failed"]
PENDING: Status = "pending"
DELIVERED: Status = "delivered"
FAILED: Status = "failed"
LOCKS = ".locks"


def new_alert(batch: str, level: str, fields: dict) -> dict:
    """A pending record whose payload carries its id, time and a Slack-compatible `text`."""
    created = datetime.now(timezone.utc)
    payload = {"id": uuid.uuid4().hex, "created": created.isoformat(), "batch": batch,
               "level": level, **fields}
    payload["text"] = alerts.alert_text(payload)
    return {"id": payload["id"], "created": payload["created"], "batch": batch, "level": level,
            "status": PENDING, "receiver": None, "attempts": [], "last_error": None,
            "delivered_at": None,
            "file": f"{created.strftime('%Y%m%dT%H%M%S%fZ')}-{payload['id']}.json",
            "payload": payload}


def enqueue(folder: Path, record: dict) -> Path:
    """Write the record before any delivery is tried: from here on it cannot be lost."""
    return write_json_atomic(folder / record["file"], record)


def records(folder: Path) -> list[dict]:
    """Every alert, oldest first."""
    if not folder.is_dir():
        return []
    return [read_json(path) for path in sorted(folder.glob("*.json"))]


def read_record(folder: Path, record: dict) -> dict:
    """The record as it is on disk now (another run may have delivered it)."""
    return read_json(folder / record["file"])


def deliver_pending(folder: Path, url: str | None, settings: MonitoringSpec,
                    include_failed: bool = False) -> list[dict]:
    """Send every pending alert (and failed ones when asked), oldest first, until the first
    transient failure; return the records this run tried, as updated. Without a configured
    webhook nothing is tried: the pending alerts wait for one."""
    wanted = (PENDING, FAILED) if include_failed else (PENDING,)
    if not url:
        return []
    tried = []
    for record in records(folder):
        if record["status"] not in wanted:
            continue
        with _claimed(folder, record) as current:
            if current is None or current["status"] not in wanted:
                continue  # another run holds it, or delivered it since the listing
            updated = _record_delivery(folder, current,
                                       alerts.deliver(url, current["payload"], settings))
        tried.append(updated)
        if updated["status"] == PENDING:
            break
    return tried


def mark_unsendable(folder: Path, record: dict, url: str | None) -> dict:
    """A new alert with no usable webhook: failed at once, with the configuration error."""
    return _record_delivery(folder, record, alerts.Delivery(
        receiver=alerts.receiver(url), outcome=alerts.PERMANENT,
        reason=alerts.configuration_error(url)))


@contextmanager
def _claimed(folder: Path, record: dict) -> Iterator[dict | None]:
    """The record re-read under its own lock, or None when another run holds that lock."""
    locks = folder / LOCKS
    locks.mkdir(parents=True, exist_ok=True)
    lock = FileLock(locks / f"{record['id']}.lock", timeout=0)
    try:
        lock.acquire()
    except Timeout:
        yield None
        return
    try:
        yield read_record(folder, record)
    finally:
        lock.release()


def _record_delivery(folder: Path, record: dict, delivery: alerts.Delivery) -> dict:
    """The record after one delivery run: its attempts appended, its status and last error."""
    status = {alerts.DELIVERED: DELIVERED, alerts.TRANSIENT: PENDING,
              alerts.PERMANENT: FAILED}[delivery.outcome]
    error = delivery.reason
    if delivery.outcome == alerts.PERMANENT:
        error = f"permanent: {delivery.reason}"
    updated = {**record, "status": status, "receiver": delivery.receiver,
               "attempts": [*record["attempts"], *delivery.attempts],
               "last_error": None if status == DELIVERED else error,
               "delivered_at": (delivery.attempts[-1]["at"] if status == DELIVERED else None)}
    write_json_atomic(folder / record["file"], updated)
    return updated


def summary(folder: Path) -> dict[str, int]:
    """How many alerts are in each state."""
    counts = {PENDING: 0, DELIVERED: 0, FAILED: 0}
    for record in records(folder):
        counts[record["status"]] += 1
    return counts

