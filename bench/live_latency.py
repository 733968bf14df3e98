"""Live feed latency to a WebSocket client: ``python -m bench.live_latency [--path bridge]``.

Starts a private Mosquitto and InfluxDB (loopback, temp dirs) and the real API under
uvicorn, with one WebSocket client per scope (public, housing) on ``/v1/live/ws``.

- ``--path mqtt`` (default): readings are published on the bridge's live topics at a
  steady rate, one in five on the restricted tree; latency is publish -> receipt.
- ``--path bridge``: the real bridge runs too, and simulated ChirpStack uplinks are
  published; latency is uplink publish -> receipt, i.e. decode, InfluxDB write (the
  bridge republishes only after InfluxDB accepted the reading), MQTT, API fan-out.

The issue's target is under one second. The public client must receive no home reading.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import paho.mqtt.client as mqtt
import typer
import uvicorn
from rich.console import Console
from rich.table import Table
from websockets.sync.client import connect

from api.main import create_app
from core.settings import ApiSettings, BridgeSettings, InfluxSettings, MqttSettings
from firmware_sim.publisher import SimOptions, simulate
from gateway_bridge.service import serve as serve_bridge
from leedswin.services import LocalInfluxDB, LocalMosquitto, free_port
from storage.registry import ApiKeys, Scope, open_registry

app = typer.Typer(add_completion=False)

Key = tuple[str, int]


def _reading(dev_eui: str, privacy: str, seq: int) -> bytes:
    return json.dumps(
        {
            "dev_eui": dev_eui,
            "model": "bench",
            "need": "damp" if privacy == "home" else "air_quality",
            "site": "bench",
            "privacy": privacy,
            "ward": "Headingley",
            "time": "2026-11-23T21:00:00Z",
            "time_ns": 0,
            "f_cnt": seq,
            "values": {"temperature": 20.0},
        }
    ).encode()


def _receive(
    url: str, key: str, got: dict[Key, float], privacy: dict[Key, str], done: threading.Event
) -> None:
    with connect(url, additional_headers={"X-API-Key": key}) as ws:
        while not done.is_set():
            try:
                message = json.loads(ws.recv(timeout=0.2))
            except TimeoutError:
                continue
            key_ = (message["dev_eui"], int(message["f_cnt"]))
            got[key_] = time.perf_counter()
            privacy[key_] = message["privacy"]


@contextmanager
def _api(
    broker: LocalMosquitto, influx: InfluxSettings, root: Path
) -> Iterator[tuple[str, str, str]]:
    """The API on a free port; yields its WebSocket URL and a public and a housing key."""
    api = ApiSettings(registry=root / "registry.sqlite3", rate_limit_per_minute=100_000)
    keys = ApiKeys(open_registry(api.registry))
    public_key = keys.create("bench public", Scope.PUBLIC)[1]
    housing_key = keys.create("bench housing", Scope.HOUSING)[1]
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(api, influx, MqttSettings(url=broker.url)),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            ws="websockets-sansio",
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    try:
        yield f"ws://127.0.0.1:{port}/v1/live/ws", public_key, housing_key
    finally:
        server.should_exit = True
        thread.join(10)


def _mqtt_messages(count: int) -> list[tuple[str, bytes, Key, str]]:
    messages = []
    for seq in range(count):
        home = seq % 5 == 4
        dev_eui, privacy = ("b0000000000000bb", "home") if home else ("a0000000000000aa", "public")
        tree = (
            "leedswin/v1/restricted/readings/damp" if home else "leedswin/v1/readings/air_quality"
        )
        messages.append(
            (f"{tree}/{dev_eui}", _reading(dev_eui, privacy, seq), (dev_eui, seq), privacy)
        )
    return messages


def _uplinks(count: int) -> list[tuple[str, bytes, Key, str]]:
    devices = 20
    options = SimOptions(devices=devices, uplinks=max(1, count // devices), seed=5, interval=60.0)
    messages = []
    for topic, body, kind in simulate(options):
        if kind != "uplink":
            continue
        event = json.loads(body)
        info = event["deviceInfo"]
        key = (info["devEui"], int(event["fCnt"]))
        messages.append((topic, body, key, info.get("tags", {}).get("privacy", "home")))
    return messages


@app.command()
def main(
    path: str = typer.Option(
        "mqtt", help="mqtt: live topics only; bridge: uplinks through the bridge"
    ),
    count: int = typer.Option(1000, help="Messages to publish"),
    rate: float = typer.Option(100.0, help="Messages per second"),
) -> None:
    root = Path(tempfile.mkdtemp(prefix="leedswin-bench-live-"))
    stop = threading.Event()
    with LocalMosquitto() as broker, LocalInfluxDB() as influxdb:
        influx = InfluxSettings(url=influxdb.url, database="bench")
        bridge = None
        if path == "bridge":
            bridge_mqtt = MqttSettings(url=broker.url, client_id="bench-bridge")
            bridge = threading.Thread(
                target=serve_bridge, args=(bridge_mqtt, influx, BridgeSettings(), stop)
            )
            bridge.start()
            messages = _uplinks(count)
        else:
            messages = _mqtt_messages(count)
        with _api(broker, influx, root) as (url, public_key, housing_key):
            public_got: dict[Key, float] = {}
            housing_got: dict[Key, float] = {}
            privacy: dict[Key, str] = {}
            done = threading.Event()
            receivers = [
                threading.Thread(target=_receive, args=(url, public_key, public_got, {}, done)),
                threading.Thread(
                    target=_receive, args=(url, housing_key, housing_got, privacy, done)
                ),
            ]
            for receiver in receivers:
                receiver.start()
            publisher = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-publisher")
            publisher.connect("127.0.0.1", broker.port)
            publisher.loop_start()
            time.sleep(1.0)  # API and bridge subscribed
            sent: dict[Key, float] = {}
            period = 1.0 / rate
            start = time.perf_counter()
            for index, (topic, body, key, _) in enumerate(messages):
                time.sleep(max(0.0, start + index * period - time.perf_counter()))
                sent[key] = time.perf_counter()
                publisher.publish(topic, body, qos=1)
            time.sleep(2.0)
            done.set()
            for receiver in receivers:
                receiver.join()
            publisher.loop_stop()
            publisher.disconnect()
        stop.set()
        if bridge is not None:
            bridge.join(30)

    homes = {m[2] for m in messages if m[3] != "public"}
    table = Table(
        "client", "expected", "received", "p50 ms", "p95 ms", "p99 ms", "max ms", "home leaked"
    )
    for name, got, expected in (
        ("public", public_got, set(sent) - homes),
        ("housing", housing_got, set(sent)),
    ):
        latencies = sorted((got[key] - sent[key]) * 1000 for key in expected if key in got)
        if not latencies:
            table.add_row(name, str(len(expected)), "0", "-", "-", "-", "-", "-")
            continue
        leaked = len(homes & got.keys()) if name == "public" else 0
        table.add_row(
            name,
            str(len(expected)),
            str(len(latencies)),
            f"{statistics.median(latencies):.1f}",
            f"{latencies[int(0.95 * (len(latencies) - 1))]:.1f}",
            f"{latencies[int(0.99 * (len(latencies) - 1))]:.1f}",
            f"{latencies[-1]:.1f}",
            str(leaked),
        )
    Console().print(f"path={path}: {len(messages)} messages at {rate:g}/s")
    Console().print(table)


if __name__ == "__main__":
    app()
