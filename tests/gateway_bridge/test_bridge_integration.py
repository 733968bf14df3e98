"""The bridge on the real Mosquitto and InfluxDB: stored exactly once, dead letters, live feed."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from prometheus_client import CollectorRegistry

import decoders
from core.settings import BridgeSettings, InfluxSettings, MqttSettings, build
from firmware_sim.encoders import ENCODERS
from gateway_bridge.events import parse_time
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


CASES = Path(__file__).parent / "cases"
EVENT_TIME = "2026-11-23T22:00:00Z"


def frame_event(index: int, model: str, f_port: int, hex_: str) -> tuple[str, bytes]:
    body = samples.chirpstack_dict(
        bytes.fromhex(hex_),
        dev_eui=eui(500 + index),
        f_port=f_port,
        f_cnt=index,
        profile=model,
        tags={"site": f"frames-{index}", "privacy": "public"},
    )
    body["time"] = EVENT_TIME
    return samples.topic_chirpstack(eui(500 + index)), orjson.dumps(body)


def case_event(name: str) -> tuple[str, bytes]:
    body = orjson.loads((CASES / f"{name}.json").read_bytes())
    return body["topic"], orjson.dumps(body["event"])


def rows(url: str, db: str, query: str) -> list[dict[str, Any]]:
    out = []
    for series in influxql(url, db, query):
        for values in series["values"]:
            out.append(
                {**series.get("tags", {}), **dict(zip(series["columns"], values, strict=True))}
            )
    return out


def test_history_status_withheld_encrypted_simulated_and_empty_uplinks_land_where_documented(
    mosquitto: LocalMosquitto,
    influxdb: LocalInfluxDB,
    influx_db: str,
    running_bridge: CollectorRegistry,
) -> None:
    """The README's *Where each kind of uplink goes*, on the real broker and database."""
    messages = [
        # LHT65N Ext=9: probe and SHT readings stamped by the sensor's (set) clock.
        frame_event(0, "dragino-lht65n", 2, "0add0b0dc3760967876b00"),
        # Laird RS1xx aggregated readings from a clock that was never set.
        frame_event(1, "laird-rs1xx-temp-rh", 1, "02000000000502000000002134436222354463"),
        # A paxcounter's button: a status frame without readings.
        frame_event(2, "paxcounter", 5, "01"),
        # AM308 readings followed by a record the decoder does not know.
        frame_event(3, "milesight-am308", 85, "01755c03673401046865056a4900"),
        # Laird RS1xx at 98.67 °C on a sensor rated to 85 °C, humidity beside it.
        frame_event(4, "laird-rs1xx-temp-rh", 1, "0100213443620501000001"),
        case_event("chirpstack-v4-encrypted-joinservercontext"),
        case_event("tts-v3-simulated-uplink"),
        case_event("tts-v3-empty-payload-key-omitted"),
    ]
    publisher = Publisher(mosquitto.url)
    publisher.publish_all(messages)
    publisher.close()
    wait_until(
        lambda: running_bridge.get_sample_value("leedswin_bridge_acked_total") == len(messages),
        30,
        "every message acked",
    )
    url, db = influxdb.url, influx_db
    event_ns = parse_time(EVENT_TIME)

    def metric(name: str, **labels: str) -> float:
        return running_bridge.get_sample_value(name, labels) or 0.0

    # One uplink point per accepted uplink, the status-only one included.
    uplinks = count(url, db, 'SELECT count("f_cnt") FROM uplink GROUP BY dev_eui')
    assert uplinks == {eui(500 + i): 1 for i in range(5)}

    # History at the sensor's own time: 2025-01-15T08:00:00Z, not the uplink's.
    (lht,) = rows(url, db, f"SELECT * FROM climate WHERE dev_eui = '{eui(500)}'")
    assert lht["time"] == parse_time("2025-01-15T08:00:00Z")
    assert (lht["temperature"], lht["relative_humidity"]) == (28.29, 88.6)
    assert lht["external_temperature"] == 27.81

    # A clock that was never set (2015 epoch): the newest record at the uplink's time, the
    # spacing kept (aggregated readings one second apart), the raw device time as status.
    laird = rows(url, db, f"SELECT relative_humidity FROM climate WHERE dev_eui = '{eui(501)}'")
    assert [(r["time"], r["relative_humidity"]) for r in laird] == [
        (event_ns - 1_000_000_000, 52.33),
        (event_ns, 53.34),
    ]
    clock = rows(url, db, f"SELECT * FROM device_status WHERE dev_eui = '{eui(501)}'")
    status = {r["item"]: r["value"] for r in clock if r["kind"] == "status"}
    assert status["clock_unset"] == "true" and status["device_time_raw_s"] == "1420070400"

    # Status: no readings, the status items queryable.
    (button,) = rows(url, db, f"SELECT * FROM device_status WHERE dev_eui = '{eui(502)}'")
    assert (button["kind"], button["item"], button["value"]) == ("status", "button", "true")
    assert button["time"] == event_ns and button["privacy"] == "public"
    assert rows(url, db, f"SELECT * FROM footfall WHERE dev_eui = '{eui(502)}'") == []

    # The known AM308 readings survive the unknown record, which is kept by offset and hex.
    (am308,) = rows(url, db, f"SELECT * FROM climate WHERE dev_eui = '{eui(503)}'")
    assert (am308["temperature"], am308["relative_humidity"]) == (30.8, 50.5)
    (unknown,) = rows(url, db, f"SELECT * FROM device_status WHERE dev_eui = '{eui(503)}'")
    assert (unknown["kind"], unknown["item"], unknown["value"]) == ("unknown", "10", "056a4900")

    # Out of range: only the temperature is withheld, with its reason; humidity stored.
    (rs1xx,) = rows(url, db, f"SELECT * FROM climate WHERE dev_eui = '{eui(504)}'")
    assert rs1xx["relative_humidity"] == 52.33 and rs1xx["temperature"] is None
    withheld = rows(
        url, db, f"SELECT * FROM device_status WHERE dev_eui = '{eui(504)}' AND kind = 'withheld'"
    )
    assert [(r["item"], r["number"]) for r in withheld] == [("temperature", 98.67)]
    assert "85" in withheld[0]["note"]

    # Encrypted: never decoded, its own dead letter; the empty payload like "": at the
    # event's time with the device's tags; the simulated uplink nowhere.
    letters = rows(url, db, "SELECT * FROM dead_letter")
    by_reason = {r["reason"]: r for r in letters}
    assert by_reason["encrypted"]["dev_eui"] == "70b3d57ed0000001"
    assert by_reason["encrypted"]["model"] == "paxcounter"
    assert rows(url, db, "SELECT * FROM footfall WHERE dev_eui = '70b3d57ed0000001'") == []
    (empty,) = [r for r in letters if r["dev_eui"] == "a840410000000001"]
    assert empty["reason"] != "bad_event"
    assert empty["time"] == parse_time("2025-01-15T08:00:00.140Z")
    assert (empty["model"], empty["site"], empty["privacy"]) == (
        "dragino-lht65n",
        "briggate",
        "public",
    )
    assert len(letters) == 2
    for measurement in ("climate", "uplink", "device_status", "dead_letter"):
        assert (
            rows(url, db, f"SELECT * FROM {measurement} WHERE dev_eui = 'a840410000000099'") == []
        )

    # The counts.
    assert metric("leedswin_bridge_skipped_total", reason="simulated") == 1
    assert metric("leedswin_bridge_dead_lettered_total", reason="encrypted") == 1
    assert metric("leedswin_bridge_decoded_total") == 5
    assert metric("leedswin_bridge_history_frames_total") == 3
    assert metric("leedswin_bridge_clock_corrections_total") == 1
    assert metric("leedswin_bridge_withheld_total", field="temperature") == 3
    assert metric("leedswin_bridge_unknown_parts_total") == 1
    assert metric("leedswin_bridge_status_uplinks_total") == 3


def test_times_and_tags_influxdb_cannot_store_become_counted_dead_letters(
    mosquitto: LocalMosquitto,
    influxdb: LocalInfluxDB,
    influx_db: str,
    running_bridge: CollectorRegistry,
) -> None:
    """Year 1, year 9999 and a 100 KB site tag: each a stored dead letter, the next uplink stored."""
    f_port, payload = ENCODERS["elsys-ers"](VALUES["elsys-ers"])

    def event(index: int, when: str = EVENT_TIME, site: str = "ok") -> tuple[str, bytes]:
        body = samples.chirpstack_dict(
            payload,
            dev_eui=eui(600 + index),
            f_port=f_port,
            profile="elsys-ers",
            tags={"site": site, "privacy": "public"},
        )
        body["time"] = when
        return samples.topic_chirpstack(eui(600 + index)), orjson.dumps(body)

    broken = [
        event(0, when="0001-01-01T00:00:00Z"),
        event(1, when="9999-12-31T23:59:59Z"),
        event(2, site="s" * 100_000),
    ]
    publisher = Publisher(mosquitto.url)
    for index, message in enumerate(broken):
        publisher.publish_all([message, event(10 + index)])
    publisher.close()
    wait_until(
        lambda: running_bridge.get_sample_value("leedswin_bridge_acked_total") == 6,
        30,
        "every message acked",
    )
    labels = {"reason": "bad_event"}
    assert running_bridge.get_sample_value("leedswin_bridge_dead_lettered_total", labels) == 3
    refused = running_bridge.get_sample_value("leedswin_bridge_dead_letter_refused_total", labels)
    assert not refused
    url, db = influxdb.url, influx_db
    letters = rows(url, db, "SELECT * FROM dead_letter")
    assert len(letters) == 3
    assert {r["reason"] for r in letters} == {"bad_event"}
    assert all(r["privacy"] == "home" and not r.get("site") for r in letters)
    uplinks = count(url, db, 'SELECT count("f_cnt") FROM uplink GROUP BY dev_eui')
    assert uplinks == {eui(610 + i): 1 for i in range(3)}
