"""A bridge pointed at an InfluxDB that will never take its writes: refused at start, held while running.

Real InfluxDB 1.6 with authentication on and the users ``storage.provision``
makes. At start-up a wrong password, a database that does not exist (and that
the bridge's WRITE-only user may not create) or a URL that answers as
something other than InfluxDB stops ``leedswin bridge`` with exit status 2 and
InfluxDB's own words. Credentials revoked while running: nothing is
acknowledged, nothing spilled, ``/readyz`` says why, and every message is
stored once the grant is back.
"""

from __future__ import annotations

import logging
import os
import subprocess
import threading
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import orjson
import pytest
from prometheus_client import CollectorRegistry

from core.settings import BridgeSettings, InfluxSettings, MqttSettings
from firmware_sim.publisher import SimOptions
from firmware_sim.run import run_simulation
from gateway_bridge.service import serve
from leedswin.demo import INFLUX_USERS
from leedswin.services import LocalInfluxDB, LocalMosquitto, free_port
from storage.provision import Account, provision
from tests.gateway_bridge.test_bridge_cli import LEEDSWIN, wait_until

pytestmark = pytest.mark.integration

ADMIN = Account("admin", "admin-" + uuid.uuid4().hex)
ACCOUNTS = {
    role: Account(name, f"{name}-{uuid.uuid4().hex}") for role, name in INFLUX_USERS.items()
}
DATABASE = "misconf"


@pytest.fixture(scope="module")
def influxdb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalInfluxDB]:
    with LocalInfluxDB(tmp_path_factory.mktemp("influxd"), auth=True) as server:
        provision(InfluxSettings(url=server.url, database=DATABASE), ADMIN, ACCOUNTS)  # type: ignore[arg-type]
        yield server


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalMosquitto]:
    with LocalMosquitto(tmp_path_factory.mktemp("mosquitto")) as server:
        yield server


def influxql(influxdb: LocalInfluxDB, q: str) -> None:
    response = httpx.post(
        f"{influxdb.url}/query", params={"q": q}, auth=(ADMIN.username, ADMIN.password)
    )
    assert response.status_code == 200 and "error" not in response.text, response.text


def run_bridge(
    broker: LocalMosquitto, influx_url: str, database: str, password: str
) -> tuple[int, str]:
    """`leedswin bridge` as an operator would start it; its exit status and output."""
    env = {
        **os.environ,
        "LEEDSWIN_INFLUX_USERNAME": ACCOUNTS["bridge"].username,
        "LEEDSWIN_INFLUX_PASSWORD": password,
    }
    args = [LEEDSWIN, "bridge", "--mqtt-url", broker.url, "--influx-url", influx_url]
    done = subprocess.run(
        [*args, "--influx-database", database, "--client-id", f"misconf-{uuid.uuid4().hex[:6]}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,  # a hang is the failure this guards against, not a speed claim
    )
    return done.returncode, done.stdout + done.stderr


def test_a_wrong_password_stops_the_bridge_at_start_naming_the_cause(
    broker: LocalMosquitto, influxdb: LocalInfluxDB
) -> None:
    status, output = run_bridge(broker, influxdb.url, DATABASE, "not-the-password")
    assert status == 2, output
    assert "authorization failed" in output and "HTTP 401" in output, output


def test_a_database_the_bridge_may_not_create_stops_it_at_start(
    broker: LocalMosquitto, influxdb: LocalInfluxDB
) -> None:
    status, output = run_bridge(broker, influxdb.url, "no_such_db", ACCOUNTS["bridge"].password)
    assert status == 2, output
    assert "database not found" in output and "HTTP 404" in output, output


def test_a_url_that_is_not_influxdb_stops_the_bridge_at_start(broker: LocalMosquitto) -> None:
    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            body = b"<html>a web server</html>"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _answer

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        status, output = run_bridge(broker, url, DATABASE, "whatever")
    finally:
        server.shutdown()
        server.server_close()
    assert status == 2, output
    assert "not InfluxDB" in output, output


def readyz(port: int) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as response:
            return int(response.status), orjson.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, orjson.loads(exc.read())


def test_revoked_credentials_hold_every_message_unacknowledged_and_unspilled(
    broker: LocalMosquitto,
    influxdb: LocalInfluxDB,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    bridge_user = ACCOUNTS["bridge"]
    influx = InfluxSettings(
        url=influxdb.url,
        database=DATABASE,
        username=bridge_user.username,
        password=bridge_user.password,  # type: ignore[arg-type]
        create_database=False,
        max_retry_delay=0.5,
    )
    port = free_port()
    spool = tmp_path / "spool"
    # spill_after=0: an outage would spill at its first failure; a revocation must not.
    settings = BridgeSettings(metrics_port=port, spool_dir=spool, spill_after=0)
    mqtt_settings = MqttSettings(url=broker.url, client_id=f"revoked-{uuid.uuid4().hex[:6]}")
    sim = MqttSettings(url=broker.url, client_id=f"sim-{uuid.uuid4().hex[:6]}")
    registry, stop, ready = CollectorRegistry(), threading.Event(), threading.Event()
    thread = threading.Thread(
        target=serve,
        args=(mqtt_settings, influx, settings, stop),
        kwargs={"registry": registry, "ready": ready},
    )
    thread.start()

    def acked() -> float:
        return registry.get_sample_value("leedswin_bridge_acked_total") or 0.0

    try:
        assert ready.wait(15)
        first = run_simulation(sim, SimOptions(devices=3, uplinks=2, seed=1)).published
        wait_until(lambda: acked() == first, 20, "the first uplinks acknowledged")
        influxql(influxdb, f'REVOKE ALL ON "{DATABASE}" FROM "{bridge_user.username}"')
        with caplog.at_level(logging.ERROR, logger="storage.batcher"):
            second = run_simulation(sim, SimOptions(devices=3, uplinks=2, seed=2)).published
            wait_until(lambda: readyz(port)[0] == 503, 20, "/readyz 503 once writes are refused")
            status, body = readyz(port)
            assert body["influx_config_ok"] is False and body["influx_reachable"] is True
            assert "not authorized" in str(body["problem"]), body
            assert acked() == first
            assert not registry.get_sample_value("leedswin_storage_spilled_points_total")
            assert any("event=influx_misconfigured" in r.getMessage() for r in caplog.records)
        influxql(influxdb, f'GRANT WRITE ON "{DATABASE}" TO "{bridge_user.username}"')
        wait_until(lambda: acked() == first + second, 30, "every uplink acknowledged after")
        assert readyz(port)[0] == 200
    finally:
        stop.set()
        thread.join(30)
