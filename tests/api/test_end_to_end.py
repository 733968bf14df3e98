"""Simulator -> MQTT -> bridge -> InfluxDB (+ live topics) -> API, all real: privacy and statistics hold.

The fleet mixes public and home devices. Live readings the bridge republishes reach
WebSocket clients by scope; stored readings are aggregated by InfluxDB and compared with
numpy over the raw points read straight from InfluxDB.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import numpy as np
import pytest
from prometheus_client import CollectorRegistry
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from api.main import create_app
from core.settings import BridgeSettings, MqttSettings, build
from firmware_sim.publisher import SimOptions
from firmware_sim.run import run_simulation
from gateway_bridge.service import serve as serve_bridge
from leedswin.services import LocalInfluxDB, LocalMosquitto
from storage.registry import open_registry
from tests.api.conftest import Keys, make_keys, make_settings, serve
from tests.conftest import influxql

pytestmark = pytest.mark.integration

INTERVAL = 600.0
UPLINKS = 36


@dataclass
class Pipeline:
    client: httpx.Client
    keys: Keys
    influx_url: str
    database: str
    live: dict[str, list[dict]]
    home_euis: frozenset[str]
    public_euis: frozenset[str]


def _wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def _stored(url: str, database: str) -> int:
    try:
        series = influxql(url, database, 'SELECT count("f_cnt") FROM "uplink"')
    except Exception:  # the database appears with the bridge's first write
        return 0
    return int(series[0]["values"][0][1]) if series else 0


def _listen(ws: ClientConnection, into: list[dict], done: threading.Event) -> None:
    while not done.is_set():
        try:
            into.append(json.loads(ws.recv(timeout=0.2)))
        except TimeoutError:
            continue
        except ConnectionClosed:
            return


def _euis(url: str, database: str, privacy: str) -> frozenset[str]:
    """DevEUIs stored with this privacy, from the database the writer routes them to."""
    series = influxql(
        url,
        database if privacy == "public" else f"{database}_home",
        f'SHOW TAG VALUES FROM "uplink" WITH KEY = "dev_eui" WHERE "privacy" = \'{privacy}\'',
    )
    return frozenset(value for _, value in series[0]["values"]) if series else frozenset()


@pytest.fixture(scope="module")
def pipeline(
    tmp_path_factory: pytest.TempPathFactory, mosquitto: LocalMosquitto, influxdb: LocalInfluxDB
) -> Iterator[Pipeline]:
    database = f"e2e_{uuid.uuid4().hex[:10]}"
    api, influx, _ = make_settings(tmp_path_factory.mktemp("e2e"), influxdb, mosquitto, database)
    keys = make_keys(api.registry)
    bridge_mqtt = build(MqttSettings, url=mosquitto.url, client_id=f"e2e-{uuid.uuid4().hex[:8]}")
    stop = threading.Event()
    metrics = CollectorRegistry()
    bridge = threading.Thread(
        target=serve_bridge,
        args=(bridge_mqtt, influx, build(BridgeSettings), stop, metrics),
        kwargs={"state_registry": api.registry},
    )
    bridge.start()
    live: dict[str, list[dict]] = {"public": [], "housing": []}
    done = threading.Event()
    listeners: list[threading.Thread] = []
    try:
        with serve(create_app(api, influx, build(MqttSettings, url=mosquitto.url))) as base:
            with httpx.Client(base_url=base) as client:
                _wait_until(
                    lambda: (
                        metrics.get_sample_value("leedswin_bridge_in_flight") is not None
                        and client.get("/readyz").status_code == 200
                    ),
                    20,
                    "bridge and API",
                )
                with contextlib.ExitStack() as sockets:
                    for scope in live:
                        ws = sockets.enter_context(
                            connect(
                                base.replace("http", "ws") + "/v1/live/ws",
                                additional_headers={"X-API-Key": keys.of(scope)},
                            )
                        )
                        listener = threading.Thread(target=_listen, args=(ws, live[scope], done))
                        listener.start()
                        listeners.append(listener)
                    time.sleep(0.5)  # bridge subscribed
                    publisher = build(
                        MqttSettings, url=mosquitto.url, client_id=f"sim-{uuid.uuid4().hex[:8]}"
                    )
                    options = SimOptions(devices=16, uplinks=UPLINKS, seed=21, interval=INTERVAL)
                    published = run_simulation(publisher, options).published
                    _wait_until(
                        lambda: _stored(influxdb.url, database) >= published, 60, "stored uplinks"
                    )
                    _wait_until(lambda: len(live["housing"]) >= published, 20, "live readings")
                    time.sleep(0.5)
                    done.set()
                    for listener in listeners:
                        listener.join()
                homes = _euis(influxdb.url, database, "home")
                publics = _euis(influxdb.url, database, "public")
                assert homes and publics, "the fleet must mix public and home devices"
                # The bridge commits device state at least once a second after storing.
                state = open_registry(api.registry)
                _wait_until(
                    lambda: (
                        state.execute(
                            "SELECT count(DISTINCT dev_eui) FROM device_state"
                        ).fetchone()[0]
                        >= len(homes | publics)
                    ),
                    10,
                    "device state",
                )
                state.close()
                yield Pipeline(client, keys, influxdb.url, database, live, homes, publics)
    finally:
        done.set()
        stop.set()
        bridge.join(30)


def test_live_feed_by_scope(pipeline: Pipeline) -> None:
    public = {m["dev_eui"] for m in pipeline.live["public"]}
    housing = {m["dev_eui"] for m in pipeline.live["housing"]}
    assert public == pipeline.public_euis
    assert housing == pipeline.public_euis | pipeline.home_euis
    assert all(m["privacy"] == "public" for m in pipeline.live["public"])


@pytest.mark.parametrize("scope", ["public", "housing"])
def test_devices_by_scope(pipeline: Pipeline, scope: str) -> None:
    body = pipeline.client.get("/v1/devices", headers={"X-API-Key": pipeline.keys.of(scope)}).json()
    expected = pipeline.public_euis | (pipeline.home_euis if scope == "housing" else frozenset())
    assert {d["dev_eui"] for d in body["data"]} == expected
    for device in body["data"]:
        assert device["privacy"] == "public" or device["lat"] is None


def test_home_device_is_404_for_a_public_key(pipeline: Pipeline) -> None:
    for dev_eui in pipeline.home_euis:
        response = pipeline.client.get(
            f"/v1/devices/{dev_eui}", headers={"X-API-Key": pipeline.keys.public}
        )
        assert response.status_code == 404


@pytest.mark.parametrize("fn", ["mean", "max", "count", "median"])
def test_site_aggregates_on_simulated_data_match_numpy(pipeline: Pipeline, fn: str) -> None:
    """Daily statistic per site for a public key vs numpy over the raw public points."""
    raw = influxql(
        pipeline.influx_url,
        pipeline.database,
        'SELECT "temperature", "site" FROM "climate" WHERE "privacy" = \'public\'',
    )
    assert raw, "the fleet must have public climate sensors"
    day = 86_400 * 10**9
    buckets: dict[tuple[str, int], list[float]] = {}
    for t, value, site in raw[0]["values"]:
        if value is not None:
            buckets.setdefault((site, t // day * day), []).append(value)
    stat = {"mean": np.mean, "max": np.max, "count": np.size, "median": np.median}[fn]
    now = time.time()
    body = pipeline.client.get(
        "/v1/aggregates",
        headers={"X-API-Key": pipeline.keys.public},
        params={
            "quantity": "temperature",
            "fn": fn,
            "every": "1d",
            "group_by": "site",
            "start": datetime.fromtimestamp(now - 20 * 86400, tz=UTC).isoformat(),
            "end": datetime.fromtimestamp(now + 3600, tz=UTC).isoformat(),
        },
    ).json()
    got = {
        (s["group"], int(datetime.fromisoformat(p["time"]).timestamp()) * 10**9): p["value"]
        for s in body["data"]
        for p in s["data"]
    }
    assert got.keys() == buckets.keys()
    for key, values in buckets.items():
        assert got[key] == pytest.approx(float(stat(np.asarray(values))), rel=1e-9), key
