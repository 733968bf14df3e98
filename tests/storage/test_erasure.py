"""One device's points in a time range: counted, read and deleted on the real InfluxDB 1.6.7;
the v2 delete API's request shape checked against a local recording HTTP server."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest
from pydantic import SecretStr

from core.settings import InfluxSettings
from leedswin.services import LocalInfluxDB
from storage.erasure import DeviceRange, V2Deleter, count_points, delete_points, measurements
from storage.influx import make_sink
from storage.points import encode, make_point
from storage.query import InfluxQL
from tests.conftest import influxql

DEV = "b000000000000001"
OTHER = "b000000000000002"
S = 1_000_000_000


def _points(dev: str) -> list[Any]:
    tags = {"dev_eui": dev, "model": "m", "site": "h", "privacy": "home", "need": "damp"}
    return [
        make_point(m, tags, {"temperature": 20.0 + i}, (1_700_000_000 + i * 60) * S)
        for m in ("climate", "damp_risk")
        for i in range(10)
    ]


@pytest.mark.integration
def test_delete_removes_the_device_range_only(influxdb: LocalInfluxDB, influx_db: str) -> None:
    settings = InfluxSettings(url=influxdb.url, database=influx_db)
    sink = make_sink(settings)
    sink.ensure_database()
    sink.write(encode(_points(DEV) + _points(OTHER)))
    sink.close()
    span = DeviceRange(DEV, (1_700_000_000 + 3 * 60) * S, (1_700_000_000 + 7 * 60) * S)
    with InfluxQL(settings, include_home=False) as client:
        home = settings.home_db
        assert sorted(measurements(client, home, DEV)) == ["climate", "damp_risk"]
        assert measurements(client, settings.database, DEV) == []
        assert measurements(client, "no_such_db", DEV) == []
        assert count_points(client, home, "climate", span) == 4
        for name in ("climate", "damp_risk"):
            delete_points(client, home, name, span)
            delete_points(client, home, name, span)  # idempotent
        assert count_points(client, home, "climate", span) == 0
    left = influxql(
        influxdb.url, influx_db, f"SELECT temperature FROM climate WHERE dev_eui = '{DEV}'"
    )
    times = [row[0] // S - 1_700_000_000 for row in left[0]["values"]]
    assert times == [0, 60, 120, 420, 480, 540]  # [start, end) gone, the edges kept
    other = influxql(
        influxdb.url,
        influx_db,
        f"SELECT count(temperature) FROM damp_risk WHERE dev_eui = '{OTHER}'",
    )
    assert other[0]["values"][0][1] == 10


def test_device_range_refuses_what_could_not_be_inlined() -> None:
    with pytest.raises(ValueError):
        DeviceRange("b' OR 1=1 --", 0, 1)
    with pytest.raises(ValueError):
        DeviceRange(DEV, 5, 5)


class _Recorder(BaseHTTPRequestHandler):
    requests: list[dict[str, Any]] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.requests.append(
            {
                "path": self.path,
                "auth": self.headers.get("Authorization"),
                "body": json.loads(body),
            }
        )
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def recording_server() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    _Recorder.requests = []
    server = HTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", _Recorder.requests
    finally:
        server.shutdown()
        server.server_close()


def test_v2_delete_request_shape(recording_server: tuple[str, list[dict[str, Any]]]) -> None:
    url, seen = recording_server
    settings = InfluxSettings(
        url=url,
        org="leeds",
        token=SecretStr("tok"),
        bucket="leedswin",
        home_bucket="leedswin_home",
    )
    deleter = V2Deleter(settings)
    deleter.delete(DeviceRange(DEV, 1_700_000_000 * S, 1_700_000_060 * S))
    deleter.close()
    assert [r["path"] for r in seen] == [
        "/api/v2/delete?org=leeds&bucket=leedswin_home",
        "/api/v2/delete?org=leeds&bucket=leedswin",
    ]
    assert all(r["auth"] == "Token tok" for r in seen)
    # The delete API's range is inclusive at both ends: [start, end) ends 1 ns early.
    assert seen[0]["body"] == {
        "start": "2023-11-14T22:13:20.000000000Z",
        "stop": "2023-11-14T22:14:19.999999999Z",
        "predicate": f'dev_eui="{DEV}"',
    }
