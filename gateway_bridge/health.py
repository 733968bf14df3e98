"""``/healthz``, ``/readyz`` and ``/metrics`` of the bridge on one loopback port.

``/readyz`` answers 503 while the bridge cannot do its job: the MQTT session
is down, InfluxDB is unreachable (its ``/ping`` fails, or writes are
failing with points waiting), or InfluxDB refuses us whatever we send
(credentials revoked, database dropped): ``influx_config_ok`` is then false
and ``problem`` carries InfluxDB's own words. A load balancer or an operator's probe then
sees the outage the metrics describe. ``/healthz`` is liveness only: 200
while the process serves HTTP, so an InfluxDB outage never gets the bridge
restarted (restarting would not help; the bridge rides outages out).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import orjson
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

__all__ = ["HealthServer", "Readiness"]

log = logging.getLogger(__name__)


class Readiness:
    """Readiness from cheap checks, with InfluxDB's ping cached so probes never hammer it."""

    def __init__(
        self,
        connected: Callable[[], bool],
        writes_failing: Callable[[], bool],
        ping: Callable[[], bool],
        ping_every: float = 1.0,
        problem: Callable[[], str | None] = lambda: None,
    ) -> None:
        self._connected = connected
        self._problem = problem
        self._writes_failing = writes_failing
        self._ping = ping
        self._ping_every = ping_every
        self._lock = threading.Lock()
        self._pinged_at = -float("inf")
        self._ping_ok = False

    def problem(self) -> str | None:
        """Why InfluxDB refuses the bridge's writes, if it does (the writer's ``problem``)."""
        return self._problem()

    def check(self) -> dict[str, bool]:
        """Each condition by name; ready only if all are true."""
        with self._lock:
            now = time.monotonic()
            if now - self._pinged_at >= self._ping_every:
                self._ping_ok = self._ping()
                self._pinged_at = time.monotonic()
            influx = self._ping_ok
        return {
            "mqtt_connected": self._connected(),
            "influx_reachable": influx,
            "influx_writes_ok": not self._writes_failing(),
            "influx_config_ok": self._problem() is None,
        }


class HealthServer:
    """A tiny threaded HTTP server on 127.0.0.1 (bind port 0 for a free one)."""

    def __init__(self, port: int, registry: CollectorRegistry, readiness: Readiness) -> None:
        registry_ = registry

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    self._send(200, CONTENT_TYPE_LATEST, generate_latest(registry_))
                elif path == "/healthz":
                    self._send(200, "application/json", b'{"status":"ok"}')
                elif path == "/readyz":
                    checks = readiness.check()
                    ready = all(checks.values())
                    problem = readiness.problem()
                    extra = {"problem": problem} if problem else {}
                    body = orjson.dumps({"ready": ready, **checks, **extra})
                    self._send(200 if ready else 503, "application/json", body)
                else:
                    self._send(404, "text/plain", b"not found\n")

            def _send(self, status: int, content_type: str, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                log.debug("http %s", format % args)

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="bridge-health", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
