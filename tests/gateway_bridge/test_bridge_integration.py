"""The bridge on the real Mosquitto and InfluxDB: stored exactly once, dead letters, live feed."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import orjson
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from prometheus_client import CollectorRegistry

import decoders
from core.settings import BridgeSettings, InfluxSettings, MqttSettings, build
from firmware_sim.encoders import ENCODERS
from gateway_bridge.service import serve
from leedswin.services import LocalInfluxDB, LocalMosquitto
from tests.conftest import influxql
from tests.gateway_bridge import samples

pytestmark = pytest.mark.integration

MODELS = ("elsys-ers", "milesight-am104", "elsys-ers-co2", "milesight-vs133")
VALUES: dict[str, dict[str, float]] = {
    "elsys-ers": {"temperature": 20.5, "relative_humidity": 48, "battery_voltage": 3.6},
    "milesight-am104": {"temperature": 18.5, "relative_humidity": 71, "battery_percent": 80},
    "elsys-ers-co2": {"temperature": 22.0, "relative_humidity": 40, "co2": 812},
    "milesight-vs133": {"people_in": 12, "people_out": 9},
}


def eui(index: int) -> str:
    return f"a8404100{index:08x}"


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def count(url: str, db: str, query: str) -> dict[str, int]:
    """``{group tag value or "": count}`` of a count() query."""
    result = {}
    for series in influxql(url, db, query):
        key = next(iter(series.get("tags", {}).values()), "")
        result[key] = int(series["values"][0][1])
    return result


class Publisher:
    """A QoS 1 publisher that returns only once the broker has every message."""

    def __init__(self, url: str) -> None:
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        host, port = url.removeprefix("mqtt://").split(":")
        self.client.connect(host, int(port))
        self.client.loop_start()

    def publish_all(self, messages: list[tuple[str, bytes]]) -> None:
        infos = [self.client.publish(topic, payload, qos=1) for topic, payload in messages]
        for info in infos:
            info.wait_for_publish(10)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class Feed:
    """Subscriber to the live feed, public and restricted."""

    def __init__(self, url: str) -> None:
        self.messages: list[tuple[str, dict[str, Any]]] = []
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        self.client.on_message = lambda c, u, m: self.messages.append(
            (m.topic, orjson.loads(m.payload))
        )
        host, port = url.removeprefix("mqtt://").split(":")
        self.client.connect(host, int(port))
        self.client.subscribe("leedswin/v1/#")
        self.client.loop_start()
        time.sleep(0.2)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def running_bridge(
    mosquitto: LocalMosquitto, influxdb: LocalInfluxDB, influx_db: str
) -> Iterator[CollectorRegistry]:
    stop = threading.Event()
    registry = CollectorRegistry()
    mqtt_settings = build(MqttSettings, url=mosquitto.url, client_id=f"it-{uuid.uuid4().hex[:8]}")
    influx = build(InfluxSettings, url=influxdb.url, database=influx_db)
    result: list[bool] = []
    ready = threading.Event()
    thread = threading.Thread(
        target=lambda: result.append(
            serve(mqtt_settings, influx, build(BridgeSettings), stop, registry, ready=ready)
        )
    )
    thread.start()
    assert ready.wait(10), "bridge did not subscribe"
    yield registry
    stop.set()
    thread.join(30)
    assert result == [True]


def build_messages() -> tuple[list[tuple[str, bytes]], dict[str, bytes]]:
    """20 good uplinks in all three formats, 5 duplicates, 3 corrupt, 2 unknown devices, 1 bad."""
    messages: list[tuple[str, bytes]] = []
    good: dict[str, bytes] = {}
    for index in range(20):
        model = MODELS[index % len(MODELS)]
        f_port, payload = ENCODERS[model](VALUES[model])
        dev_eui = eui(index)
        privacy = "public" if index % 2 else "home"
        body = samples.chirpstack_dict(
            payload,
            dev_eui=dev_eui,
            f_port=f_port,
            f_cnt=index,
            profile=model,
            tags={"site": f"site-{index}", "privacy": privacy},
        )
        body["time"] = f"2026-11-23T21:00:{index:02d}.000000123Z"
        topic = samples.topic_chirpstack(dev_eui)
        encoded = samples.chirpstack_protobuf(body) if index % 3 == 1 else orjson.dumps(body)
        if index % 5 == 4:
            tts = samples.tts_dict(payload, f_port=f_port, f_cnt=index)
            tts["end_device_ids"]["dev_eui"] = dev_eui.upper()
            tts["end_device_ids"]["device_id"] = f"dev-{index}"
            tts["received_at"] = body["time"]
            tts["uplink_message"]["version_ids"]["model_id"] = model
            topic, encoded = f"v3/leeds-win/devices/dev-{index}/up", orjson.dumps(tts)
        messages.append((topic, encoded))
        good[dev_eui] = payload
    messages += messages[:5]  # redelivered / repeated
    for index in range(3):
        body = samples.chirpstack_dict(b"\x01", dev_eui=eui(100 + index), profile="elsys-ers")
        messages.append((samples.topic_chirpstack(eui(100 + index)), orjson.dumps(body)))
    for index in range(2):
        body = samples.chirpstack_dict(dev_eui=eui(200 + index), profile="mystery", tags={})
        messages.append((samples.topic_chirpstack(eui(200 + index)), orjson.dumps(body)))
    messages.append((samples.topic_chirpstack(eui(300)), b'{"deviceInfo": '))
    return messages, good


def test_known_set_is_stored_once_with_dead_letters_and_live_feed(
    mosquitto: LocalMosquitto,
    influxdb: LocalInfluxDB,
    influx_db: str,
    running_bridge: CollectorRegistry,
) -> None:
    feed = Feed(mosquitto.url)
    publisher = Publisher(mosquitto.url)
    messages, good = build_messages()
    publisher.publish_all(messages)
    publisher.close()

    def uplinks() -> int:
        return count(influxdb.url, influx_db, 'SELECT count("f_cnt") FROM uplink').get("", 0)

    wait_until(
        lambda: running_bridge.get_sample_value("leedswin_bridge_acked_total") == len(messages),
        30,
        "every message acked",
    )
    assert uplinks() == 20
    dead = count(influxdb.url, influx_db, 'SELECT count("error") FROM dead_letter GROUP BY reason')
    assert dead == {"bad_length": 3, "unknown_device": 2, "bad_event": 1}

    for index in (0, 1, 3, 4):  # JSON, Protobuf, JSON, TTS
        model = MODELS[index % len(MODELS)]
        dev_eui = eui(index)
        expected = decoders.decode(model, ENCODERS[model](VALUES[model])[0], good[dev_eui])
        stored: dict[str, float] = {}
        for measurement in ("climate", "air_quality", "footfall", "uplink"):
            for series in influxql(
                influxdb.url, influx_db, f"SELECT * FROM {measurement} WHERE dev_eui = '{dev_eui}'"
            ):
                row = dict(zip(series["columns"], series["values"][0], strict=True))
                assert row["model"] == model
                assert row["privacy"] == ("public" if index % 2 else "home")
                stored.update({k: v for k, v in row.items() if k in expected})
        assert stored == pytest.approx(expected)

    wait_until(lambda: len(feed.messages) >= 20, 5, "live feed")
    feed.close()
    for topic, body in feed.messages:
        public = body["privacy"] == "public"
        assert topic.startswith("leedswin/v1/readings/") == public
        assert topic.startswith("leedswin/v1/restricted/readings/") != public
    assert len({body["dev_eui"] for _, body in feed.messages}) == 20
    assert running_bridge.get_sample_value("leedswin_bridge_in_flight") == 0
