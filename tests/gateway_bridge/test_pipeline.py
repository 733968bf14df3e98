"""One message → the points of the schema (readings, uplink) or one dead letter."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import decoders
from core.errors import DecodeError
from decoders.registry import SPECS
from firmware_sim.encoders import ENCODERS
from firmware_sim.publisher import SimOptions, simulate
from gateway_bridge import pipeline as pipeline_module
from gateway_bridge.events import Uplink, parse_event
from gateway_bridge.pipeline import DeadLettered, Decoded, Pipeline, Skipped, build_points
from gateway_bridge.resolve import Device, Resolver
from storage.points import Point, to_line
from storage.schema import QUANTITY_MEASUREMENT
from tests.gateway_bridge import samples

ERS = {
    "temperature": 21.5,
    "relative_humidity": 55,
    "illuminance": 120,
    "motion": 1,
    "battery_voltage": 3.6,
}


def ers_event(**kwargs: object) -> bytes:
    f_port, payload = ENCODERS["elsys-ers"](ERS)
    return samples.chirpstack_json(samples.chirpstack_dict(payload, f_port=f_port, **kwargs))  # type: ignore[arg-type]


def by_measurement(points: list) -> dict:
    return {point.measurement: point for point in points}


def test_readings_split_by_measurement_and_the_uplink_point() -> None:
    outcome = Pipeline(Resolver()).process(samples.topic_chirpstack(), ers_event())
    assert isinstance(outcome, Decoded) and outcome.need == "damp"
    points = by_measurement(outcome.points)
    assert set(points) == {"climate", "footfall", "uplink"}
    tags = {
        "dev_eui": samples.DEV_EUI,
        "model": "elsys-ers",
        "site": "chapeltown",
        "privacy": "public",
        "need": "damp",
    }
    for point in outcome.points:
        assert dict(point.tags) == tags
        assert point.time_ns == samples.TIME_NS
    assert points["climate"].fields == {
        "temperature": 21.5,
        "relative_humidity": 55.0,
        "illuminance": 120.0,
    }
    assert points["footfall"].fields == {"motion": 1.0}
    assert points["uplink"].fields == {
        "f_cnt": 42,
        "f_port": ENCODERS["elsys-ers"](ERS)[0],
        "gateways": 2,
        "rssi": -88.0,
        "snr": 9.25,
        "battery_voltage": 3.6,
    }
    for point in outcome.points:
        for name, value in point.fields.items():
            assert type(value) is (int if name in ("f_cnt", "f_port", "gateways") else float)
        to_line(point)


def to_points(uplink: Uplink, device: Device) -> list[Point]:
    """Decode an uplink and map it onto the schema, as ``Pipeline.process`` does."""
    decoded = decoders.decode_uplink(device.model, uplink.f_port, uplink.payload)
    return build_points(uplink, device, decoders.get_spec(device.model), decoded).points


def test_non_canonical_extras_go_to_the_measurement_of_the_need() -> None:
    values = {"people_in": 4, "people_out": 2, "period_in": 1, "period_out": 0}
    f_port, payload = ENCODERS["milesight-vs133"](values)
    uplink = parse_event(
        samples.topic_chirpstack(),
        samples.chirpstack_json(samples.chirpstack_dict(payload, f_port=f_port, profile="x")),
    )
    device = Device(samples.DEV_EUI, "milesight-vs133", "briggate", "public", "")
    points = by_measurement(to_points(uplink, device))
    readings = decoders.decode("milesight-vs133", f_port, payload)
    extras = {k for k in readings if k not in QUANTITY_MEASUREMENT}
    assert extras and extras <= set(points["footfall"].fields)
    assert set(points) == {"footfall", "uplink"}


def test_to_points_raises_decode_errors() -> None:
    uplink = parse_event(samples.topic_chirpstack(), ers_event())
    with pytest.raises(DecodeError):
        to_points(uplink, Device(samples.DEV_EUI, "milesight-am104", "", "home", ""))


def test_replayed_event_gives_identical_points() -> None:
    pipeline = Pipeline(Resolver())
    first = pipeline.process(samples.topic_chirpstack(), ers_event(), received_ns=1)
    again = pipeline.process(samples.topic_chirpstack(), ers_event(), received_ns=2)
    assert first.points == again.points


def test_home_privacy_is_the_default() -> None:
    outcome = Pipeline(Resolver()).process(
        samples.topic_chirpstack(), ers_event(tags={"site": "flat-9"})
    )
    assert all(dict(point.tags)["privacy"] == "home" for point in outcome.points)


def dead_letter_of(topic: str, payload: bytes) -> tuple[str, dict]:
    outcome = Pipeline(Resolver()).process(topic, payload, received_ns=123)
    assert isinstance(outcome, DeadLettered)
    assert len(outcome.points) == 1
    point = outcome.points[0]
    assert point.measurement == "dead_letter"
    assert dict(point.tags)["reason"] == outcome.reason
    to_line(point)
    return outcome.reason, {**dict(point.tags), **point.fields, "time_ns": point.time_ns}


def test_bad_event_is_a_dead_letter() -> None:
    reason, point = dead_letter_of(samples.topic_chirpstack(), b'{"broken"')
    assert reason == "bad_event"
    assert point["privacy"] == "home"
    assert point["time_ns"] == 123
    assert point["topic"] == samples.topic_chirpstack()


def test_unknown_device_is_a_dead_letter() -> None:
    payload = samples.chirpstack_json(samples.chirpstack_dict(profile="anything", tags={}))
    reason, point = dead_letter_of(samples.topic_chirpstack(), payload)
    assert reason == "unknown_device"
    assert point["dev_eui"] == samples.DEV_EUI
    assert point["time_ns"] == samples.TIME_NS


def test_unknown_model_is_a_dead_letter_naming_device_f_port_and_payload() -> None:
    payload = samples.chirpstack_json(samples.chirpstack_dict(profile="x", tags={"model": "acme"}))
    reason, point = dead_letter_of(samples.topic_chirpstack(), payload)
    assert reason == "unknown_model"
    assert point["dev_eui"] == samples.DEV_EUI and point["model"] == "acme"
    assert point["f_port"] == 5 and point["payload_hex"] == "0102"
    assert point["error"] == "acme fPort 5 payload 0102: no decoder registered for this model"


@pytest.mark.parametrize(
    ("payload", "f_port", "reason"),
    [
        (b"\x01", 85, "bad_length"),
        (bytes.fromhex("01755a0367d70004686e"), 9, "unsupported_port"),
    ],
)
def test_decode_errors_are_dead_letters(payload: bytes, f_port: int, reason: str) -> None:
    body = samples.chirpstack_dict(payload, f_port=f_port, profile="milesight-am104")
    got, point = dead_letter_of(samples.topic_chirpstack(), samples.chirpstack_json(body))
    assert got == reason
    assert point["model"] == "milesight-am104" and point["need"] == "damp"
    assert point["f_port"] == f_port
    assert point["payload_hex"] == payload.hex()


def test_mac_only_frame_is_skipped_not_dead_lettered() -> None:
    body = samples.tts_dict(f_port=None)
    outcome = Pipeline(Resolver()).process(samples.TOPIC_TTS, orjson.dumps(body))
    assert outcome == Skipped("no_payload") and outcome.points == []


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(sorted(spec.key for spec in SPECS)),
    st.integers(0, 255),
    st.binary(max_size=64),
    st.sampled_from(["public", "home", "", "PUBLIC"]),
)
def test_any_payload_for_any_model_is_points_or_one_dead_letter(
    model: str, f_port: int, payload: bytes, privacy: str
) -> None:
    body = samples.chirpstack_dict(payload, f_port=f_port, profile=model, tags={"privacy": privacy})
    outcome = Pipeline(Resolver()).process(
        samples.topic_chirpstack(), samples.chirpstack_json(body)
    )
    for point in outcome.points:
        to_line(point)
        assert dict(point.tags)["privacy"] == ("public" if privacy == "public" else "home")
    match outcome:
        case Skipped():
            assert f_port == 0 and outcome.points == []
        case DeadLettered():
            assert [p.measurement for p in outcome.points] == ["dead_letter"]
        case Decoded():
            uplinks = [
                p for p in outcome.points if p.measurement == "uplink" and "f_cnt" in p.fields
            ]
            assert len(uplinks) == 1 and uplinks[0].time_ns == samples.TIME_NS
            assert all(p.time_ns > 1_577_836_800 * 10**9 for p in outcome.points)


def _simulated_uplinks() -> list[tuple[str, bytes]]:
    options = SimOptions(devices=2 * len(ENCODERS), uplinks=3, seed=11)
    return [(topic, body) for topic, body, kind in simulate(options) if kind == "uplink"]


def test_the_one_frame_path_builds_what_the_general_path_builds() -> None:
    """Most uplinks take ``_one_frame_now``; it must give the general path's points exactly."""
    resolver = Resolver()
    fast = 0
    for topic, body in _simulated_uplinks():
        uplink = parse_event(topic, body)
        device = resolver.resolve(uplink)
        spec = decoders.get_spec(device.model)
        decoded = decoders.decode_uplink(device.model, uplink.f_port, uplink.payload)
        general = pipeline_module._any_frames(
            uplink, device, spec, decoded, *_tags_and_link(uplink, device, spec)
        )
        assert build_points(uplink, device, spec, decoded) == general
        fast += len(decoded.frames) == 1 and not decoded.status and not decoded.unknown
    assert fast  # the fast path was exercised


def _tags_and_link(
    uplink: Uplink, device: Device, spec: decoders.DecoderSpec
) -> tuple[tuple[tuple[str, str], ...], dict[str, object]]:
    tags = pipeline_module._tag_set(
        device.dev_eui, device.model, device.site, device.privacy, spec.need
    )
    link: dict[str, object] = {
        "f_cnt": uplink.f_cnt,
        "f_port": uplink.f_port,
        "gateways": uplink.gateways,
    }
    if uplink.rssi is not None:
        link["rssi"] = float(uplink.rssi)
    if uplink.snr is not None:
        link["snr"] = float(uplink.snr)
    return tags, link
