"""A real local HTTP server standing in for an InfluxDB 2.x/3.x: it records each request
(path, Authorization, JSON body) and answers ``POST /api/v2/delete`` with a chosen status
(204 as 2.x does; 404 as InfluxDB 3, which has no delete API, does) and ``/query`` with an
empty result (the v1-compatibility reads an erasure makes first)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

EMPTY_RESULT = b'{"results":[{"statement_id":0}]}'


@dataclass
class Recording:
    url: str
    requests: list[dict[str, Any]] = field(default_factory=list)
    #: Status of ``POST /api/v2/delete``, and its JSON body when not 204.
    delete_status: int = 204
    delete_body: dict[str, Any] | None = None

    def deletes(self) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["path"].startswith("/api/v2/delete")]


@contextmanager
def recording_influx() -> Iterator[Recording]:
    recording = Recording("")

    class Handler(BaseHTTPRequestHandler):
        def _answer(self, status: int, body: bytes) -> None:
            self.send_response(status)
            if body:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            recording.requests.append({"path": self.path, "auth": self.headers["Authorization"]})
            self._answer(200, EMPTY_RESULT)

        def do_POST(self) -> None:  # noqa: N802
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            body: Any = json.loads(raw) if self.path.startswith("/api/") else raw.decode()
            recording.requests.append(
                {"path": self.path, "auth": self.headers["Authorization"], "body": body}
            )
            if not self.path.startswith("/api/v2/delete"):
                self._answer(200, EMPTY_RESULT)
            elif recording.delete_status == 204:
                self._answer(204, b"")
            else:
                answer = json.dumps(recording.delete_body or {}).encode()
                self._answer(recording.delete_status, answer)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    recording.url = f"http://127.0.0.1:{server.server_port}"
    try:
        yield recording
    finally:
        server.shutdown()
        server.server_close()
