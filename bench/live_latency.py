"""Live feed latency, MQTT publish -> WebSocket receipt: ``python -m bench.live_latency``.

Starts a private Mosquitto and InfluxDB (loopback, temp dirs), the real API under
uvicorn, and one WebSocket client per scope (public, housing) subscribed to the feed.
A publisher then sends readings on the bridge's topics at a steady rate, as the bridge
does after InfluxDB accepted an uplink; each carries its sequence number, so receipt
time minus publish time is measured per reading. The target from the issue is under
one second; home readings on the restricted tree are mixed in and must reach only the
housing client.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import typer
import uvicorn
from rich.console import Console
from rich.table import Table
from websockets.sync.client import connect

from api.main import create_app
from core.settings import ApiSettings, InfluxSettings, MqttSettings
from leedswin.services import LocalInfluxDB, LocalMosquitto, free_port
from storage.registry import ApiKeys, Scope, open_registry

app = typer.Typer(add_completion=False)

PUBLIC_EUI = "a0000000000000aa"
HOME_EUI = "b0000000000000bb"


def _reading(dev_eui: str, privacy: str, seq: int) -> bytes:
    return json.dumps(
        {
            "dev_eui": dev_eui,
            "model": "elsys_ers",
            "need": "damp" if privacy == "home" else "air_quality",
            "site": "bench",
            "privacy": privacy,
            "ward": "Headingley",
            "time": "2026-11-23T21:00:00Z",
            "time_ns": 0,
            "f_cnt": seq,
            "values": {"sequence": float(seq)},
        }
    ).encode()


def _receive(url: str, key: str, got: dict[int, float], done: threading.Event) -> None:
    with connect(url, additional_headers={"X-API-Key": key}) as ws:
        while not done.is_set():
            try:
                message = json.loads(ws.recv(timeout=0.2))
            except TimeoutError:
                continue
            got[int(message["values"]["sequence"])] = time.perf_counter()


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


@app.command()
def main(
    count: int = typer.Option(1000, help="Readings to publish"),
    rate: float = typer.Option(100.0, help="Readings per second"),
) -> None:
    root = Path(tempfile.mkdtemp(prefix="leedswin-bench-live-"))
    with LocalMosquitto() as broker, LocalInfluxDB() as influxdb:
        api = ApiSettings(registry=root / "registry.sqlite3", rate_limit_per_minute=100_000)
        keys = ApiKeys(open_registry(api.registry))
        public_key = keys.create("bench public", Scope.PUBLIC)[1]
        housing_key = keys.create("bench housing", Scope.HOUSING)[1]
        port = free_port()
        server = uvicorn.Server(
            uvicorn.Config(
                create_app(api, InfluxSettings(url=influxdb.url), MqttSettings(url=broker.url)),
                host="127.0.0.1",
                port=port,
                log_level="warning",
                ws="websockets-sansio",
            )
        )
        threading.Thread(target=server.run, daemon=True).start()
        while not server.started:
            time.sleep(0.02)
        url = f"ws://127.0.0.1:{port}/v1/live/ws"
        public_got: dict[int, float] = {}
        housing_got: dict[int, float] = {}
        done = threading.Event()
        receivers = [
            threading.Thread(target=_receive, args=(url, public_key, public_got, done)),
            threading.Thread(target=_receive, args=(url, housing_key, housing_got, done)),
        ]
        for receiver in receivers:
            receiver.start()

        publisher = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        publisher.connect("127.0.0.1", broker.port)
        publisher.loop_start()
        # Warm up until both clients are subscribed, then start the clock.
        warm = -1
        while -1 not in public_got or -1 not in housing_got:
            publisher.publish(
                f"leedswin/v1/readings/air_quality/{PUBLIC_EUI}",
                _reading(PUBLIC_EUI, "public", warm),
            )
            time.sleep(0.05)
        sent: dict[int, float] = {}
        period = 1.0 / rate
        start = time.perf_counter()
        for seq in range(count):
            time.sleep(max(0.0, start + seq * period - time.perf_counter()))
            home = seq % 5 == 4
            dev_eui, privacy = (HOME_EUI, "home") if home else (PUBLIC_EUI, "public")
            tree = (
                "leedswin/v1/restricted/readings/damp"
                if home
                else "leedswin/v1/readings/air_quality"
            )
            sent[seq] = time.perf_counter()
            publisher.publish(f"{tree}/{dev_eui}", _reading(dev_eui, privacy, seq))
        time.sleep(1.5)
        done.set()
        for receiver in receivers:
            receiver.join()
        publisher.loop_stop()
        publisher.disconnect()
        server.should_exit = True

    home_seqs = {seq for seq in sent if seq % 5 == 4}
    table = Table(
        "client", "expected", "received", "p50 ms", "p95 ms", "p99 ms", "max ms", "home leaked"
    )
    for name, got, expected in (
        ("public", public_got, set(sent) - home_seqs),
        ("housing", housing_got, set(sent)),
    ):
        latencies = [(got[seq] - sent[seq]) * 1000 for seq in expected if seq in got]
        leaked = len(home_seqs & got.keys()) if name == "public" else 0
        table.add_row(
            name,
            str(len(expected)),
            str(len(latencies)),
            f"{statistics.median(latencies):.1f}",
            f"{_percentile(latencies, 95):.1f}",
            f"{_percentile(latencies, 99):.1f}",
            f"{max(latencies):.1f}",
            str(leaked),
        )
    Console().print(f"{count} readings at {rate:g}/s, 1 in 5 on the restricted tree")
    Console().print(table)


if __name__ == "__main__":
    app()
