"""`governance alerts`: the monitoring alert outbox, listed, and its undelivered alerts re-sent.

Every alert `governance monitor` (or the schedule) raises is written to reports/alerts/ before
delivery (core/monitor/outbox.py). This lists them oldest first (batch, time, level, status,
attempts, last error) and, with --resend, delivers the pending ones in that order, as the next
`governance monitor` would. Exit codes: 0 listed, or every alert re-sent; 2 params refused;
3 some alert is still undelivered after --resend.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..core.layout import Layout
from ..core.monitor import outbox
from ..core.params import Params, ParamsError, load_params
from .output import DONE, FAILURE, INPUT_ERROR, say


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "alerts", help="list monitoring alerts; re-send the undelivered ones",
        description="List every monitoring alert in the outbox (reports/alerts/), oldest "
                    "first: batch, time, level, status (pending, delivered, failed), attempts "
                    "and the last error. --resend delivers the pending ones, oldest first, with "
                    "their original batch, time and id. Exit 0 done, 2 params refused, 3 an "
                    "alert still undelivered after --resend.")
    parser.add_argument("--resend", action="store_true",
                        help="deliver the pending alerts now, oldest first")
    parser.add_argument("--failed", action="store_true",
                        help="with --resend: also alerts that failed permanently (after the "
                             "webhook configuration was fixed)")
    parser.set_defaults(handler=_alerts_command)


def _alerts_command(root: Path, args: argparse.Namespace) -> int:
    return alerts(root, args.resend, args.failed)


def alerts(root: Path, resend: bool, include_failed: bool) -> int:
    """Print the outbox; with `resend`, deliver its pending (and failed) alerts first."""
    from ..resources import AlertWebhook

    try:
        params = load_params(root)
    except ParamsError as error:
        say(f"error: {error}")
        return INPUT_ERROR
    layout = Layout(root)
    folder = layout.alert_outbox
    if resend:
        webhook = AlertWebhook()
        if not webhook.webhook(params):
            say("error: no webhook configured (monitoring.alert_webhook_url or "
                "$GOVERNANCE_ALERT_WEBHOOK); nothing re-sent")
            return INPUT_ERROR
        tried = webhook.resend(layout, params, include_failed)
        say(f"re-sent {sum(r['status'] == outbox.DELIVERED for r in tried)} of {len(tried)} "
            "alert(s) tried")
    every = outbox.records(folder)
    for record in every:
        say(_line(record))
    counts = outbox.summary(folder)
    say(f"{len(every)} alert(s): {counts[outbox.PENDING]} pending, "
        f"{counts[outbox.DELIVERED]} delivered, {counts[outbox.FAILED]} failed")
    waiting = counts[outbox.PENDING] + (counts[outbox.FAILED] if include_failed else 0)
    return FAILURE if resend and waiting else DONE


def resend_before_monitoring(layout: Layout, params: Params) -> None:
    """What `governance monitor` does first: alerts still undelivered from earlier runs are
    re-sent, oldest first, before any new batch can alert."""
    from ..resources import AlertWebhook

    tried = AlertWebhook().resend(layout, params)
    if tried:
        sent = sum(record["status"] == outbox.DELIVERED for record in tried)
        say(f"alerts: {sent} of {len(tried)} earlier undelivered alert(s) re-sent; "
            "`governance alerts` lists the rest")


def _line(record: dict) -> str:
    """One alert: when, which batch, how bad, where it stands and why."""
    line = (f"{record['created']}  {record['status']:<9}  {record['level']:<5}  batch "
            f"{record['batch']}  {len(record['attempts'])} attempt(s)  id {record['id']}")
    if record["last_error"]:
        line += f"  last error: {record['last_error']}"
    return line
