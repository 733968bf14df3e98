"""The bridge's acknowledgement logic, against a fake client and writer (no servers here)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import orjson
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.reasoncodes import ReasonCode
from prometheus_client import CollectorRegistry

from core.errors import PermanentSinkError
from core.feed import LiveReading
from core.settings import BridgeSettings, MqttSettings, build
from firmware_sim.encoders import ENCODERS
from gateway_bridge.metrics import BridgeMetrics
from gateway_bridge.pipeline import Pipeline
from gateway_bridge.resolve import Resolver
from gateway_bridge.service import Bridge, _summarise_dead_letters
from storage.points import Point
from tests.gateway_bridge import samples


class FakeClient:
    def __init__(self) -> None:
        self.acks: list[tuple[int, int]] = []
        self.published: list[tuple[str, bytes, int]] = []
        self.subscribed: list[Any] = []
        self.on_connect: Callable[..., None] | None = None
        self.on_disconnect: Callable[..., None] | None = None
        self.on_message: Callable[..., None] | None = None
        self.on_subscribe: Callable[..., None] | None = None
        self.on_publish_batch: Callable[..., None] | None = None

    def ack_many(self, mids: list[int]) -> None:
        self.acks += [(mid, 1) for mid in mids]

    def publish_many(self, messages: list[tuple[str, bytes]]) -> bool:
        self.published += [(topic, payload, 0) for topic, payload in messages]
        return True

    def subscribe(self, topics: Any) -> tuple[int, int]:
        self.subscribed.append(topics)
        assert self.on_subscribe is not None
        granted = [ReasonCode(mqtt.PacketTypes.SUBACK, identifier=1) for _ in topics]
        self.on_subscribe(self, None, 1, granted, None)
        return 0, 1

    def disconnect(self) -> None:
        assert self.on_disconnect is not None
        self.on_disconnect(self, None, None, ReasonCode(mqtt.PacketTypes.DISCONNECT), None)

    def loop_stop(self) -> None:
        pass


Done = Callable[[PermanentSinkError | None], None]


class FakeWriter:
    """Calls back only when told; every call back is a batch of its own, as the real writer's."""

    def __init__(self) -> None:
        self.submissions: list[tuple[list[Point], Done]] = []
        self.batch_end: Callable[[], None] | None = None

    def submit(self, points: list[Point], on_done: Done) -> None:
        self.submissions.append((list(points), on_done))

    def submit_many(self, items: Any) -> None:
        for points, on_done in items:
            self.submit(points, on_done)

    def set_batch_end(self, callback: Callable[[], None] | None) -> None:
        self.batch_end = callback

    def call_back(self, on_done: Done, error: PermanentSinkError | None = None) -> None:
        on_done(error)
        assert self.batch_end is not None
        self.batch_end()

    def flush(self, timeout: float | None = None) -> bool:
        while self.submissions:
            _, on_done = self.submissions.pop(0)
            self.call_back(on_done)
        return True


class Rig:
    def __init__(self, on_stored: Callable[[list[Point]], None] | None = None) -> None:
        self.client = FakeClient()
        self.writer = FakeWriter()
        self.registry = CollectorRegistry()
        self.bridge = Bridge(
            build(MqttSettings, share_group="bridges"),
            build(BridgeSettings),
            Pipeline(Resolver()),
            self.writer,
            BridgeMetrics(self.registry),
            client=self.client,  # type: ignore[arg-type]
            on_stored=on_stored,
        )
        self.connect()

    def connect(self) -> None:
        flags = mqtt.ConnectFlags(session_present=True)
        assert self.client.on_connect is not None
        self.client.on_connect(self.client, None, flags, ReasonCode(mqtt.PacketTypes.CONNACK), None)

    def deliver(self, mid: int, payload: bytes, topic: str = samples.topic_chirpstack()) -> None:
        message = mqtt.MQTTMessage(mid=mid, topic=topic.encode())
        message.payload = payload
        message.qos = 1
        assert self.client.on_message is not None
        self.client.on_message(self.client, None, message)

    def metric(self, name: str, **labels: str) -> float:
        return self.registry.get_sample_value(name, labels) or 0.0


def reading(privacy: str = "public", dev_eui: str = samples.DEV_EUI) -> bytes:
    f_port, payload = ENCODERS["elsys-ers"]({"temperature": 19.5, "relative_humidity": 61})
    tags = {"site": "s1", "privacy": privacy, "ward": "Armley"}
    body = samples.chirpstack_dict(payload, f_port=f_port, dev_eui=dev_eui, tags=tags)
    return samples.chirpstack_json(body)


def test_subscribes_on_every_connect_with_the_share_group() -> None:
    rig = Rig()
    rig.connect()
    assert len(rig.client.subscribed) == 2
    topics = [topic for topic, _ in rig.client.subscribed[0]]
    assert topics == [
        "$share/bridges/application/+/device/+/event/up",
        "$share/bridges/v3/+/devices/+/up",
    ]
    assert all(options.QoS == 1 for _, options in rig.client.subscribed[0])
    assert rig.bridge.wait_connected(0)
    assert rig.metric("leedswin_bridge_connected") == 1


def test_acks_only_after_the_writer_accepted_then_publishes_the_reading() -> None:
    rig = Rig()
    rig.deliver(7, reading())
    assert rig.client.acks == [] and rig.client.published == []
    assert rig.metric("leedswin_bridge_in_flight") == 1
    points, on_done = rig.writer.submissions.pop()
    assert {p.measurement for p in points} == {"climate", "uplink"}
    rig.writer.call_back(on_done)
    assert rig.client.acks == [(7, 1)]
    topic, body, qos = rig.client.published[0]
    assert (topic, qos) == (f"leedswin/v1/readings/damp/{samples.DEV_EUI}", 0)
    feed = orjson.loads(body)
    assert feed == {
        "dev_eui": samples.DEV_EUI,
        "model": "elsys-ers",
        "need": "damp",
        "site": "s1",
        "privacy": "public",
        "ward": "Armley",
        "time": "2026-11-23T21:15:59.123456789Z",
        "time_ns": samples.TIME_NS,
        "f_cnt": 42,
        "values": {"temperature": 19.5, "relative_humidity": 61},
    }
    assert LiveReading.model_validate(feed).model_dump() == feed  # the API's model, field for field
    assert rig.metric("leedswin_bridge_written_total") == 1
    assert rig.metric("leedswin_bridge_acked_total") == 1
    assert rig.metric("leedswin_bridge_in_flight") == 0


@pytest.mark.parametrize("privacy", ["home", "", "unknown"])
def test_home_readings_only_on_the_restricted_tree(privacy: str) -> None:
    rig = Rig()
    rig.deliver(1, reading(privacy))
    rig.writer.flush()
    topic = rig.client.published[0][0]
    assert topic == f"leedswin/v1/restricted/readings/damp/{samples.DEV_EUI}"


def test_dead_letter_is_acked_once_stored_and_counted_by_reason() -> None:
    rig = Rig()
    rig.deliver(3, b"{nonsense")
    (points, on_done), *_ = rig.writer.submissions
    assert [p.measurement for p in points] == ["dead_letter"]
    rig.writer.call_back(on_done)
    assert rig.client.acks == [(3, 1)] and rig.client.published == []
    assert rig.metric("leedswin_bridge_dead_lettered_total", reason="bad_event") == 1


def test_refused_points_become_a_dead_letter_before_the_ack() -> None:
    rig = Rig()
    rig.deliver(4, reading())
    _, on_done = rig.writer.submissions.pop()
    rig.writer.call_back(on_done, PermanentSinkError("field type conflict", 400))
    assert rig.client.acks == []
    points, on_done = rig.writer.submissions.pop()
    assert [p.measurement for p in points] == ["dead_letter"]
    assert dict(points[0].tags)["reason"] == "sink_rejected"
    rig.writer.call_back(on_done)
    assert rig.client.acks == [(4, 1)]
    assert rig.metric("leedswin_bridge_dead_lettered_total", reason="sink_rejected") == 1


def test_refused_dead_letter_is_counted_and_summarised(caplog: pytest.LogCaptureFixture) -> None:
    rig = Rig()
    rig.deliver(5, b"{nonsense")
    _, on_done = rig.writer.submissions.pop()
    rig.writer.call_back(on_done, PermanentSinkError("time outside range", 400))
    assert rig.client.acks == [(5, 1)]
    assert rig.metric("leedswin_bridge_dead_letter_refused_total", reason="bad_event") == 1
    assert rig.metric("leedswin_bridge_dead_lettered_total", reason="bad_event") == 0
    with caplog.at_level(logging.INFO, logger="gateway_bridge.service"):
        _summarise_dead_letters(rig.bridge)
    assert "refused-bad_event:1" in caplog.text


def test_no_ack_on_a_newer_connection() -> None:
    rig = Rig()
    rig.deliver(5, reading())
    assert rig.client.on_disconnect is not None
    rig.client.on_disconnect(rig.client, None, None, ReasonCode(mqtt.PacketTypes.DISCONNECT), None)
    rig.connect()
    rig.writer.flush()
    assert rig.client.acks == []  # the broker redelivers it; rewriting it is idempotent
    assert rig.metric("leedswin_bridge_in_flight") == 0


def test_mac_only_frames_are_acked_without_writing() -> None:
    rig = Rig()
    rig.deliver(6, orjson.dumps(samples.tts_dict(f_port=None)), samples.TOPIC_TTS)
    assert rig.writer.submissions == []
    assert rig.client.acks == [(6, 1)]
    assert rig.metric("leedswin_bridge_skipped_total", reason="no_payload") == 1


def test_stop_drains_what_was_taken_and_leaves_later_messages_unacked() -> None:
    rig = Rig()
    rig.deliver(8, reading())
    rig.bridge.delivery.stop()  # as stop() does first
    rig.deliver(9, reading())
    assert rig.bridge.stop(timeout=2) is True
    assert rig.client.acks == [(8, 1)]
    assert rig.metric("leedswin_bridge_received_total") == 1


def test_acks_go_out_in_receipt_order_for_stored_skipped_and_refused_messages() -> None:
    """MQTT 5 §4.6: PUBACKs in the order the PUBLISH packets arrived, whatever order they resolve."""
    rig = Rig()
    rig.deliver(1, reading())
    rig.deliver(2, orjson.dumps(samples.tts_dict(f_port=None)), samples.TOPIC_TTS)  # skipped
    rig.deliver(3, reading())
    rig.deliver(4, b"{nonsense")  # a dead letter from the start
    assert rig.client.acks == []  # 2 is resolved, but 1 is not
    (_, done1), (_, done3), (_, done4) = rig.writer.submissions
    rig.writer.submissions.clear()
    done1(PermanentSinkError("field type conflict", 400))  # 1 goes back as a dead letter
    done3(None)
    rig.writer.call_back(done4)  # one batch: 1, 3 and 4
    assert rig.client.acks == []  # 1's dead letter is not stored yet
    (_, dead1), *_ = rig.writer.submissions
    rig.writer.call_back(dead1)
    assert rig.client.acks == [(1, 1), (2, 1), (3, 1), (4, 1)]
    assert rig.metric("leedswin_bridge_acked_total") == 4
    assert rig.metric("leedswin_bridge_in_flight") == 0


def test_the_bridge_enforces_its_own_in_flight_bound() -> None:
    """Mosquitto 2.0.11 sends past Receive Maximum: the bridge stops reading at the bound."""
    rig = Rig()
    rig.bridge.delivery.bound = 2
    rig.deliver(1, reading())
    rig.deliver(2, reading())
    third = threading.Thread(target=rig.deliver, args=(3, reading()))
    third.start()
    third.join(0.2)
    assert third.is_alive() and rig.metric("leedswin_bridge_received_total") == 2
    _, done1 = rig.writer.submissions.pop(0)
    rig.writer.call_back(done1)
    third.join(10)
    assert not third.is_alive()
    assert rig.metric("leedswin_bridge_received_total") == 3
    rig.writer.flush()
    assert rig.client.acks == [(1, 1), (2, 1), (3, 1)]


def test_one_socket_read_is_taken_processed_and_submitted_together() -> None:
    rig = Rig()
    assert rig.client.on_publish_batch is not None
    rig.client.on_publish_batch(
        [
            (samples.topic_chirpstack(), reading(), 1, 1),
            (samples.topic_chirpstack(), b"{nonsense", 2, 1),
            (samples.topic_chirpstack(), reading("home"), 3, 1),
        ]
    )
    assert len(rig.writer.submissions) == 3
    assert rig.metric("leedswin_bridge_received_total") == 3
    assert rig.metric("leedswin_bridge_decoded_total") == 2
    (_, done1), (_, done2), (_, done3) = rig.writer.submissions
    done1(None)
    done2(None)
    rig.writer.call_back(done3)  # one batch end for the three
    assert rig.client.acks == [(1, 1), (2, 1), (3, 1)]
    assert [topic.split("/")[2] for topic, _, _ in rig.client.published] == [
        "readings",
        "restricted",
    ]


class Recorder:
    """The on_stored seam's trivial consumer: what it was handed, and what was acked by then."""

    def __init__(self, rig: Callable[[], Rig]) -> None:
        self.rig = rig
        self.calls: list[tuple[list[Point], list[tuple[int, int]]]] = []

    def __call__(self, points: list[Point]) -> None:
        self.calls.append((points, list(self.rig().client.acks)))


def test_on_stored_gets_each_batch_s_stored_points_before_the_acks() -> None:
    rigs: list[Rig] = []
    recorder = Recorder(lambda: rigs[0])
    rig = Rig(on_stored=recorder)
    rigs.append(rig)
    rig.deliver(1, reading())
    rig.deliver(2, b"{nonsense")
    rig.deliver(3, reading())
    (_, done1), (_, done2), (_, done3) = rig.writer.submissions
    rig.writer.submissions.clear()
    done1(None)
    done2(None)
    rig.writer.call_back(done3, PermanentSinkError("field type conflict", 400))
    (points, acked_before), *_ = recorder.calls
    assert acked_before == []  # handed on before any of them is acknowledged
    assert [p.measurement for p in points] == ["climate", "uplink", "dead_letter"]
    assert rig.client.acks == [(1, 1), (2, 1)]  # 3's dead letter is not stored yet
    (dead3,) = [on_done for _, on_done in rig.writer.submissions]
    rig.writer.call_back(dead3)
    assert [p.measurement for p in recorder.calls[1][0]] == ["dead_letter"]  # never 3's refused
    assert rig.client.acks == [(1, 1), (2, 1), (3, 1)]


def test_a_failing_on_stored_is_logged_and_the_messages_still_acked(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(points: list[Point]) -> None:
        raise RuntimeError("state store is down")

    rig = Rig(on_stored=broken)
    rig.deliver(1, reading())
    rig.writer.flush()
    assert rig.client.acks == [(1, 1)]
    assert "on_stored_failed" in caplog.text
