"""`governance serve-metrics`: the monitoring statistics and the ledger's gate counts on
`/metrics` for Prometheus to scrape, regenerated from the project's files at every scrape
(the same families `governance monitor` writes to reports/monitoring/metrics.prom)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..core.layout import Layout
from ..core.params import load_params
from .output import DONE, ledger_errors_as_input_errors, say


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "serve-metrics", help="serve the monitoring metrics on /metrics",
        description="Serve every batch's monitoring statistics, the monitoring levels and the "
                    "ledger's gate verdict counts in the Prometheus text format on "
                    "http://HOST:PORT/metrics, read afresh at each scrape, until interrupted. "
                    "Port 0 picks a free port; the first line printed names the address.")
    parser.add_argument("--port", type=int, default=9108, help="port to listen on")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to bind (0.0.0.0 for every interface)")
    parser.set_defaults(handler=_serve_command)


@ledger_errors_as_input_errors
def _serve_command(root: Path, args: argparse.Namespace) -> int:
    return serve(root, args.host, args.port)


def serve(root: Path, host: str, port: int) -> int:
    """Serve /metrics until interrupted (Ctrl-C or SIGTERM ends it with exit 0)."""
    import signal
    import sys

    from prometheus_client import start_http_server

    from ..core.monitor import metrics

    layout = Layout(root)
    registry = metrics.registry_for(layout, load_params(root).monitoring)
    server, thread = start_http_server(port, addr=host, registry=registry)
    signal.signal(signal.SIGTERM, lambda *_: server.shutdown())
    say(f"serving http://{host}:{server.server_port}/metrics (read from "
        f"{layout.relative(layout.reports / 'monitoring')} and the ledger at each scrape)")
    sys.stdout.flush()
    try:
        thread.join()
    except KeyboardInterrupt:
        server.shutdown()
    server.server_close()
    return DONE
