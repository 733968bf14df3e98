"""`leedswin bridge` as a process with `leedswin sim`: the issue's done-criterion and SIGTERM.

Both run the real console scripts on the session's Mosquitto and InfluxDB.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from leedswin.services import LocalInfluxDB, LocalMosquitto, free_port
from tests.conftest import influxql

pytestmark = pytest.mark.integration

LEEDSWIN = str(Path(sys.executable).with_name("leedswin"))


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def uplink_count(url: str, db: str) -> int:
    series = influxql(url, db, 'SELECT count("f_cnt") FROM uplink')
    return int(series[0]["values"][0][1]) if series else 0


class BridgeProcess:
    """One `leedswin bridge` child, stopped by its PID."""

    def __init__(
        self,
        mosquitto: LocalMosquitto,
        influxdb: LocalInfluxDB,
        db: str,
        client_id: str,
        *extra: str,
    ) -> None:
        self.metrics_port = free_port()
        self.process = subprocess.Popen(
            [
                LEEDSWIN,
                "bridge",
                "--mqtt-url",
                mosquitto.url,
                "--influx-url",
                influxdb.url,
                "--influx-database",
                db,
                "--client-id",
                client_id,
                "--metrics-port",
                str(self.metrics_port),
                *extra,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        wait_until(lambda: self.metric("leedswin_bridge_connected") == 1, 20, "bridge subscribed")

    def metric(self, name: str) -> float | None:
        if self.process.poll() is not None:
            raise AssertionError(f"bridge exited early:\n{self.process.communicate()[0]}")
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=1
            ) as response:
                text = response.read().decode()
        except OSError:
            return None
        for line in text.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        return None

    def terminate(self) -> tuple[int, str]:
        self.process.send_signal(signal.SIGTERM)
        output, _ = self.process.communicate(timeout=60)
        return self.process.returncode, output

    def kill(self) -> None:
        """Kill if still running; always reap it and close its pipe (no ResourceWarning later)."""
        if self.process.poll() is None:
            self.process.kill()
        if self.process.stdout is not None and not self.process.stdout.closed:
            self.process.communicate()


@pytest.fixture
def bridge_factory(
    mosquitto: LocalMosquitto, influxdb: LocalInfluxDB, influx_db: str
) -> Iterator[Callable[..., BridgeProcess]]:
    started: list[BridgeProcess] = []

    def start(client_id: str, *extra: str) -> BridgeProcess:
        bridge = BridgeProcess(mosquitto, influxdb, influx_db, client_id, *extra)
        started.append(bridge)
        return bridge

    yield start
    for bridge in started:
        bridge.kill()


def sim(mosquitto: LocalMosquitto, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [LEEDSWIN, "sim", "--mqtt-url", mosquitto.url, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def summary(process: subprocess.Popen[str]) -> dict[str, int]:
    output, errors = process.communicate(timeout=120)
    assert process.returncode == 0, errors
    return dict(json.loads(output.strip().splitlines()[-1]))


def test_done_criterion_1000_uplinks_within_30_s(
    mosquitto: LocalMosquitto,
    influxdb: LocalInfluxDB,
    influx_db: str,
    bridge_factory: Callable[..., BridgeProcess],
) -> None:
    bridge = bridge_factory(f"done-{uuid.uuid4().hex[:8]}")
    started = time.monotonic()
    published = summary(
        sim(mosquitto, "--devices", "50", "--uplinks", "20", "--rate", "0", "--seed", "1")
    )
    assert published["published"] == 1000
    wait_until(
        lambda: uplink_count(influxdb.url, influx_db) >= 1000,
        30 - (time.monotonic() - started),
        "1,000 uplink points",
    )
    assert uplink_count(influxdb.url, influx_db) == 1000
    code, output = bridge.terminate()
    assert code == 0, output


def test_duplicates_collapse_and_bad_messages_are_dead_letters(
    mosquitto: LocalMosquitto,
    influxdb: LocalInfluxDB,
    influx_db: str,
    bridge_factory: Callable[..., BridgeProcess],
) -> None:
    bridge = bridge_factory(f"mix-{uuid.uuid4().hex[:8]}")
    args = ["--devices", "20", "--uplinks", "10", "--seed", "7", "--format", "chirpstack-protobuf"]
    counts = summary(
        sim(mosquitto, *args, "--duplicates", "0.2", "--corrupt", "0.1", "--unknown", "2")
    )
    assert counts["published"] == 200 and counts["duplicates"] == 40
    wait_until(
        lambda: bridge.metric("leedswin_bridge_acked_total") == counts["messages"],
        30,
        "every message acknowledged",
    )
    assert uplink_count(influxdb.url, influx_db) == 200
    dead = {
        series["tags"]["reason"]: int(series["values"][0][1])
        for series in influxql(
            influxdb.url, influx_db, 'SELECT count("error") FROM dead_letter GROUP BY reason'
        )
    }
    unknown = dead.pop("unknown_model", 0) + dead.pop("unknown_device", 0)
    assert unknown == counts["unknown"]
    assert sum(dead.values()) == counts["corrupt"]
    assert set(dead) <= {"bad_length", "bad_header", "unsupported_port"}
    code, output = bridge.terminate()
    assert code == 0, output


def test_sigterm_mid_stream_then_restart_loses_nothing(
    mosquitto: LocalMosquitto,
    influxdb: LocalInfluxDB,
    influx_db: str,
    bridge_factory: Callable[..., BridgeProcess],
) -> None:
    client_id = f"restart-{uuid.uuid4().hex[:8]}"
    bridge = bridge_factory(client_id)
    publisher = sim(
        mosquitto, "--devices", "50", "--uplinks", "60", "--rate", "3000", "--seed", "3"
    )
    wait_until(
        lambda: (bridge.metric("leedswin_bridge_acked_total") or 0) >= 300, 20, "stream flowing"
    )
    code, output = bridge.terminate()
    assert code == 0, output
    assert "drained=True" in output
    stored_at_stop = uplink_count(influxdb.url, influx_db)
    assert 0 < stored_at_stop
    time.sleep(0.3)  # the stream goes on into the broker's session while no bridge runs
    restarted = bridge_factory(client_id)
    counts = summary(publisher)
    assert stored_at_stop < counts["published"] == 3000
    wait_until(
        lambda: uplink_count(influxdb.url, influx_db) >= 3000, 30, "every uplink after restart"
    )
    per_device = influxql(
        influxdb.url, influx_db, 'SELECT count("f_cnt") FROM uplink GROUP BY dev_eui'
    )
    assert len(per_device) == 50
    assert {int(series["values"][0][1]) for series in per_device} == {60}
    code, output = restarted.terminate()
    assert code == 0, output


def test_broker_restart_reconnects_resumes_the_session_and_loses_nothing(
    mosquitto: LocalMosquitto,
    influxdb: LocalInfluxDB,
    influx_db: str,
    bridge_factory: Callable[..., BridgeProcess],
) -> None:
    bridge = bridge_factory(f"brokerfault-{uuid.uuid4().hex[:8]}")
    first = summary(sim(mosquitto, "--devices", "20", "--uplinks", "25", "--seed", "11"))
    mosquitto.restart()  # persistent: the bridge's session and queue survive on disk
    wait_until(lambda: bridge.metric("leedswin_bridge_connected") == 1, 20, "reconnect")
    second = summary(sim(mosquitto, "--devices", "20", "--uplinks", "25", "--seed", "12"))
    total = first["published"] + second["published"]
    wait_until(lambda: uplink_count(influxdb.url, influx_db) >= total, 30, "both runs stored")
    assert uplink_count(influxdb.url, influx_db) == total
    code, output = bridge.terminate()
    assert code == 0, output


def test_influxdb_outage_holds_at_most_max_in_flight_and_loses_nothing(
    mosquitto: LocalMosquitto,
    influxdb: LocalInfluxDB,
    influx_db: str,
    bridge_factory: Callable[..., BridgeProcess],
) -> None:
    bridge = bridge_factory(f"dbfault-{uuid.uuid4().hex[:8]}", "--max-in-flight", "200")
    influxdb.stop()
    try:
        counts = summary(sim(mosquitto, "--devices", "20", "--uplinks", "50", "--seed", "21"))
        wait_until(lambda: bridge.metric("leedswin_bridge_in_flight") == 200, 20, "window full")
        time.sleep(0.5)
        assert bridge.metric("leedswin_bridge_received_total") == 200  # the broker holds the rest
        assert bridge.metric("leedswin_bridge_acked_total") == 0
    finally:
        influxdb.start()
    wait_until(
        lambda: uplink_count(influxdb.url, influx_db) >= counts["published"], 40, "backlog stored"
    )
    assert uplink_count(influxdb.url, influx_db) == counts["published"] == 1000
    code, output = bridge.terminate()
    assert code == 0, output
