"""Real alert receivers on localhost for the alert tests: a recording webhook (scripted
statuses, an optional fixed port and a delay per answer) and a trickler that answers `200 OK`
and then one header line at a time, never finishing."""

from __future__ import annotations

import json
import socketserver
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Receiver:
    """Records every JSON body (and its Idempotency-Key header); answers from a script of
    statuses, then 200; `delay` seconds before each answer."""

    def __init__(self, statuses: list[int] | None = None, port: int = 0, delay: float = 0):
        self.received: list[dict] = []
        self.keys: list[str | None] = []
        self.statuses = list(statuses or [])
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append(json.loads(body))
                receiver.keys.append(self.headers.get("Idempotency-Key"))
                time.sleep(delay)
                self.send_response(receiver.statuses.pop(0) if receiver.statuses else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/alerts"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Trickler:
    """Reads the request, answers `HTTP/1.1 200 OK`, then one header line every `every`
    seconds for `lasting` seconds. Records each connection and when the client closed it."""

    def __init__(self, every: float = 0.3, lasting: float = 300):
        self.connections = 0
        self.closed_by_client = 0
        trickler = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self):
                trickler.connections += 1
                self.request.recv(65536)
                self.request.sendall(b"HTTP/1.1 200 OK\r\n")
                ends = time.monotonic() + lasting
                line = 0
                while time.monotonic() < ends:
                    time.sleep(every)
                    line += 1
                    try:
                        self.request.sendall(f"X-Trickle-{line}: still here\r\n".encode())
                    except OSError:  # the client closed the socket
                        trickler.closed_by_client += 1
                        return

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/alerts"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
