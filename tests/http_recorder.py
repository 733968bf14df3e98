"""A real local HTTP server standing in for an InfluxDB 2.x/3.x: it records each request
(path, Authorization, JSON body) and answers ``POST /api/v2/delete`` with a chosen status
(204 as 2.x does; 404 as InfluxDB 3, which has no delete API, does) and ``/query`` with an
empty result (the v1-compatibility reads an erasure makes first). ``v2_front`` stands in for a
2.x in front of a real InfluxDB 1.x: reads and writes reach it, deletes are recorded and done."""

from __future__ import annotations

import json
import re
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
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


_PREDICATE_TERM = re.compile(r'\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*')


def _rfc3339_ns(text: str) -> int:
    """``2023-11-14T22:13:20.000000000Z`` (as ``V2Deleter`` sends it) -> epoch ns."""
    stamp, _, fraction = text.rstrip("Z").partition(".")
    seconds = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC).timestamp()
    return int(seconds) * 1_000_000_000 + int((fraction or "0").ljust(9, "0"))


def as_influxql_delete(predicate: str, start: str, stop: str) -> str:
    """A 2.x delete (``k="v" AND …`` over inclusive [start, stop]) as the 1.x InfluxQL ``DELETE``
    that removes the same points: ``_measurement`` becomes ``FROM``, each tag a condition; an
    empty predicate, every point in the range."""
    measurement, conditions = None, []
    terms = list(_PREDICATE_TERM.finditer(predicate))
    # Terms joined by AND, read as InfluxDB's parser does: a quoted value may hold " AND ".
    assert " AND ".join(t[0].strip() for t in terms) == predicate.strip(), predicate
    for match in terms:
        key, value = match[1], re.sub(r"\\(.)", r"\1", match[2])
        if key == "_measurement":
            measurement = value
        else:
            escaped = value.replace("\\", "\\\\").replace("'", "\\'")
            conditions.append(f"\"{key}\" = '{escaped}'")
    conditions += [f"time >= {_rfc3339_ns(start)}", f"time <= {_rfc3339_ns(stop)}"]
    source = f' FROM "{measurement}"' if measurement else ""
    return f"DELETE{source} WHERE " + " AND ".join(conditions)


@contextmanager
def v2_front(upstream: str) -> Iterator[Recording]:
    """A 2.x front for a real InfluxDB 1.x at ``upstream``, recording every request as
    ``recording_influx`` does: ``/query`` passes through (the v1 compatibility endpoint, with
    buckets named as the databases they map to), ``POST /api/v2/write?bucket=B`` is written to
    database B through ``/write``, and ``POST /api/v2/delete?bucket=B`` is answered
    ``delete_status``; a 204 is carried out on database B as the InfluxQL ``DELETE`` of the same
    points (``as_influxql_delete``), so a test reads what a 2.x server would then hold."""
    recording = Recording("")

    class Handler(BaseHTTPRequestHandler):
        def _answer(self, status: int, body: bytes) -> None:
            self.send_response(status)
            if body:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _forward(self, path: str, body: bytes | None) -> None:
            request = urllib.request.Request(upstream + path, data=body)
            if body is not None:
                kind = self.headers.get("Content-Type") or "application/x-www-form-urlencoded"
                request.add_header("Content-Type", kind)
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    self._answer(response.status, response.read())
            except urllib.error.HTTPError as exc:
                self._answer(exc.code, exc.read())

        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            recording.requests.append({"path": self.path, "auth": self.headers["Authorization"]})
            self._forward(self.path, None)

        def do_POST(self) -> None:  # noqa: N802
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            path, _, query = self.path.partition("?")
            params = dict(urllib.parse.parse_qsl(query))
            body: Any = json.loads(raw) if path == "/api/v2/delete" else raw.decode()
            recording.requests.append(
                {"path": self.path, "auth": self.headers["Authorization"], "body": body}
            )
            if path == "/api/v2/write":
                target = urllib.parse.urlencode({"db": params["bucket"], "precision": "ns"})
                self._forward(f"/write?{target}", raw)
            elif path != "/api/v2/delete":
                self._forward(self.path, raw)
            elif recording.delete_status != 204:
                answer = json.dumps(recording.delete_body or {}).encode()
                self._answer(recording.delete_status, answer)
            else:
                q = as_influxql_delete(body["predicate"], body["start"], body["stop"])
                form = urllib.parse.urlencode({"db": params["bucket"], "q": q}).encode()
                with urllib.request.urlopen(f"{upstream}/query", form, timeout=30) as response:
                    result = json.loads(response.read())["results"][0]
                if "error" in result and "not found" not in result["error"]:
                    self._answer(400, json.dumps({"message": result["error"]}).encode())
                else:
                    self._answer(204, b"")

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
