"""Frames at their own time, the device-clock check, device status and withheld values.

A fake model (registered only for these tests) returns whatever ``DecodedUplink``
a test gives it for a payload, so the bridge side is tested apart from any
real decoder.
"""

from __future__ import annotations

from collections.abc import Iterator

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

import decoders
from decoders import DecodedUplink, DecoderSpec, FieldSpec, Frame, UnknownPart
from gateway_bridge.frames import CLOCK_AHEAD_NS, CLOCK_FLOOR_NS, place_frames
from gateway_bridge.metrics import BridgeMetrics
from gateway_bridge.pipeline import Decoded, Pipeline
from gateway_bridge.resolve import Resolver
from storage.points import Point, to_line
from storage.schema import DEVICE_STATUS, STATUS_KINDS, STATUS_TAG_KEYS, TAG_KEYS
from tests.gateway_bridge import samples
from tests.gateway_bridge.test_service import Rig

S = 1_000_000_000
T = samples.TIME_NS
FAKE = "test-fake-history"
RESULTS: dict[bytes, DecodedUplink] = {}


def _fake_decode(f_port: int, payload: bytes) -> DecodedUplink:
    return RESULTS[payload]


SPEC = DecoderSpec(
    key=FAKE,
    vendor="Test",
    model="History",
    need="damp",
    f_ports=frozenset({2}),
    fields=(
        FieldSpec("temperature", "°C", -40, 85),
        FieldSpec("relative_humidity", "%", 0, 100),
        FieldSpec("battery_voltage", "V", 0, 5),
    ),
    doc_url="https://example.invalid/manual",
    decode=_fake_decode,
    frame_kinds=frozenset({"readings", "history", "status"}),
)


@pytest.fixture(autouse=True)
def fake_model(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setitem(decoders._BY_KEY, FAKE, SPEC)
    yield
    RESULTS.clear()


def process(result: DecodedUplink, payload: bytes = b"\x01") -> Decoded:
    RESULTS[payload] = result
    body = samples.chirpstack_dict(
        payload, f_port=2, profile="none", tags={"model": FAKE, "site": "s1", "privacy": "home"}
    )
    outcome = Pipeline(Resolver()).process(samples.topic_chirpstack(), orjson.dumps(body))
    assert isinstance(outcome, Decoded), outcome
    for point in outcome.points:
        to_line(point)
    return outcome


def readings(outcome: Decoded, measurement: str = "climate") -> dict[int, dict]:
    return {p.time_ns: p.fields for p in outcome.points if p.measurement == measurement}


def status(outcome: Decoded) -> list[dict]:
    """The device_status points as flat dicts (tags, fields, time)."""
    rows = []
    for point in outcome.points:
        if point.measurement == DEVICE_STATUS:
            rows.append({**dict(point.tags), **point.fields, "time_ns": point.time_ns})
    return rows


def link_points(outcome: Decoded) -> list[Point]:
    return [p for p in outcome.points if p.measurement == "uplink" and "f_cnt" in p.fields]


# -- place_frames ------------------------------------------------------------------------


def test_untimed_aged_and_device_timed_frames() -> None:
    frames = [Frame({}), Frame({}, age_s=90.5), Frame({}, time_ns=T - 3600 * S)]
    placement = place_frames(T, frames)
    assert placement.times == (T, T - 90_500_000_000, T - 3600 * S)
    assert placement.correction is None


@pytest.mark.parametrize(
    ("newest", "cause"),
    [
        (0, "never set"),
        (1_420_070_400 * S, "never set"),  # 2015-01-01, a Laird RS1xx's epoch
        (T + CLOCK_AHEAD_NS + S, "more than 10 minutes ahead"),
    ],
)
def test_an_unbelievable_clock_anchors_the_newest_at_the_uplink_and_keeps_the_spacing(
    newest: int, cause: str
) -> None:
    frames = [Frame({}, time_ns=newest - 7200 * S), Frame({}, time_ns=newest), Frame({})]
    placement = place_frames(T, frames)
    assert placement.times == (T - 7200 * S, T, T)
    assert placement.correction is not None
    assert placement.correction.device_time_ns == newest
    assert placement.correction.shift_ns == T - newest
    assert cause in placement.correction.cause


def test_a_clock_a_little_ahead_is_believed() -> None:
    placement = place_frames(T, [Frame({}, time_ns=T + 120 * S)])
    assert placement.times == (T + 120 * S,) and placement.correction is None


def test_records_from_before_the_clock_was_set_cannot_be_placed() -> None:
    frames = [Frame({}, time_ns=1000 * S), Frame({}, time_ns=T - 60 * S)]
    assert place_frames(T, frames).times == (None, T - 60 * S)


@pytest.mark.parametrize("age", [float("nan"), float("inf"), -2 * 86_400.0, 1e12])
def test_an_age_that_cannot_be_placed(age: float) -> None:
    assert place_frames(T, [Frame({}, age_s=age)]).times == (None,)


@given(
    st.lists(
        st.one_of(
            st.builds(Frame, st.just({})),
            st.builds(Frame, st.just({}), time_ns=st.integers(-(2**63), 2**63)),
            st.builds(Frame, st.just({}), age_s=st.floats(allow_nan=True)),
        ),
        max_size=6,
    )
)
def test_no_frame_is_ever_placed_before_2020_or_after_the_uplink_s_tolerance(frames: list) -> None:
    placement = place_frames(T, frames)
    for time in placement.times:
        assert time is None or CLOCK_FLOOR_NS <= time <= T + CLOCK_AHEAD_NS
    assert place_frames(T, frames) == placement  # a replay places them identically


# -- the pipeline ----------------------------------------------------------------------


def test_history_frames_at_their_own_time_one_uplink_point_live_only_now() -> None:
    outcome = process(
        DecodedUplink(
            frames=(
                Frame({"temperature": 20.0, "relative_humidity": 70.0}, time_ns=T - 7200 * S),
                Frame({"temperature": 21.0, "battery_voltage": 3.0}, age_s=3600),
                Frame({"temperature": 22.0, "battery_voltage": 3.1}),
            )
        )
    )
    assert readings(outcome) == {
        T - 7200 * S: {"temperature": 20.0, "relative_humidity": 70.0},
        T - 3600 * S: {"temperature": 21.0},
        T: {"temperature": 22.0},
    }
    (link,) = link_points(outcome)
    assert link.time_ns == T and link.fields["battery_voltage"] == 3.1
    # A history frame's battery is an uplink point of its own time without link fields.
    assert readings(outcome, "uplink")[T - 3600 * S] == {"battery_voltage": 3.0}
    assert outcome.readings == {"temperature": 22.0, "battery_voltage": 3.1}
    assert outcome.history_frames == 2
    assert status(outcome) == []
    assert not outcome.clock_corrected


def test_a_replayed_history_uplink_gives_identical_points() -> None:
    result = DecodedUplink(frames=(Frame({"temperature": 20.0}, time_ns=5 * S),))
    assert process(result).points == process(result).points


def test_an_unset_clock_is_re_anchored_counted_and_its_raw_time_kept() -> None:
    outcome = process(
        DecodedUplink(
            frames=(
                Frame({"temperature": 20.0}, time_ns=600 * S),
                Frame({"temperature": 21.0}, time_ns=1200 * S),
            )
        )
    )
    assert readings(outcome) == {T - 600 * S: {"temperature": 20.0}, T: {"temperature": 21.0}}
    assert outcome.clock_corrected and outcome.readings == {}
    (clock,) = status(outcome)
    assert (clock["kind"], clock["item"]) == ("clock", "device_time")
    assert clock["value"] == "1970-01-01T00:20:00.000000000Z"
    assert clock["number"] == 1200.0
    assert "never set" in clock["note"] and clock["time_ns"] == T


def test_a_decoder_that_re_anchored_an_unset_clock_itself_is_counted() -> None:
    outcome = process(
        DecodedUplink(
            frames=(Frame({"temperature": 20.0}, age_s=600),),
            status={"clock_unset": True, "device_time_raw_s": 1200},
        )
    )
    assert outcome.clock_corrected
    assert {row["item"]: row["value"] for row in status(outcome)} == {
        "clock_unset": "true",
        "device_time_raw_s": "1200",
    }


def test_a_status_only_uplink_keeps_its_uplink_point_and_its_status() -> None:
    outcome = process(
        DecodedUplink(status={"firmware": "1.2.3", "interval_s": 600, "alarm": False})
    )
    assert [p.measurement for p in outcome.points].count("uplink") == 1
    assert readings(outcome) == {} and outcome.readings == {} and outcome.status
    rows = {row["item"]: row for row in status(outcome)}
    assert rows["firmware"]["value"] == "1.2.3" and "number" not in rows["firmware"]
    assert (rows["interval_s"]["value"], rows["interval_s"]["number"]) == ("600", 600.0)
    assert (rows["alarm"]["value"], rows["alarm"]["number"]) == ("false", 0.0)
    for row in rows.values():
        assert row["kind"] == "status" and row["time_ns"] == T and row["f_port"] == 2
        assert {k: row[k] for k in ("dev_eui", "model", "site", "privacy", "need")} == {
            "dev_eui": samples.DEV_EUI,
            "model": FAKE,
            "site": "s1",
            "privacy": "home",
            "need": "damp",
        }


def test_unknown_parts_are_kept_with_offset_and_hex() -> None:
    outcome = process(
        DecodedUplink(
            frames=(Frame({"temperature": 30.8}),),
            unknown=(UnknownPart(11, "056a4900", "channel 0x05 type 0x6a"),),
        )
    )
    assert readings(outcome) == {T: {"temperature": 30.8}}
    (row,) = status(outcome)
    assert (row["kind"], row["item"], row["value"]) == ("unknown", "11", "056a4900")
    assert row["note"] == "channel 0x05 type 0x6a"
    assert outcome.unknown_parts == 1


def test_an_out_of_range_field_is_withheld_and_the_rest_stored() -> None:
    outcome = process(
        DecodedUplink(frames=(Frame({"temperature": 98.67, "relative_humidity": 55.0}),))
    )
    assert readings(outcome) == {T: {"relative_humidity": 55.0}}
    assert outcome.readings == {"relative_humidity": 55.0}
    (row,) = status(outcome)
    assert (row["kind"], row["item"], row["number"]) == ("withheld", "temperature", 98.67)
    assert row["note"] == "outside the physical range -40..85 °C"
    assert outcome.withheld == ("temperature",)


def test_a_withheld_history_value_is_at_its_frame_time() -> None:
    outcome = process(
        DecodedUplink(frames=(Frame({"temperature": float("nan")}, time_ns=T - 60 * S),))
    )
    (row,) = status(outcome)
    assert row["time_ns"] == T - 60 * S and row["value"] == "nan" and "number" not in row


def test_readings_of_a_frame_that_cannot_be_placed_are_withheld() -> None:
    outcome = process(
        DecodedUplink(
            frames=(
                Frame({"temperature": 19.0}, time_ns=1000 * S),
                Frame({"temperature": 20.0}, time_ns=T - 60 * S),
            )
        )
    )
    assert readings(outcome) == {T - 60 * S: {"temperature": 20.0}}
    (row,) = status(outcome)
    assert (row["kind"], row["item"], row["number"]) == ("withheld", "temperature", 19.0)
    assert "cannot be placed" in row["note"] and "1970-01-01T00:16:40" in row["note"]


def test_device_status_tags_are_the_schema_s() -> None:
    outcome = process(DecodedUplink(status={"firmware": "2"}))
    (point,) = [p for p in outcome.points if p.measurement == DEVICE_STATUS]
    assert {k for k, _ in point.tags} == set(TAG_KEYS) | set(STATUS_TAG_KEYS)
    assert dict(point.tags)["kind"] in STATUS_KINDS


def test_metrics_count_what_an_uplink_carried_without_device_or_privacy_labels() -> None:
    registry = CollectorRegistry()
    metrics = BridgeMetrics(registry)
    outcome = process(
        DecodedUplink(
            frames=(
                Frame({"temperature": 120.0, "relative_humidity": 50.0}, time_ns=600 * S),
                Frame({"temperature": 99.0}, time_ns=1200 * S),
            ),
            status={"firmware": "1"},
            unknown=(UnknownPart(3, "ff"), UnknownPart(7, "ee")),
        )
    )
    metrics.decoded.inc()  # the bridge counts these per batch
    metrics.count_decoded(outcome)

    def value(name: str, **labels: str) -> float:
        return registry.get_sample_value(name, labels) or 0.0

    assert value("leedswin_bridge_decoded_total") == 1
    assert value("leedswin_bridge_history_frames_total") == 2
    assert value("leedswin_bridge_withheld_total", field="temperature") == 2
    assert value("leedswin_bridge_status_uplinks_total") == 1
    assert value("leedswin_bridge_unknown_parts_total") == 2
    assert value("leedswin_bridge_clock_corrections_total") == 1
    labels = {key for metric in registry.collect() for s in metric.samples for key in s.labels}
    assert not labels & {"dev_eui", "privacy", "site", "model"}


def test_the_live_feed_carries_only_readings_at_the_uplink_time() -> None:
    RESULTS[b"\x01"] = DecodedUplink(
        frames=(Frame({"temperature": 20.0}, time_ns=T - 60 * S), Frame({"temperature": 22.0}))
    )
    RESULTS[b"\x02"] = DecodedUplink(frames=(Frame({"temperature": 20.0}, age_s=60),))
    rig = Rig()
    for mid, payload in ((1, b"\x01"), (2, b"\x02")):
        body = samples.chirpstack_dict(
            payload, f_port=2, profile="none", tags={"model": FAKE, "privacy": "public"}
        )
        rig.deliver(mid, orjson.dumps(body))
    rig.writer.flush()
    assert rig.client.acks == [(1, 1), (2, 1)]
    (published,) = rig.client.published
    assert orjson.loads(published[1])["values"] == {"temperature": 22.0}
    assert rig.metric("leedswin_bridge_history_frames_total") == 2
