"""Parsing ChirpStack v4 (JSON, Protobuf) and The Things Stack v3 uplinks; EventError for the rest.

Sources: ChirpStack v4 ``integration.UplinkEvent`` (chirpstack/chirpstack
``api/proto/integration/integration.proto``; https://www.chirpstack.io/docs/chirpstack/integrations/events.html)
and The Things Stack ``ApplicationUp`` (TheThingsNetwork/lorawan-stack
``api/ttn/lorawan/v3/messages.proto``; https://www.thethingsindustries.com/docs/integrations/data-formats/);
what the bridge relies on is in docs/uplink-events.md.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.errors import EventError
from gateway_bridge import events
from gateway_bridge.events import (
    SOURCE_CHIRPSTACK_JSON,
    SOURCE_CHIRPSTACK_PROTOBUF,
    SOURCE_TTS,
    NoPayloadError,
    format_time,
    parse_event,
    parse_time,
)
from tests.gateway_bridge import samples

PAYLOAD = bytes.fromhex("0100e202290400270506060308070d62")


@pytest.mark.parametrize(
    ("encode", "source"),
    [
        (samples.chirpstack_json, SOURCE_CHIRPSTACK_JSON),
        (samples.chirpstack_protobuf, SOURCE_CHIRPSTACK_PROTOBUF),
    ],
)
def test_chirpstack_json_and_protobuf_agree(encode: Any, source: str) -> None:
    body = samples.chirpstack_dict(PAYLOAD)
    uplink = parse_event(samples.topic_chirpstack(), encode(body))
    assert uplink.source == source
    assert uplink.dev_eui == samples.DEV_EUI
    assert uplink.time_ns == samples.TIME_NS
    assert (uplink.f_port, uplink.f_cnt, uplink.payload) == (5, 42, PAYLOAD)
    assert uplink.device_profile == "elsys-ers"
    assert uplink.tags == {"site": "chapeltown", "privacy": "public", "ward": "Chapel Allerton"}
    assert (uplink.rssi, uplink.snr, uplink.gateways) == (-88.0, 9.25, 2)
    assert uplink.dedup_id == "3f1c2a4e-8b7d-4e2a-9c1f-5a6b7c8d9e0f"
    assert uplink.dev_addr == "0072b3c4"
    assert uplink.application_id == samples.APP


def test_json_with_leading_whitespace_is_json() -> None:
    uplink = parse_event(samples.topic_chirpstack(), b"  \n" + samples.chirpstack_json())
    assert uplink.source == SOURCE_CHIRPSTACK_JSON


@pytest.mark.parametrize("encode", [samples.chirpstack_json, samples.chirpstack_protobuf])
def test_time_falls_back_to_gateway_time_then_receive_time(encode: Any) -> None:
    body = samples.chirpstack_dict()
    del body["time"]
    gw = parse_event(samples.topic_chirpstack(), encode(body), received_ns=7)
    assert gw.time_ns == parse_time("2026-11-23T21:15:59.120000+00:00")
    body["rxInfo"] = []
    assert parse_event(samples.topic_chirpstack(), encode(body), received_ns=7).time_ns == 7


def test_tts_uplink() -> None:
    uplink = parse_event(samples.TOPIC_TTS, orjson.dumps(samples.tts_dict(PAYLOAD)))
    assert uplink.source == SOURCE_TTS
    assert uplink.dev_eui == samples.DEV_EUI
    assert uplink.time_ns == samples.TIME_NS
    assert (uplink.f_port, uplink.f_cnt, uplink.payload) == (5, 42, PAYLOAD)
    assert (uplink.rssi, uplink.snr, uplink.gateways) == (-101.0, 4.2, 1)
    assert uplink.device_profile == "ers"
    assert uplink.application_id == "leeds-win"


def test_tts_leaves_out_zero_f_cnt() -> None:
    uplink = parse_event(samples.TOPIC_TTS, orjson.dumps(samples.tts_dict(f_cnt=None)))
    assert uplink.f_cnt == 0


@pytest.mark.parametrize(
    "body",
    [
        samples.tts_dict(f_port=None),
        samples.tts_dict(f_port=0),
    ],
)
def test_mac_only_tts_frames_are_skipped(body: dict[str, Any]) -> None:
    with pytest.raises(NoPayloadError):
        parse_event(samples.TOPIC_TTS, orjson.dumps(body))


@pytest.mark.parametrize("encode", [samples.chirpstack_json, samples.chirpstack_protobuf])
def test_chirpstack_f_port_zero_is_skipped(encode: Any) -> None:
    body = samples.chirpstack_dict(f_port=0)
    del body["data"]
    with pytest.raises(NoPayloadError) as info:
        parse_event(samples.topic_chirpstack(), encode(body))
    assert info.value.code == "no_payload"


def _without(key: str) -> dict[str, Any]:
    body = samples.chirpstack_dict()
    del body[key]
    return body


def _with(**changes: Any) -> dict[str, Any]:
    body = samples.chirpstack_dict()
    body.update(changes)
    return body


def _tts_without_payload() -> dict[str, Any]:
    body = samples.tts_dict()
    del body["uplink_message"]["frm_payload"]
    return body


MALFORMED_JSON = {
    "bad json": b'{"deviceInfo": {',
    "not an object": b"[1, 2]",
    "missing deviceInfo": orjson.dumps(_without("deviceInfo")),
    "bad base64": orjson.dumps(_with(data="not base64!!")),
    "fPort too big": orjson.dumps(_with(fPort=300)),
    "fPort a float": orjson.dumps(_with(fPort=2.5)),
    "negative fCnt": orjson.dumps(_with(fCnt=-1)),
    "bad time": orjson.dumps(_with(time="yesterday")),
    "other device": orjson.dumps(samples.chirpstack_dict(dev_eui="0000000000000001")),
    "eui not hex": orjson.dumps(samples.chirpstack_dict(dev_eui="zz00000000000001")),
    "rxInfo not a list": orjson.dumps(_with(rxInfo=7)),
}


@pytest.mark.parametrize("payload", MALFORMED_JSON.values(), ids=MALFORMED_JSON.keys())
def test_malformed_chirpstack_json(payload: bytes) -> None:
    with pytest.raises(EventError) as info:
        parse_event(samples.topic_chirpstack(), payload)
    assert type(info.value) is EventError
    assert info.value.code == "bad_event"
    assert info.value.topic == samples.topic_chirpstack()
    assert info.value.payload == payload


def test_truncated_protobuf() -> None:
    payload = samples.chirpstack_protobuf()
    with pytest.raises(EventError, match="Protobuf"):
        parse_event(samples.topic_chirpstack(), payload[: len(payload) // 2])


@pytest.mark.parametrize(
    ("topic", "with_empty", "omitted"),
    [
        (
            samples.topic_chirpstack(),
            samples.chirpstack_json(samples.chirpstack_dict(b"")),
            samples.chirpstack_json(_without("data")),
        ),
        (
            samples.topic_chirpstack(),
            samples.chirpstack_json(samples.chirpstack_dict(b"")),
            samples.chirpstack_json(_with(data=None)),
        ),
        (
            samples.topic_chirpstack(),
            samples.chirpstack_protobuf(samples.chirpstack_dict(b"")),
            samples.chirpstack_protobuf(_without("data")),
        ),
        (
            samples.TOPIC_TTS,
            orjson.dumps(samples.tts_dict(b"")),
            orjson.dumps(_tts_without_payload()),
        ),
    ],
    ids=["chirpstack-json", "chirpstack-json-null", "chirpstack-protobuf", "tts"],
)
def test_an_omitted_empty_payload_is_an_empty_payload(
    topic: str, with_empty: bytes, omitted: bytes
) -> None:
    """TTS, older ChirpStack and every Protobuf event leave an empty payload out."""
    expected = parse_event(topic, with_empty, received_ns=1)
    uplink = parse_event(topic, omitted, received_ns=2)
    assert uplink == expected
    assert uplink.payload == b"" and uplink.time_ns == samples.TIME_NS


@pytest.mark.parametrize("encode", [samples.chirpstack_json, samples.chirpstack_protobuf])
def test_chirpstack_join_server_context_marks_the_payload_encrypted(encode: Any) -> None:
    body = _with(joinServerContext={"sessionKeyId": "01e2f3a4", "appSKey": {"kekLabel": "js"}})
    assert "joinServerContext" in parse_event(samples.topic_chirpstack(), encode(body)).encrypted
    assert parse_event(samples.topic_chirpstack(), encode(_with())).encrypted == ""
    assert (
        parse_event(samples.topic_chirpstack(), encode(_with(joinServerContext=None))).encrypted
        == ""
    )


def test_tts_app_s_key_marks_the_payload_encrypted() -> None:
    body = samples.tts_dict(PAYLOAD)
    body["uplink_message"]["app_s_key"] = {"kek_label": "as", "encrypted_key": "AAAA"}
    assert "app_s_key" in parse_event(samples.TOPIC_TTS, orjson.dumps(body)).encrypted
    assert parse_event(samples.TOPIC_TTS, orjson.dumps(samples.tts_dict())).encrypted == ""


def test_tts_simulated_flag() -> None:
    body = samples.tts_dict(PAYLOAD)
    assert parse_event(samples.TOPIC_TTS, orjson.dumps(body)).simulated is False
    body["simulated"] = True
    assert parse_event(samples.TOPIC_TTS, orjson.dumps(body)).simulated is True


@pytest.mark.parametrize(
    "topic",
    [
        "application/x/device/a84041000181c061/event/join",
        "v3/leeds-win/devices/ers-chapeltown-01/down/push",
        "leedswin/v1/readings/damp/a84041000181c061",
        "",
    ],
)
def test_other_topics_are_refused(topic: str) -> None:
    with pytest.raises(EventError):
        parse_event(topic, samples.chirpstack_json())


def test_tts_device_must_match_topic() -> None:
    with pytest.raises(EventError, match="does not match topic"):
        parse_event("v3/leeds-win/devices/someone-else/up", orjson.dumps(samples.tts_dict()))


def test_rfc3339_keeps_nanoseconds_and_offsets() -> None:
    assert parse_time("1970-01-01T00:00:00Z") == 0
    assert parse_time("1970-01-01T01:00:00.000000001+01:00") == 1
    assert parse_time("2026-11-23T21:15:59.5Z") == 1795468559_500000000
    assert format_time(samples.TIME_NS) == "2026-11-23T21:15:59.123456789Z"
    assert parse_time(format_time(samples.TIME_NS)) == samples.TIME_NS


@given(
    st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(2200, 1, 1)),
    st.integers(-23 * 60 - 59, 23 * 60 + 59),
    st.integers(0, 999_999_999),
)
def test_rfc3339_agrees_with_datetime(moment: datetime, offset: int, nanos: int) -> None:
    """The cached day/offset arithmetic gives what datetime gives, for any date and offset."""
    zone = timezone(timedelta(minutes=offset))
    local = moment.replace(microsecond=0, tzinfo=zone)
    text = local.isoformat().replace("+00:00", "Z") if offset == 0 else local.isoformat()
    text = text[:19] + f".{nanos:09d}" + text[19:]
    expected = int(local.timestamp()) * 1_000_000_000 + nanos
    assert parse_time(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-23T24:00:00Z",
        "2026-11-23T21:60:00Z",
        "2026-11-23T21:15:60Z",
        "2026-02-30T00:00:00Z",
        "2026-11-23T21:15:59+24:00",
    ],
)
def test_rfc3339_out_of_range_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_time(text)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=20,
)
CHIRPSTACK_KEYS = list(samples.chirpstack_dict())


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=300), st.sampled_from([samples.topic_chirpstack(), samples.TOPIC_TTS]))
def test_arbitrary_bytes_raise_only_event_error(payload: bytes, topic: str) -> None:
    try:
        parse_event(topic, payload)
    except EventError:
        pass


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.sampled_from(CHIRPSTACK_KEYS), json_values), st.data())
def test_json_ish_chirpstack_events_raise_only_event_error(
    changes: dict[str, Any], data: Any
) -> None:
    body = samples.chirpstack_dict()
    body.update(changes)
    if data.draw(st.booleans()):
        body["deviceInfo"] = data.draw(st.dictionaries(st.text(max_size=12), json_values))
    try:
        payload = orjson.dumps(body)
    except TypeError:
        return
    try:
        parse_event(samples.topic_chirpstack(), payload)
    except EventError:
        pass


@settings(max_examples=150, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["f_port", "f_cnt", "frm_payload", "rx_metadata", "received_at"]),
        json_values,
    ),
    st.dictionaries(st.sampled_from(["dev_eui", "device_id", "application_ids"]), json_values),
)
def test_json_ish_tts_events_raise_only_event_error(
    message: dict[str, Any], ids: dict[str, Any]
) -> None:
    body = samples.tts_dict()
    body["uplink_message"].update(message)
    body["end_device_ids"].update(ids)
    try:
        payload = orjson.dumps(body)
    except TypeError:
        return
    try:
        parse_event(samples.TOPIC_TTS, payload)
    except EventError:
        pass


# Times InfluxDB cannot store (its range is 1677-09-21 .. 2262-04-11) or that cannot be true.
IMPOSSIBLE_TIMES = [
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59Z",
    "1677-09-21T00:12:43Z",
    "1999-12-31T23:59:59Z",
    "2262-04-11T23:47:16Z",
]


@pytest.mark.parametrize("encode", [samples.chirpstack_json, samples.chirpstack_protobuf])
@pytest.mark.parametrize("when", IMPOSSIBLE_TIMES)
def test_event_time_outside_believable_range_is_bad_event(encode: Any, when: str) -> None:
    body = samples.chirpstack_dict(PAYLOAD)
    body["time"] = when
    with pytest.raises(EventError, match="outside 2000-01-01") as caught:
        parse_event(samples.topic_chirpstack(), encode(body), received_ns=1)
    assert caught.value.code == "bad_event"


def test_event_time_more_than_a_day_ahead_is_bad_event() -> None:
    body = samples.chirpstack_dict(PAYLOAD)
    body["time"] = format_time(int((datetime.now(UTC) + timedelta(days=2)).timestamp()) * 10**9)
    with pytest.raises(EventError, match="outside"):
        parse_event(samples.topic_chirpstack(), samples.chirpstack_json(body))
    body["time"] = format_time(int((datetime.now(UTC) + timedelta(hours=1)).timestamp()) * 10**9)
    assert parse_event(samples.topic_chirpstack(), samples.chirpstack_json(body)).time_ns > 0


def test_tts_received_at_outside_range_is_bad_event() -> None:
    body = samples.tts_dict(PAYLOAD)
    body["received_at"] = "9999-12-31T23:59:59Z"
    with pytest.raises(EventError, match="outside"):
        parse_event(samples.TOPIC_TTS, orjson.dumps(body))


@pytest.mark.parametrize("value", [12345, 1.5, True, "", [], {"seconds": 1}])
@pytest.mark.parametrize("key", ["time", "gwTime", "nsTime"])
def test_chirpstack_time_present_but_not_rfc3339_string_is_bad_event(key: str, value: Any) -> None:
    # A number must not be read as "no time" (stamped with the bridge's clock, so a
    # redelivery would be a second point).
    body = samples.chirpstack_dict(PAYLOAD)
    if key == "time":
        body["time"] = value
    else:
        body.pop("time")
        body["rxInfo"][0].pop("gwTime", None)
        body["rxInfo"][0][key] = value
    with pytest.raises(EventError, match="RFC 3339"):
        parse_event(samples.topic_chirpstack(), samples.chirpstack_json(body), received_ns=1)


@pytest.mark.parametrize("value", [12345, "", "yesterday"])
@pytest.mark.parametrize("where", ["body", "uplink_message"])
def test_tts_received_at_not_rfc3339_string_is_bad_event(where: str, value: Any) -> None:
    body = samples.tts_dict(PAYLOAD)
    body.pop("received_at", None)
    body["uplink_message"].pop("received_at", None)
    (body if where == "body" else body["uplink_message"])["received_at"] = value
    with pytest.raises(EventError, match="RFC 3339"):
        parse_event(samples.TOPIC_TTS, orjson.dumps(body), received_ns=1)


def test_absent_time_is_the_received_time() -> None:
    body = samples.chirpstack_dict(PAYLOAD)
    body.pop("time")
    for gateway in body["rxInfo"]:
        gateway.pop("gwTime", None)
        gateway.pop("nsTime", None)
    assert parse_event(samples.topic_chirpstack(), samples.chirpstack_json(body), 7).time_ns == 7


@pytest.mark.parametrize("encode", [samples.chirpstack_json, samples.chirpstack_protobuf])
@pytest.mark.parametrize("tag", ["site", "ward", "model", "privacy", "anything"])
def test_tag_value_too_long_for_influxdb_is_bad_event(encode: Any, tag: str) -> None:
    body = samples.chirpstack_dict(PAYLOAD, tags={tag: "x" * 100_000})
    with pytest.raises(EventError, match="limit 256"):
        parse_event(samples.topic_chirpstack(), encode(body))
    body = samples.chirpstack_dict(PAYLOAD, tags={tag: "x" * 256})
    assert parse_event(samples.topic_chirpstack(), encode(body)).tags[tag] == "x" * 256


@pytest.mark.parametrize(
    ("key", "value"), [("deviceProfileName", "p" * 300), ("applicationId", "a" * 300)]
)
def test_device_info_strings_too_long_are_bad_event(key: str, value: str) -> None:
    body = samples.chirpstack_dict(PAYLOAD)
    body["deviceInfo"][key] = value
    with pytest.raises(EventError, match="limit 256"):
        parse_event(samples.topic_chirpstack(), samples.chirpstack_json(body))


def test_tts_attribute_too_long_is_bad_event() -> None:
    body = samples.tts_dict(PAYLOAD)
    body["attributes"] = {"site": "s" * 100_000}
    with pytest.raises(EventError, match="limit 256"):
        parse_event(samples.TOPIC_TTS, orjson.dumps(body))


def _variants() -> list[dict[str, Any]]:
    """Well-formed events and ones off the typed path in every way the checked path tolerates."""
    base = samples.chirpstack_dict()
    first_gateway = dict(base["rxInfo"][0])
    variants = [
        base,
        _with(fPort="5", fCnt="42"),  # numbers as strings: accepted by the checked path
        _with(rxInfo=None, time=None),
        _with(rxInfo=[first_gateway | {"rssi": -60, "snr": True}, "not a gateway"]),
        _with(rxInfo=[first_gateway | {"rssi": "loud"}, first_gateway | {"rssi": -90.5}]),
        _with(rxInfo=[first_gateway, first_gateway | {"rssi": -30, "snr": -1}]),
        _with(data=None, deduplicationId=None, devAddr="00AABBCC"),
        _with(joinServerContext=None),
        _with(joinServerContext={"sessionKeyId": "01"}),
        _with(fPort=256),
        _with(fCnt=2**32),
        _with(data="not base64!"),
        _with(time="yesterday"),
        _with(time=1_700_000_000),
        _without("deviceInfo"),
    ]
    info = base["deviceInfo"]
    for change in (
        {"tags": {"site": "s", "floor": 3}},
        {"tags": None},
        {"deviceProfileName": 5},
        {"devEui": "not an eui"},
    ):
        variants.append(_with(deviceInfo=info | change))
    variants.append(_with(deviceInfo={k: v for k, v in info.items() if k != "devEui"}))
    return variants


@pytest.mark.parametrize("body", _variants())
def test_typed_and_checked_chirpstack_json_agree(body: dict[str, Any]) -> None:
    """The msgspec path must give exactly what the field-by-field path gives, errors included."""
    payload = orjson.dumps(body)
    results = []
    for parse in (events._chirpstack_json, events._chirpstack_checked):
        try:
            results.append(parse(payload, 1_800_000_000_000_000_000))
        except EventError as exc:
            results.append((type(exc), str(exc)))
    assert results[0] == results[1]
