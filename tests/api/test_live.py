"""Live feed over WebSocket and SSE, fed by the real broker: home readings never reach public keys."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from leedswin.services import LocalMosquitto
from tests.api.conftest import HOME_A, PUBLIC_A, PUBLIC_B, ApiHarness, Dev

pytestmark = pytest.mark.integration


def reading(dev: Dev, value: float) -> dict[str, Any]:
    return {
        "dev_eui": dev.dev_eui,
        "model": dev.model,
        "need": dev.need,
        "site": dev.site,
        "privacy": dev.privacy,
        "ward": "Headingley" if dev.privacy == "home" else "City and Hunslet",
        "time": "2026-11-23T21:00:00Z",
        "time_ns": 1_795_467_600_000_000_000,
        "f_cnt": 1,
        "values": {"temperature": value},
    }


@pytest.fixture
def publisher(mosquitto: LocalMosquitto) -> Iterator[mqtt.Client]:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    client.connect("127.0.0.1", mosquitto.port)
    client.loop_start()
    yield client
    client.loop_stop()
    client.disconnect()


def publish_mix(client: mqtt.Client) -> None:
    """A home reading where it belongs, one mislabelled onto the public tree, and public ones."""
    home = reading(HOME_A, 120.0)
    client.publish(f"leedswin/v1/restricted/readings/damp/{HOME_A.dev_eui}", json.dumps(home))
    client.publish(f"leedswin/v1/readings/damp/{HOME_A.dev_eui}", json.dumps(home))
    unlabelled = reading(HOME_A, 121.0)
    del unlabelled["privacy"]
    client.publish(f"leedswin/v1/readings/damp/{HOME_A.dev_eui}", json.dumps(unlabelled))
    client.publish("leedswin/v1/readings/air_quality/x", b"not json")
    for dev in (PUBLIC_A, PUBLIC_B):
        client.publish(
            f"leedswin/v1/readings/{dev.need}/{dev.dev_eui}", json.dumps(reading(dev, 12.5))
        )


def wait_ready(api: ApiHarness) -> None:
    deadline = time.monotonic() + 10
    while api.client.get("/readyz").status_code != 200:
        assert time.monotonic() < deadline, "API never got ready (MQTT, InfluxDB)"
        time.sleep(0.05)


def ws_url(api: ApiHarness, query: str = "") -> str:
    return str(api.client.base_url).replace("http://", "ws://") + "/v1/live/ws" + query


def collect(ws: ClientConnection, publisher: mqtt.Client, seconds: float = 1.5) -> list[dict]:
    """Publish the mix until something arrives, then gather everything for ``seconds``."""
    got: list[dict] = []
    deadline = time.monotonic() + 10
    while not got and time.monotonic() < deadline:
        publish_mix(publisher)
        try:
            got.append(json.loads(ws.recv(timeout=0.3)))
        except TimeoutError:
            continue
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            got.append(json.loads(ws.recv(timeout=max(0.01, end - time.monotonic()))))
        except TimeoutError:
            break
    assert got, "no live reading arrived"
    return got


def test_public_key_gets_public_readings_only(api: ApiHarness, publisher: mqtt.Client) -> None:
    wait_ready(api)
    with connect(ws_url(api), additional_headers={"X-API-Key": api.keys.public}) as ws:
        got = collect(ws, publisher)
    assert {m["dev_eui"] for m in got} == {PUBLIC_A.dev_eui, PUBLIC_B.dev_eui}
    assert all(m["privacy"] == "public" and m["values"]["temperature"] < 100 for m in got)


def test_housing_key_gets_home_readings_too(api: ApiHarness, publisher: mqtt.Client) -> None:
    wait_ready(api)
    with connect(ws_url(api, f"?api_key={api.keys.housing}&need=damp")) as ws:
        got = collect(ws, publisher)
    assert {m["dev_eui"] for m in got} == {HOME_A.dev_eui}
    assert {m["privacy"] for m in got} == {"home"}
    assert all("lat" not in m and "lon" not in m for m in got)


def test_filter_by_device(api: ApiHarness, publisher: mqtt.Client) -> None:
    wait_ready(api)
    query = f"?api_key={api.keys.admin}&dev_eui={PUBLIC_B.dev_eui}"
    with connect(ws_url(api, query)) as ws:
        got = collect(ws, publisher)
    assert {m["dev_eui"] for m in got} == {PUBLIC_B.dev_eui}


@pytest.mark.parametrize("query", ["", "?api_key=lw_bad_key"])
def test_websocket_without_a_valid_key_is_closed_4401(api: ApiHarness, query: str) -> None:
    with connect(ws_url(api, query)) as ws, pytest.raises(ConnectionClosed) as closed:
        ws.recv(timeout=5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401


def test_sse_streams_public_readings_only(api: ApiHarness, publisher: mqtt.Client) -> None:
    wait_ready(api)
    events: list[dict] = []
    done = threading.Event()

    def keep_publishing() -> None:
        while not done.wait(0.2):
            publish_mix(publisher)

    feeder = threading.Thread(target=keep_publishing, daemon=True)
    feeder.start()
    try:
        with api.client.stream(
            "GET", "/v1/live/sse", headers={"X-API-Key": api.keys.public}, timeout=10
        ) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            for line in response.iter_lines():
                if line.startswith("data: "):
                    events.append(json.loads(line.removeprefix("data: ")))
                if len(events) >= 6:
                    break
    finally:
        done.set()
        feeder.join()
    assert {e["dev_eui"] for e in events} <= {PUBLIC_A.dev_eui, PUBLIC_B.dev_eui}
    assert all(e["privacy"] == "public" for e in events)
