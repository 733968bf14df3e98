"""Publishing to the real Mosquitto: every message arrives at a QoS 1 subscriber, and the CLI says so."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import orjson
import paho.mqtt.client as mqtt
import pytest
import typer
from typer.testing import CliRunner

from core.settings import MqttSettings
from firmware_sim.fleet import build_fleet
from firmware_sim.publisher import SimOptions
from firmware_sim.run import run_simulation
from leedswin.commands import sim
from leedswin.services import LocalMosquitto
from storage.devices import load_devices

pytestmark = pytest.mark.integration


class Subscriber:
    """Counts messages of one fleet (by dev_eui) on both uplink topic trees, at QoS 1."""

    def __init__(self, broker: LocalMosquitto, dev_euis: set[str]) -> None:
        self.count = 0
        self.dev_euis = dev_euis
        self.lock = threading.Lock()
        subscribed = threading.Event()
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=f"count-{uuid.uuid4().hex[:8]}"
        )
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *_: subscribed.set()
        self.client.connect("127.0.0.1", broker.port)
        self.client.subscribe([("application/+/device/+/event/up", 1), ("v3/+/devices/+/up", 1)])
        self.client.loop_start()
        assert subscribed.wait(10)

    def _on_message(self, _client: object, _userdata: object, message: mqtt.MQTTMessage) -> None:
        topic = message.topic
        dev_eui = (
            topic.split("/")[3] if topic.startswith("application/") else topic.split("/")[3][4:]
        )
        if dev_eui in self.dev_euis:
            with self.lock:
                self.count += 1

    def wait_for(self, expected: int, timeout: float = 60.0) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.count < expected:
            time.sleep(0.05)
        time.sleep(0.3)  # anything beyond the expected count would show up now
        return self.count

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def seed() -> int:
    return uuid.uuid4().int % 2**31


def _subscriber(broker: LocalMosquitto, seed: int, devices: int, unknown: int) -> Subscriber:
    known, others = build_fleet(seed, devices, unknown=unknown)
    return Subscriber(broker, {d.dev_eui for d in known + others})


@pytest.fixture
def mqtt_settings(mosquitto: LocalMosquitto) -> Iterator[MqttSettings]:
    yield MqttSettings(url=mosquitto.url)


@pytest.mark.parametrize("fmt", ["chirpstack-json", "chirpstack-protobuf", "tts"])
def test_every_message_reaches_a_qos1_subscriber(
    mosquitto: LocalMosquitto, mqtt_settings: MqttSettings, seed: int, fmt: str
) -> None:
    subscriber = _subscriber(mosquitto, seed, 40, 2)
    try:
        options = SimOptions(
            devices=40, uplinks=25, seed=seed, format=fmt, duplicates=0.1, corrupt=0.02, unknown=2
        )  # type: ignore[arg-type]
        result = run_simulation(mqtt_settings, options, max_in_flight=100)
        assert (result.published, result.duplicates, result.corrupt, result.unknown) == (
            1000,
            100,
            20,
            50,
        )
        assert result.messages == 1170
        assert subscriber.wait_for(1170) == 1170
    finally:
        subscriber.close()


def test_endless_live_run_stops_cleanly(
    mosquitto: LocalMosquitto, mqtt_settings: MqttSettings, seed: int
) -> None:
    subscriber = _subscriber(mosquitto, seed, 3, 0)
    stop = threading.Event()
    results = []
    worker = threading.Thread(
        target=lambda: results.append(
            run_simulation(
                mqtt_settings,
                SimOptions(devices=3, uplinks=0, seed=seed, live=True),
                rate=200,
                stop=stop,
            )
        )
    )
    try:
        worker.start()
        time.sleep(0.5)
        stop.set()
        worker.join(10)
        assert not worker.is_alive()
        (result,) = results
        assert 20 < result.published < 200
        assert subscriber.wait_for(result.messages) == result.messages
    finally:
        stop.set()
        subscriber.close()


def test_cli_prints_counts_as_its_last_line(
    mosquitto: LocalMosquitto, seed: int, tmp_path: Path
) -> None:
    app = typer.Typer()
    app.callback()(lambda: None)
    sim.register(app)
    subscriber = _subscriber(mosquitto, seed, 20, 1)
    try:
        args = [
            "sim",
            "--mqtt-url",
            mosquitto.url,
            "--devices",
            "20",
            "--uplinks",
            "10",
            "--seed",
            str(seed),
        ]
        args += ["--duplicates", "0.05", "--corrupt", "0.1", "--unknown", "1", "--rate", "0"]
        args += ["--registry-out", str(tmp_path / "devices.yaml")]
        outcome = CliRunner().invoke(app, args)
        assert outcome.exit_code == 0, outcome.output
        summary = orjson.loads(outcome.stdout.strip().splitlines()[-1])
        assert summary["published"] == 200
        assert (summary["duplicates"], summary["corrupt"], summary["unknown"]) == (10, 20, 10)
        assert summary["messages"] == 240 and summary["seconds"] > 0
        assert subscriber.wait_for(240) == 240
        registry = load_devices(tmp_path / "devices.yaml")
        assert set(registry) == {device.dev_eui for device in build_fleet(seed, 20)[0]}
    finally:
        subscriber.close()


def test_cli_reports_an_unreachable_broker() -> None:
    app = typer.Typer()
    app.callback()(lambda: None)
    sim.register(app)
    outcome = CliRunner().invoke(app, ["sim", "--mqtt-url", "mqtt://127.0.0.1:1", "--devices", "1"])
    assert outcome.exit_code == 2
    assert "cannot reach MQTT broker" in outcome.output


def test_publisher_survives_a_broker_restart(tmp_path: Path, seed: int) -> None:
    with LocalMosquitto(root=tmp_path / "broker") as broker:
        results: list[object] = []
        options = SimOptions(devices=50, uplinks=400, seed=seed)
        worker = threading.Thread(
            target=lambda: results.append(
                run_simulation(MqttSettings(url=broker.url), options, rate=5000)
            )
        )
        worker.start()
        time.sleep(1.0)
        broker.restart()
        worker.join(120)
        assert not worker.is_alive()
        (result,) = results
        assert result.published == 20_000  # type: ignore[attr-defined]


def test_cli_start_makes_runs_repeat_exactly(mosquitto: LocalMosquitto, seed: int) -> None:
    app = typer.Typer()
    app.callback()(lambda: None)
    sim.register(app)
    bodies: list[list[bytes]] = []
    for start in ("2023-11-14T22:13:20Z", "1700000000"):
        received: list[bytes] = []
        subscriber = _subscriber(mosquitto, seed, 3, 0)
        euis = subscriber.dev_euis
        subscriber.client.on_message = lambda _c, _u, m, into=received, euis=euis: (
            into.append(m.payload) if m.topic.split("/")[3] in euis else None
        )
        try:
            args = ["sim", "--mqtt-url", mosquitto.url, "--devices", "3", "--uplinks", "4"]
            outcome = CliRunner().invoke(app, [*args, "--seed", str(seed), "--start", start])
            assert outcome.exit_code == 0, outcome.output
            deadline = time.monotonic() + 10
            while len(received) < 12 and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            subscriber.close()
        bodies.append(received)
    assert len(bodies[0]) == 12 and bodies[0] == bodies[1]
    assert orjson.loads(bodies[0][0])["time"].startswith("2023-11-14T22:")
