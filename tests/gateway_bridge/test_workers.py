"""`leedswin bridge --workers 2`: two sessions on one shared subscription, exact counts, SIGTERM drains both."""

from __future__ import annotations

import os
import signal
import subprocess
import urllib.request
import uuid
from pathlib import Path

import pytest

from core.settings import BridgeSettings, MqttSettings
from gateway_bridge.workers import DEFAULT_SHARE_GROUP, worker_settings
from leedswin.services import (
    BRIDGE_ACCOUNT,
    NETWORK_ACCOUNT,
    LocalInfluxDB,
    LocalMosquitto,
    bridge_accounts,
    free_port,
)
from tests.gateway_bridge.test_bridge_cli import LEEDSWIN, sim, summary, uplink_count, wait_until


def test_worker_settings_give_each_worker_its_own_session_port_and_spool() -> None:
    mqtt = MqttSettings(client_id="bridge")
    bridge = BridgeSettings(metrics_port=9100, spool_dir=Path("/var/spool/leedswin"))
    worker_mqtt, worker_bridge = worker_settings(mqtt, bridge, 2)
    assert worker_mqtt.client_id == "bridge-2"
    assert worker_mqtt.share_group == DEFAULT_SHARE_GROUP
    assert worker_bridge.metrics_port == 9102
    assert worker_bridge.spool_dir == Path("/var/spool/leedswin/worker-2")
    named, _ = worker_settings(mqtt.model_copy(update={"share_group": "g"}), BridgeSettings(), 0)
    assert named.share_group == "g"


def _metric(port: int, name: str) -> float | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=1) as response:
            text = response.read().decode()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def _start(
    mosquitto: LocalMosquitto, influxdb: LocalInfluxDB, db: str, client_id: str, port: int
) -> subprocess.Popen[str]:
    process = subprocess.Popen(
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
            str(port),
            "--workers",
            "2",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    for i in range(2):
        wait_until(
            lambda i=i: _metric(port + i, "leedswin_bridge_connected") == 1,
            60,
            f"worker {i} subscribed",
        )
    return process


@pytest.mark.integration
def test_two_workers_share_the_load_and_sigterm_drains_both(
    mosquitto: LocalMosquitto, influxdb: LocalInfluxDB, influx_db: str
) -> None:
    client_id = f"workers-{uuid.uuid4().hex[:8]}"
    port = free_port()
    bridge = _start(mosquitto, influxdb, influx_db, client_id, port)
    try:
        first = sim(mosquitto, "--devices", "20", "--uplinks", "100", "--seed", "11")
        assert summary(first)["published"] == 2000
        wait_until(lambda: uplink_count(influxdb.url, influx_db) >= 2000, 60, "2,000 uplinks")

        def shares() -> list[float]:
            return [_metric(port + i, "leedswin_bridge_acked_total") or 0 for i in range(2)]

        # Points become visible a moment before their acks are counted: wait for the acks.
        wait_until(lambda: sum(shares()) == 2000, 30, "2,000 acks")
        assert min(shares()) > 0, shares()  # both workers took a share
        # SIGTERM while a second burst is arriving: both drain what they took, exit 0.
        second = sim(mosquitto, "--devices", "20", "--uplinks", "300", "--seed", "12")
        wait_until(lambda: uplink_count(influxdb.url, influx_db) > 2500, 60, "second burst flowing")
        bridge.send_signal(signal.SIGTERM)
        output, _ = bridge.communicate(timeout=90)
        assert bridge.returncode == 0, output
        assert "exitcodes={0: 0, 1: 0}" in output, output
        assert summary(second)["published"] == 6000
        # Same ids again: each session hands back its own queued share; nothing lost or doubled.
        bridge = _start(mosquitto, influxdb, influx_db, client_id, port)
        wait_until(lambda: uplink_count(influxdb.url, influx_db) >= 8000, 60, "all 8,000 uplinks")
        assert uplink_count(influxdb.url, influx_db) == 8000
    finally:
        if bridge.poll() is None:
            bridge.send_signal(signal.SIGTERM)
            bridge.communicate(timeout=90)


def test_worker_accounts_follow_the_bridge_account() -> None:
    mqtt = MqttSettings(client_id="bridge", username="leedswin-bridge", password="pw")
    worker_mqtt, _ = worker_settings(mqtt, BridgeSettings(), 1)
    assert (worker_mqtt.username, worker_mqtt.client_id) == ("leedswin-bridge-1", "bridge-1")
    assert worker_mqtt.password == mqtt.password
    assert "leedswin-bridge-1" in bridge_accounts()


@pytest.mark.integration
def test_workers_on_the_closed_broker_each_keep_their_own_session(
    influxdb: LocalInfluxDB, influx_db: str
) -> None:
    """An account is its client id on the closed broker: two workers on one account would
    take each other's session over and over; each has an account of its own."""
    passwords = dict.fromkeys(bridge_accounts(), "bridge-pw") | {NETWORK_ACCOUNT: "net-pw"}
    with LocalMosquitto(accounts=passwords) as broker:
        port = free_port()
        env = os.environ | {"LEEDSWIN_MQTT_USERNAME": BRIDGE_ACCOUNT}
        env |= {"LEEDSWIN_MQTT_PASSWORD": "bridge-pw"}
        bridge = subprocess.Popen(
            [LEEDSWIN, "bridge", "--mqtt-url", broker.url, "--influx-url", influxdb.url]
            + ["--influx-database", influx_db, "--metrics-port", str(port), "--workers", "2"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        try:
            for i in range(2):
                wait_until(
                    lambda i=i: _metric(port + i, "leedswin_bridge_connected") == 1,
                    60,
                    f"worker {i} subscribed",
                )
            publisher = subprocess.Popen(
                [LEEDSWIN, "sim", "--mqtt-url", broker.url, "--devices", "10", "--uplinks", "50"],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=os.environ
                | {"LEEDSWIN_MQTT_USERNAME": NETWORK_ACCOUNT, "LEEDSWIN_MQTT_PASSWORD": "net-pw"},
            )
            assert summary(publisher)["published"] == 500
            wait_until(lambda: uplink_count(influxdb.url, influx_db) >= 500, 60, "500 uplinks")
            # Acks (and their counter) follow the write; a scrape under load may also fail once.
            wait_until(
                lambda: all(
                    (_metric(port + i, "leedswin_bridge_acked_total") or 0) > 0 for i in range(2)
                ),
                30,
                "both workers acknowledged a share",
            )
        finally:
            bridge.send_signal(signal.SIGTERM)
            output, _ = bridge.communicate(timeout=90)
        assert bridge.returncode == 0, output
        assert "mqtt_disconnected" not in output, output
        assert uplink_count(influxdb.url, influx_db) == 500
