"""Dead letters: schema, fail-closed privacy, and reading them back from the real influxd."""

from __future__ import annotations

import pytest

from core.errors import EventError, PayloadLengthError
from core.settings import InfluxSettings
from leedswin.services import LocalInfluxDB
from storage.deadletter import MAX_PAYLOAD_BYTES, dead_letter_point, recent_dead_letters
from storage.influx import V1Sink
from storage.points import encode
from storage.query import InfluxQL

T0 = 1_700_000_000_000_000_000


def test_decode_error_dead_letter_follows_the_schema() -> None:
    error = PayloadLengthError("want 11 bytes", model="dragino-lht65n", f_port=2, payload=b"\x01")
    point = dead_letter_point(
        error,
        reason=error.code,
        topic="application/1/device/a8/event/up",
        payload=b"\x01\x02",
        time_ns=T0,
        tags={"dev_eui": "a8", "model": "dragino-lht65n", "privacy": "public", "ward": "x"},
    )
    assert point.measurement == "dead_letter"
    assert dict(point.tags) == {
        "dev_eui": "a8",
        "model": "dragino-lht65n",
        "privacy": "public",
        "reason": "bad_length",
    }
    assert point.fields == {
        "error": str(error),
        "topic": "application/1/device/a8/event/up",
        "payload_hex": "0102",
        "f_port": 2,
    }
    assert point.time_ns == T0


@pytest.mark.parametrize("privacy", [None, "", "Public", "secret"])
def test_unknown_privacy_fails_closed_to_home(privacy: str | None) -> None:
    tags = {"dev_eui": "a8"} | ({"privacy": privacy} if privacy is not None else {})
    point = dead_letter_point(
        "no model", reason="unknown_device", topic="t", payload=b"", time_ns=1, tags=tags
    )
    assert dict(point.tags)["privacy"] == "home"
    assert "f_port" not in point.fields


def test_event_error_with_explicit_port_and_huge_payload() -> None:
    payload = bytes(range(256)) * 100
    error = EventError("not JSON", topic="t", payload=payload)
    point = dead_letter_point(
        error, reason=error.code, topic="t", payload=payload, time_ns=1, tags={}, f_port=85
    )
    assert point.fields["f_port"] == 85
    assert len(str(point.fields["payload_hex"])) == 2 * MAX_PAYLOAD_BYTES
    assert dict(point.tags) == {"privacy": "home", "reason": "bad_event"}


@pytest.mark.integration
def test_recent_dead_letters_hide_home_devices_by_default(
    influxdb: LocalInfluxDB, influx_db: str
) -> None:
    settings = InfluxSettings(url=influxdb.url, database=influx_db)
    points = [
        dead_letter_point(
            "short",
            reason="bad_length",
            topic="t1",
            payload=b"\x01",
            time_ns=T0 + 1,
            tags={"dev_eui": "p1", "privacy": "public"},
            f_port=2,
        ),
        dead_letter_point(
            "flat",
            reason="bad_length",
            topic="t2",
            payload=b"\x02",
            time_ns=T0 + 2,
            tags={"dev_eui": "h1", "privacy": "home"},
        ),
        dead_letter_point(
            "json", reason="bad_event", topic="t3", payload=b"{", time_ns=T0 + 3, tags={}
        ),
        dead_letter_point(
            "range",
            reason="out_of_range",
            topic="t4",
            payload=b"\x04",
            time_ns=T0 + 4,
            tags={"dev_eui": "p2", "privacy": "public"},
        ),
    ]
    sink = V1Sink(settings)
    try:
        sink.ensure_database()
        sink.write(encode(points))
    finally:
        sink.close()
    with InfluxQL(settings) as client:
        public = recent_dead_letters(client, 10)
        assert [(d.tags["dev_eui"], d.reason) for d in public] == [
            ("p2", "out_of_range"),
            ("p1", "bad_length"),
        ]
        assert public[1].f_port == 2 and public[1].payload_hex == "01"
        assert public[1].error == "short" and public[1].topic == "t1"
        assert public[0].f_port is None
        everything = recent_dead_letters(client, 3, include_home=True)
        assert [d.topic for d in everything] == ["t4", "t3", "t2"]
        assert everything[1].tags == {"privacy": "home"}
        only = recent_dead_letters(client, 10, reason="bad_length", include_home=True)
        assert [d.topic for d in only] == ["t2", "t1"]
        assert recent_dead_letters(client, 10, reason="x' OR reason='bad_length") == []
        with pytest.raises(ValueError):
            recent_dead_letters(client, 0)
