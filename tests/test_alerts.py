"""Alert delivery that is bounded and durable, against real HTTP receivers on localhost.

Bounded: each attempt has one deadline for connect, send and read together, so a receiver that
trickles its answer cannot hold the loop. Durable: every alert is in the outbox before delivery,
delivered oldest first, each exactly once, after the receiver comes back. Permanent
configuration errors are not retried and say so. The end-to-end tests run the real
`governance monitor` command on a project with an approved production version
(tests/test_monitoring.py's fixtures) and real drifted batches.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import pytest
from dagster import build_sensor_context

from governance_assets.cli import main
from governance_assets.core.files import read_json
from governance_assets.core.layout import Layout
from governance_assets.core.monitor import alerts, outbox
from governance_assets.core.params.monitoring import MonitoringSpec
from governance_assets.resources import AlertWebhook, GovernanceProject
from governance_assets.sensors import alert_outbox_sensor

from .conftest import REPO, make_project, set_params
from .receivers import Receiver, Trickler
from .servers import free_port
from .signing import keys
from .test_monitoring import drifted_batch, drop_batch, instance, monitor, production, project

__all__ = ["instance", "keys", "production", "project"]  # fixtures, used by name

GOVERNANCE = REPO / ".venv" / "bin" / "governance"
QUICK = MonitoringSpec(alert_attempts=2, alert_backoff_seconds=0.05, alert_deadline_seconds=1.5)
# Longer than `governance monitor` waits in its test: without the deadline it times out.
TRICKLE_SECONDS = 300


def _alert(folder: Path, batch: str) -> dict:
    record = outbox.new_alert(batch, "ERROR", {
        "dataset": "german_credit", "production_version": "v1", "breaches": {
            "feature_psi": "ERROR"}, "report": f"reports/monitoring/{batch}/report.json"})
    outbox.enqueue(folder, record)
    return record


def test_a_trickling_receiver_is_cut_at_the_deadline_and_loses_its_socket():
    """Mutation killed: the attempt without `anyio.fail_after` (httpx's per-read timeout never
    fires on a line every 0.3 s, so each attempt waits out the 20 s trickle)."""
    trickler = Trickler(every=0.3, lasting=20)
    try:
        started = time.monotonic()
        delivery = alerts.deliver(trickler.url, {"id": "a"}, QUICK)
        took = time.monotonic() - started
        for _ in range(50):  # the server notices a closed socket at its next line
            if trickler.closed_by_client == 2:
                break
            time.sleep(0.1)
    finally:
        trickler.close()
    assert alerts.longest_hold_seconds(QUICK) == pytest.approx(3.05)
    assert took < alerts.longest_hold_seconds(QUICK) + 10, took
    assert delivery.outcome == alerts.TRANSIENT and len(delivery.attempts) == 2
    assert all("1.5 s deadline" in a["error"] for a in delivery.attempts)
    assert trickler.connections == 2 and trickler.closed_by_client == 2, \
        "cancelling at the deadline closes the socket"


def test_a_refusing_receiver_gets_one_attempt_and_the_record_says_permanent(tmp_path):
    """Mutation killed: a 4xx treated as transient (4 requests, the record stays pending)."""
    receiver = Receiver(statuses=[403])
    record = _alert(tmp_path, "b1")
    try:
        tried = outbox.deliver_pending(tmp_path, receiver.url, MonitoringSpec())
    finally:
        receiver.close()
    assert len(receiver.received) == 1
    stored = outbox.read_record(tmp_path, record)
    assert tried == [stored] and stored["status"] == outbox.FAILED
    assert stored["last_error"] == "permanent: HTTP 403 Forbidden"
    assert stored["receiver"] == receiver.url.removesuffix("/alerts")
    assert "/alerts" not in json.dumps(stored), "a webhook's path (Slack's secret) is not kept"
    assert outbox.deliver_pending(tmp_path, receiver.url, MonitoringSpec()) == [], \
        "a permanent failure is not retried by the next run"


def test_429_and_5xx_are_retried_and_delivered_with_the_same_id():
    """Mutations killed: 429 treated as permanent (one request); no retry after a 5xx."""
    receiver = Receiver(statuses=[429, 503])
    try:
        delivery = alerts.deliver(receiver.url, {"id": "c"}, MonitoringSpec(
            alert_attempts=3, alert_backoff_seconds=0.01))
    finally:
        receiver.close()
    assert delivery.outcome == alerts.DELIVERED
    assert [a["status"] for a in delivery.attempts] == [429, 503, 200]
    assert receiver.keys == ["c", "c", "c"], "the Idempotency-Key is the alert's id"


def test_the_slack_text_is_one_sentence_that_cannot_ping_a_channel():
    """Mutation killed: the text without Slack's escaping (a batch file named `<!channel>`
    would notify everyone in the channel)."""
    record = outbox.new_alert("<!channel>&co", "ERROR", {
        "dataset": "german_credit", "production_version": "v1",
        "breaches": {"feature_psi": "ERROR", "prediction_drift": "WARN"},
        "report": "reports/monitoring/x/report.json"})
    text = record["payload"]["text"]
    assert "batch '&lt;!channel&gt;&amp;co'" in text and "<" not in text
    assert "feature_psi at ERROR, prediction_drift at WARN" in text
    assert text.startswith("Monitoring alert for german_credit batch ") and "\n" not in text
    assert text.endswith(" UTC).") and "report reports/monitoring/x/report.json" in text


@pytest.mark.parametrize(("url", "why"), [
    ("file:///tmp/alerts.json", "unsupported scheme 'file'"),
    ("ftp://127.0.0.1/alerts", "unsupported scheme 'ftp'"),
    ("http://", "names no host"),
    ("http://[::1/alerts", "malformed webhook URL"),
])
def test_an_unusable_url_is_permanent_without_a_request(tmp_path, url, why):
    """Mutation killed: the scheme check removed (httpx's UnsupportedProtocol is a transport
    error, so `file://` would be retried as transient and stay pending)."""
    record = _alert(tmp_path, "b1")
    outbox.deliver_pending(tmp_path, url, MonitoringSpec())
    stored = outbox.read_record(tmp_path, record)
    assert stored["status"] == outbox.FAILED and stored["attempts"] == []
    assert stored["last_error"].startswith("permanent: ") and why in stored["last_error"]


def test_a_run_stops_at_the_first_transient_failure_and_the_next_keeps_the_order(tmp_path):
    """Mutations killed: no stop (every pending alert would take the whole bound of a down
    receiver); listing by anything but creation order (the five would arrive shuffled)."""
    names = [f"b{n}" for n in range(1, 6)]
    records = [_alert(tmp_path, name) for name in names]
    down = Receiver(statuses=[503, 503])
    try:
        tried = outbox.deliver_pending(tmp_path, down.url, QUICK)
    finally:
        down.close()
    assert [r["batch"] for r in tried] == ["b1"] and len(down.received) == 2
    assert [len(outbox.read_record(tmp_path, r)["attempts"]) for r in records] == [2, 0, 0, 0, 0]
    assert outbox.summary(tmp_path)[outbox.PENDING] == 5
    up = Receiver()
    try:
        outbox.deliver_pending(tmp_path, up.url, QUICK)
    finally:
        up.close()
    assert [body["batch"] for body in up.received] == names
    assert [body["id"] for body in up.received] == [r["id"] for r in records]
    assert outbox.summary(tmp_path) == {"pending": 0, "delivered": 5, "failed": 0}


def test_two_concurrent_runs_deliver_each_alert_once(tmp_path):
    """Mutation killed: no per-alert lock (both runs list the same pending alerts, and a
    receiver that takes 0.2 s per answer receives each twice)."""
    records = [_alert(tmp_path, f"b{n}") for n in range(4)]
    receiver = Receiver(delay=0.2)
    try:
        with ThreadPoolExecutor(max_workers=2) as pool:
            runs = [pool.submit(outbox.deliver_pending, tmp_path, receiver.url, QUICK)
                    for _ in range(2)]
            tried = [run.result() for run in runs]
    finally:
        receiver.close()
    assert sorted(r["id"] for run in tried for r in run) == sorted(r["id"] for r in records)
    assert sorted(body["id"] for body in receiver.received) == sorted(r["id"] for r in records)
    assert outbox.summary(tmp_path)[outbox.DELIVERED] == 4


def test_the_outbox_sensor_resends_what_is_pending(tmp_path):
    """The Dagster path (the daemon's sensor) re-sends without waiting for a batch. Mutation
    killed: the sensor not calling the outbox (nothing received)."""
    root = make_project(tmp_path)
    folder = Layout(root).alert_outbox
    records = [_alert(folder, name) for name in ("b1", "b2")]
    receiver = Receiver()
    try:
        context = build_sensor_context(resources={
            "project": GovernanceProject(root=str(root)), "alerts": AlertWebhook(url=receiver.url)})
        result = alert_outbox_sensor.evaluate_tick(context)
    finally:
        receiver.close()
    assert [body["id"] for body in receiver.received] == [r["id"] for r in records]
    assert "2 of 2 undelivered alert(s) re-sent" in result.skip_message


def test_governance_alerts_lists_and_resends(tmp_path, capsys, monkeypatch):
    """Mutations killed: --resend not delivering (exit 3, nothing received); a failed alert
    re-sent without --failed."""
    root = make_project(tmp_path)
    folder = Layout(root).alert_outbox
    pending = _alert(folder, "b1")
    failed = _alert(folder, "b2")
    outbox.mark_unsendable(folder, failed, "file:///nowhere")
    receiver = Receiver()
    monkeypatch.setenv(alerts.WEBHOOK_ENV, receiver.url)
    try:
        listed = main(["--root", str(root), "alerts"])
        listing = capsys.readouterr().out
        resent = main(["--root", str(root), "alerts", "--resend"])
        after = capsys.readouterr().out
        with_failed = main(["--root", str(root), "alerts", "--resend", "--failed"])
    finally:
        receiver.close()
    assert listed == 0
    assert "pending    ERROR  batch b1  0 attempt(s)" in listing
    assert "failed     ERROR  batch b2  0 attempt(s)" in listing
    assert "last error: permanent: unsupported scheme 'file'" in listing
    assert "2 alert(s): 1 pending, 0 delivered, 1 failed" in listing
    assert resent == 0 and "1 pending" not in after and "delivered" in after
    assert with_failed == 0
    assert [body["id"] for body in receiver.received] == [pending["id"], failed["id"]]


def _governance(root: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != alerts.WEBHOOK_ENV}
    return subprocess.run([str(GOVERNANCE), "--root", str(root), *args], cwd=root, env={
        **env, "DAGSTER_HOME": str(root / ".dagster")}, capture_output=True, text=True,
        timeout=timeout, check=False)


def test_five_alerts_pending_while_down_arrive_once_each_oldest_first(project):
    """The receiver is down (nothing listens on its port) while five drifted batches alert; the
    next `governance monitor` after it is up delivers each alert exactly once, oldest first,
    with its original batch and time. Mutations killed: the monitor not re-sending pending
    alerts (nothing arrives); a delivered alert not marked (the third run sends it again)."""
    port = free_port()
    set_params(project, monitoring={"alert_webhook_url": f"http://127.0.0.1:{port}/alerts",
                                    "alert_attempts": 2, "alert_backoff_seconds": 0.05})
    names = [f"day-{n}" for n in range(1, 6)]
    for number, name in enumerate(names):   # distinct bytes: a copy would be a duplicate
        drop_batch(project, name, drifted_batch(project).iloc[number:])
    down = _governance(project, "monitor")
    assert down.returncode == 1, down.stdout + down.stderr[-3000:]
    records = outbox.records(Layout(project).alert_outbox)
    assert [(r["batch"], r["status"]) for r in records] == [(n, "pending") for n in names]
    assert "ConnectError" in records[0]["last_error"]
    listing = _governance(project, "alerts")
    assert "5 alert(s): 5 pending, 0 delivered, 0 failed" in listing.stdout

    receiver = Receiver(port=port)
    try:
        up = _governance(project, "monitor")
        again = _governance(project, "monitor")
    finally:
        receiver.close()
    assert up.returncode == again.returncode == 0, up.stdout + up.stderr[-3000:]
    assert "5 of 5 earlier undelivered alert(s) re-sent" in up.stdout
    assert [body["batch"] for body in receiver.received] == names, "each once, oldest first"
    assert [body["id"] for body in receiver.received] == [r["id"] for r in records]
    assert [body["created"] for body in receiver.received] == [r["created"] for r in records]
    assert receiver.keys == [r["id"] for r in records]
    first = receiver.received[0]
    assert first["text"].startswith("Monitoring alert for german_credit batch 'day-1' scored by "
                                    f"production version {first['production_version']}: ")
    assert "feature_psi at ERROR" in first["text"]
    assert "reports/monitoring/day-1/report.json" in first["text"]
    listing = _governance(project, "alerts")
    assert "5 alert(s): 0 pending, 5 delivered, 0 failed" in listing.stdout


def test_a_trickling_receiver_cannot_hold_governance_monitor(project):
    """Mutation killed: delivery without the overall deadline (the command waits out the
    300 s trickle and the subprocess times out at 200 s)."""
    trickler = Trickler(every=0.3, lasting=TRICKLE_SECONDS)
    set_params(project, monitoring={"alert_webhook_url": trickler.url, "alert_attempts": 2,
                                    "alert_backoff_seconds": 0.05,
                                    "alert_deadline_seconds": 1.5})
    drop_batch(project, "drifted", drifted_batch(project))
    try:
        result = _governance(project, "monitor", timeout=200)
    finally:
        trickler.close()
    assert result.returncode == 1, result.stdout + result.stderr[-3000:]
    alert = read_json(project / "reports/monitoring/drifted/report.json")["alert"]
    assert alert["status"] == "pending" and len(alert["attempts"]) == 2
    assert "deadline" in alert["last_error"]
    assert trickler.connections == 2
    first, second = (datetime.fromisoformat(a["at"]) for a in alert["attempts"])
    assert (second - first).total_seconds() < 1.5 + 0.05 + 5, "one attempt, one deadline"


def test_a_file_url_alert_is_failed_permanent_in_the_report(project, instance):
    """Mutation killed: a configuration error recorded as pending (retried for ever)."""
    set_params(project, monitoring={"alert_webhook_url": "file:///tmp/alerts.json"})
    drop_batch(project, "drifted", drifted_batch(project))
    assert monitor(project, instance, "drifted").success
    alert = read_json(project / "reports/monitoring/drifted/report.json")["alert"]
    assert alert["status"] == "failed" and alert["attempts"] == []
    assert alert["last_error"].startswith("permanent: unsupported scheme 'file'")
    assert outbox.records(Layout(project).alert_outbox) == [alert]
