"""MQTT uplink events (ChirpStack v4 JSON or Protobuf, The Things Stack v3) → one ``Uplink``.

Parsing is the bridge's first hot-path step, so ChirpStack JSON is read with
orjson straight from the camelCase keys rather than through protobuf's
``json_format`` (several times slower). Anything malformed raises
``EventError``; nothing else may escape, because one bad message must never
take the stream down.

An empty payload may be left out of an event (Protobuf never encodes empty
bytes, The Things Stack leaves zero values out, older ChirpStack omits it): an
absent ``data``/``frm_payload`` is the empty payload. What marks a payload as
still encrypted or an uplink as simulated is recorded on the ``Uplink``
(``encrypted``, ``simulated``) for the pipeline to act on; the sources are in
docs/uplink-events.md.

What cannot be stored or cannot be true is refused here, as ``EventError``
(``bad_event``), so it becomes a dead letter stamped at the received time with
no tags from the event, which InfluxDB accepts; were it passed on, InfluxDB
would refuse the points and the dead letter alike (same time, same tags).

- An event time (``time``/``gwTime``/``nsTime``, ``received_at``, the Protobuf
  timestamps) must be a valid RFC 3339 string (JSON) when present, and lie in
  ``EARLIEST_EVENT_TIME`` .. the bridge's clock + ``MAX_EVENT_AHEAD``. LoRaWAN
  networks only exist since 2015, so a time before 2000 is a broken clock; a
  day ahead covers any network server's clock skew. Both bounds sit well inside
  what InfluxDB stores (1677-09-21 .. 2262-04-11, signed 64-bit ns).
- Every string that may become a tag (tags/attributes, device profile,
  application, DevAddr, deduplication id) is at most ``MAX_TAG_CHARS``
  characters: real site, ward and model names are a few dozen, and InfluxDB
  refuses (or chokes on) tags of many kilobytes.
"""

from __future__ import annotations

import base64
import binascii
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Annotated, Any

import msgspec
import orjson
from chirpstack_api import integration
from google.protobuf.message import DecodeError as ProtobufDecodeError

from core.errors import EventError

SOURCE_CHIRPSTACK_JSON = "chirpstack-json"
SOURCE_CHIRPSTACK_PROTOBUF = "chirpstack-protobuf"
SOURCE_TTS = "tts"

_HEX_EUI = re.compile(r"[0-9a-f]{16}")
_RFC3339 = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)[Tt ](\d\d):(\d\d):(\d\d)(?:\.(\d+))?([Zz]|[+-]\d\d:\d\d)"
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_ORDINAL = _EPOCH.toordinal()
_MAX_F_PORT = 255
#: Earliest believable event time (ns since the epoch): 2000-01-01T00:00:00Z.
EARLIEST_EVENT_TIME = 946_684_800 * 1_000_000_000
#: How far an event time may lie ahead of the bridge's clock (ns): one day.
MAX_EVENT_AHEAD = 86_400 * 1_000_000_000
#: Longest string accepted where the event supplies a tag value or key.
MAX_TAG_CHARS = 256
_JOIN_SERVER_CONTEXT = (
    "ChirpStack sent joinServerContext: the AppSKey is held by a join server, "
    "the payload is still encrypted"
)
_APP_S_KEY = (
    "The Things Stack sent app_s_key: payload crypto is skipped for this device, "
    "the payload is still encrypted"
)


class NoPayloadError(EventError):
    """A MAC-only frame (fPort 0 or absent): nothing to decode, so skipped rather than dead-lettered."""

    code = "no_payload"


@dataclass(slots=True)
class Uplink:
    """One uplink, whatever network server and encoding it came from."""

    dev_eui: str
    time_ns: int
    f_port: int
    f_cnt: int
    payload: bytes
    source: str
    device_profile: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    rssi: float | None = None
    snr: float | None = None
    gateways: int = 0
    dedup_id: str = ""
    dev_addr: str = ""
    application_id: str = ""
    #: Why the payload is still ciphertext ("" when the network server decrypted it):
    #: ChirpStack v4 sends ``joinServerContext`` when a join server holds the AppSKey,
    #: The Things Stack sends ``app_s_key`` when payload crypto is skipped for the device.
    encrypted: str = ""
    #: The Things Stack marks uplinks typed in its console or API as ``simulated``.
    simulated: bool = False
    #: Whether ``time_ns`` came from the event (bounds-checked) or the received time.
    time_from_event: bool = True


def parse_time(text: str) -> int:
    """RFC 3339 → integer ns since the epoch, exact to the nanosecond (datetime keeps only µs)."""
    match = _RFC3339.fullmatch(text)
    if match is None:
        raise ValueError(f"not an RFC 3339 time: {text!r}")
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    h, m, s = int(hour), int(minute), int(second)
    if h > 23 or m > 59 or s > 59:
        raise ValueError(f"not an RFC 3339 time: {text!r}")
    seconds = _day_seconds(year, month, day) + h * 3600 + m * 60 + s - _offset_seconds(offset)
    nanos = int((fraction or "0")[:9].ljust(9, "0"))
    return seconds * 1_000_000_000 + nanos


@lru_cache(maxsize=1024)
def _day_seconds(year: str, month: str, day: str) -> int:
    """Seconds from the epoch to a date's midnight UTC; cached, since uplinks share a few days."""
    return (date(int(year), int(month), int(day)).toordinal() - _EPOCH_ORDINAL) * 86_400


@lru_cache(maxsize=64)
def _offset_seconds(offset: str) -> int:
    if offset in ("Z", "z"):
        return 0
    hours, minutes = int(offset[1:3]), int(offset[4:6])
    if hours > 23 or minutes > 59:
        raise ValueError(f"not a UTC offset: {offset!r}")
    return (-1 if offset[0] == "-" else 1) * (hours * 3600 + minutes * 60)


def format_time(time_ns: int) -> str:
    """Integer ns → RFC 3339 UTC with all nine fraction digits (the live feed's ``time``)."""
    seconds, nanos = divmod(time_ns, 1_000_000_000)
    days, second = divmod(seconds, 86_400)
    minutes, second = divmod(second, 60)
    hour, minute = divmod(minutes, 60)
    return f"{_day(days)}T{hour:02d}:{minute:02d}:{second:02d}.{nanos:09d}Z"


@lru_cache(maxsize=64)
def _day(days: int) -> str:
    """The date ``days`` after the epoch; cached, since uplinks share a few days (the feed's hot path)."""
    return f"{_EPOCH + timedelta(days=days):%Y-%m-%d}"


def parse_event(topic: str, payload: bytes, received_ns: int | None = None) -> Uplink:
    """Parse one uplink event; ``EventError`` (or ``NoPayloadError``) for anything else.

    ``received_ns`` is the time used when the event carries none (defaults to now).
    """
    parts = topic.split("/")
    try:
        if len(parts) == 6 and parts[0] == "application" and parts[2] == "device":
            if parts[4:] != ["event", "up"]:
                raise EventError("not an uplink event topic")
            uplink = _chirpstack(parts, payload, received_ns)
        elif len(parts) == 5 and parts[0] == "v3" and parts[2] == "devices":
            if parts[4] != "up":
                raise EventError("not an uplink topic")
            uplink = _tts(parts, payload, received_ns)
        else:
            raise EventError("topic is neither ChirpStack v4 nor The Things Stack v3 uplink")
        _check_bounds(uplink)
    except EventError as exc:
        exc.topic, exc.payload = topic, bytes(payload)
        raise
    except Exception as exc:  # a field of an unexpected type must not take the stream down
        raise EventError(
            f"malformed event: {type(exc).__name__}: {exc}", topic=topic, payload=bytes(payload)
        ) from exc
    if uplink.f_port == 0:
        raise NoPayloadError(
            "fPort 0 or absent: MAC-only frame", topic=topic, payload=bytes(payload)
        )
    return uplink


def _check_bounds(uplink: Uplink) -> None:
    """``EventError`` when the event's own time or a tag-bound string cannot be stored or true."""
    if uplink.time_from_event:
        latest = time.time_ns() + MAX_EVENT_AHEAD
        if not EARLIEST_EVENT_TIME <= uplink.time_ns <= latest:
            raise EventError(
                f"event time {uplink.time_ns} ns is outside 2000-01-01 .. one day after "
                "the bridge's clock"
            )
    limit = MAX_TAG_CHARS
    if (
        len(uplink.device_profile) > limit
        or len(uplink.application_id) > limit
        or len(uplink.dev_addr) > limit
        or len(uplink.dedup_id) > limit
        or any(len(key) > limit or len(value) > limit for key, value in uplink.tags.items())
    ):
        _refuse_long_strings(uplink)


def _refuse_long_strings(uplink: Uplink) -> None:
    """``EventError`` naming the first string over ``MAX_TAG_CHARS`` (tag keys first)."""
    strings = {
        "device profile": uplink.device_profile,
        "applicationId": uplink.application_id,
        "devAddr": uplink.dev_addr,
        "deduplication id": uplink.dedup_id,
    }
    for key, value in uplink.tags.items():
        if len(key) > MAX_TAG_CHARS:
            raise EventError(f"a tag key is {len(key)} characters, limit {MAX_TAG_CHARS}")
        strings[f"tag {key}"] = value
    for what, value in strings.items():
        if len(value) > MAX_TAG_CHARS:
            raise EventError(f"{what} is {len(value)} characters, limit {MAX_TAG_CHARS}")


def _now_ns(received_ns: int | None) -> int:
    return time.time_ns() if received_ns is None else received_ns


def _eui(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise EventError(f"{what} missing or not a string")
    eui = value.lower()
    if not _HEX_EUI.fullmatch(eui):
        raise EventError(f"{what} {value!r} is not 16 hex digits")
    return eui


def _b64(value: Any, what: str) -> bytes:
    if not isinstance(value, str):
        raise EventError(f"{what} missing or not a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise EventError(f"{what} is not valid base64: {exc}") from exc


def _uint(value: Any, what: str, maximum: int) -> int:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise EventError(f"{what} is not an integer: {value!r}")
    try:
        number = int(value)
    except ValueError as exc:
        raise EventError(f"{what} is not an integer: {value!r}") from exc
    if not 0 <= number <= maximum:
        raise EventError(f"{what} {number} outside 0..{maximum}")
    return number


def _time(*candidates: tuple[str, Any]) -> int | None:
    """The first present time, by field name; a present one that is no RFC 3339 string is bad.

    A number or other non-string is never read as "no time": stamping such an
    event with the bridge's clock would make each redelivery a new point.
    """
    for what, value in candidates:
        if value is None:
            continue
        if not isinstance(value, str):
            raise EventError(f"{what} is not an RFC 3339 string: {value!r}"[:200])
        try:
            return parse_time(value)
        except ValueError as exc:
            raise EventError(f"{what}: {exc}"[:200]) from exc
    return None


def _timestamp(stamp: Any, what: str) -> int:
    """A Protobuf ``Timestamp`` → ns; ``EventError`` outside its documented range."""
    # google.protobuf.Timestamp: nanos in 0..999,999,999 (timestamp.proto).
    if not 0 <= stamp.nanos < 1_000_000_000:
        raise EventError(f"{what}.nanos {stamp.nanos} outside 0..999999999")
    return stamp.seconds * 1_000_000_000 + stamp.nanos


def _tags(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {str(k): str(v) for k, v in value.items() if isinstance(v, str | int | float)}


def _best_gateway(rx: list[Any], rssi_key: str = "rssi") -> tuple[float | None, float | None]:
    """RSSI and SNR of the gateway that heard the frame loudest."""
    best_rssi: float | None = None
    best_snr: float | None = None
    for gateway in rx:
        rssi = gateway.get(rssi_key)
        if isinstance(rssi, int | float) and not isinstance(rssi, bool):
            if best_rssi is None or rssi > best_rssi:
                best_rssi = float(rssi)
                snr = gateway.get("snr")
                best_snr = float(snr) if isinstance(snr, int | float) else None
    return best_rssi, best_snr


def _first(value: Any) -> Any:
    return value[0] if isinstance(value, list) and value else None


def _object(payload: bytes) -> dict[str, Any]:
    try:
        body = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise EventError(f"invalid JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise EventError("JSON event is not an object")
    return body


def _chirpstack(parts: list[str], payload: bytes, received_ns: int | None) -> Uplink:
    stripped = payload.lstrip()
    if stripped[:1] == b"{":
        uplink = _chirpstack_json(payload, received_ns)
    else:
        uplink = _chirpstack_protobuf(payload, received_ns)
    if uplink.dev_eui != parts[3].lower():
        raise EventError(f"devEui {uplink.dev_eui} does not match topic device {parts[3]}")
    uplink.application_id = uplink.application_id or parts[1]
    return uplink


class _Gateway(msgspec.Struct):
    """What the bridge reads of one ``rxInfo`` entry (ChirpStack v4 ``gw.UplinkRxInfo``)."""

    rssi: int | float | None = None
    snr: int | float | None = None
    gwTime: str | None = None
    nsTime: str | None = None


class _DeviceInfo(msgspec.Struct):
    devEui: str
    deviceProfileName: str = ""
    tags: dict[str, str] = {}
    applicationId: str = ""


class _ChirpStackUp(msgspec.Struct):
    """A well-formed ChirpStack v4 JSON uplink event, as far as the bridge reads it."""

    deviceInfo: _DeviceInfo
    fPort: Annotated[int, msgspec.Meta(ge=0, le=_MAX_F_PORT)] = 0
    fCnt: Annotated[int, msgspec.Meta(ge=0, le=0xFFFFFFFF)] = 0
    data: str | None = None
    rxInfo: list[_Gateway] | None = None
    time: str | None = None
    deduplicationId: str = ""
    devAddr: str = ""
    joinServerContext: Any = None


_CHIRPSTACK_UP = msgspec.json.Decoder(_ChirpStackUp)


def _chirpstack_json(payload: bytes, received_ns: int | None) -> Uplink:
    """Typed decoding (msgspec) of a well-formed event; anything else, ``_chirpstack_checked``.

    The typed path reads only the fields it needs, into a struct, instead of
    building the whole event as dictionaries; it gives the same ``Uplink`` as
    the checked path (tests hold them to it). Any deviation from the happy
    path (a type, a bound, bad base64, an unparsable time, a bad DevEUI) goes
    to the checked path, which names what is wrong exactly as before.
    """
    try:
        event = _CHIRPSTACK_UP.decode(payload)
    except msgspec.MsgspecError:
        return _chirpstack_checked(payload, received_ns)
    try:
        info = event.deviceInfo
        rx = event.rxInfo or ()
        rssi = snr = None
        for gateway in rx:
            if gateway.rssi is not None and (rssi is None or gateway.rssi > rssi):
                rssi = float(gateway.rssi)
                snr = None if gateway.snr is None else float(gateway.snr)
        first = rx[0] if rx else None
        time_ns = _time(
            ("time", event.time),
            ("rxInfo[0].gwTime", None if first is None else first.gwTime),
            ("rxInfo[0].nsTime", None if first is None else first.nsTime),
        )
        data = event.data
        return Uplink(
            dev_eui=_eui(info.devEui, "deviceInfo.devEui"),
            time_ns=_now_ns(received_ns) if time_ns is None else time_ns,
            time_from_event=time_ns is not None,
            f_port=event.fPort,
            f_cnt=event.fCnt,
            payload=b"" if data is None else _b64(data, "data"),
            source=SOURCE_CHIRPSTACK_JSON,
            device_profile=info.deviceProfileName,
            tags=info.tags,
            rssi=rssi,
            snr=snr,
            gateways=len(rx),
            dedup_id=event.deduplicationId,
            dev_addr=event.devAddr.lower(),
            application_id=info.applicationId,
            encrypted=_JOIN_SERVER_CONTEXT if event.joinServerContext is not None else "",
        )
    except EventError:
        return _chirpstack_checked(payload, received_ns)


def _chirpstack_checked(payload: bytes, received_ns: int | None) -> Uplink:
    """ChirpStack v4 JSON read field by field, with an ``EventError`` naming what is wrong."""
    body = _object(payload)
    info = body.get("deviceInfo")
    if not isinstance(info, dict):
        raise EventError("deviceInfo missing")
    f_port = _uint(body.get("fPort"), "fPort", _MAX_F_PORT)
    data = body.get("data")  # left out (or null) when the payload is empty
    rx = [g for g in body.get("rxInfo") or () if isinstance(g, dict)]
    rssi, snr = _best_gateway(rx)
    first = rx[0] if rx else {}
    time_ns = _time(
        ("time", body.get("time")),
        ("rxInfo[0].gwTime", first.get("gwTime")),
        ("rxInfo[0].nsTime", first.get("nsTime")),
    )
    return Uplink(
        dev_eui=_eui(info.get("devEui"), "deviceInfo.devEui"),
        time_ns=_now_ns(received_ns) if time_ns is None else time_ns,
        time_from_event=time_ns is not None,
        f_port=f_port,
        f_cnt=_uint(body.get("fCnt"), "fCnt", 0xFFFFFFFF),
        payload=b"" if data is None else _b64(data, "data"),
        source=SOURCE_CHIRPSTACK_JSON,
        device_profile=str(info.get("deviceProfileName") or ""),
        tags=_tags(info.get("tags")),
        rssi=rssi,
        snr=snr,
        gateways=len(rx),
        dedup_id=str(body.get("deduplicationId") or ""),
        dev_addr=str(body.get("devAddr") or "").lower(),
        application_id=str(info.get("applicationId") or ""),
        encrypted=_JOIN_SERVER_CONTEXT if body.get("joinServerContext") is not None else "",
    )


def _chirpstack_protobuf(payload: bytes, received_ns: int | None) -> Uplink:
    try:
        event = integration.UplinkEvent.FromString(payload)
    except (ProtobufDecodeError, RuntimeWarning, ValueError) as exc:
        raise EventError(f"invalid Protobuf UplinkEvent: {exc}") from exc
    info = event.device_info
    if not event.HasField("device_info"):
        raise EventError("deviceInfo missing")
    if event.f_port > _MAX_F_PORT:
        raise EventError(f"fPort {event.f_port} outside 0..{_MAX_F_PORT}")
    best = max(event.rx_info, key=lambda g: g.rssi, default=None)
    time_ns: int | None = None
    if event.HasField("time"):
        time_ns = _timestamp(event.time, "time")
    elif event.rx_info and event.rx_info[0].HasField("gw_time"):
        time_ns = _timestamp(event.rx_info[0].gw_time, "rxInfo[0].gwTime")
    elif event.rx_info and event.rx_info[0].HasField("ns_time"):
        time_ns = _timestamp(event.rx_info[0].ns_time, "rxInfo[0].nsTime")
    return Uplink(
        dev_eui=_eui(info.dev_eui, "deviceInfo.devEui"),
        time_ns=_now_ns(received_ns) if time_ns is None else time_ns,
        time_from_event=time_ns is not None,
        f_port=event.f_port,
        f_cnt=event.f_cnt,
        payload=bytes(event.data),
        source=SOURCE_CHIRPSTACK_PROTOBUF,
        device_profile=info.device_profile_name,
        tags=dict(info.tags),
        rssi=None if best is None else float(best.rssi),
        snr=None if best is None else float(best.snr),
        gateways=len(event.rx_info),
        dedup_id=event.deduplication_id,
        dev_addr=event.dev_addr.lower(),
        application_id=info.application_id,
        encrypted=_JOIN_SERVER_CONTEXT if event.HasField("join_server_context") else "",
    )


def _tts(parts: list[str], payload: bytes, received_ns: int | None) -> Uplink:
    body = _object(payload)
    ids = body.get("end_device_ids")
    message = body.get("uplink_message")
    if not isinstance(ids, dict) or not isinstance(message, dict):
        raise EventError("end_device_ids or uplink_message missing")
    if ids.get("device_id") != parts[3]:
        raise EventError(f"device_id {ids.get('device_id')!r} does not match topic {parts[3]!r}")
    f_port = _uint(message.get("f_port"), "f_port", _MAX_F_PORT)
    data = message.get("frm_payload")  # TTS leaves zero values out, an empty payload too
    rx = [g for g in message.get("rx_metadata") or () if isinstance(g, dict)]
    rssi, snr = _best_gateway(rx)
    time_ns = _time(
        ("received_at", body.get("received_at")),
        ("uplink_message.received_at", message.get("received_at")),
    )
    application = ids.get("application_ids")
    versions = message.get("version_ids")
    return Uplink(
        dev_eui=_eui(ids.get("dev_eui"), "end_device_ids.dev_eui"),
        time_ns=_now_ns(received_ns) if time_ns is None else time_ns,
        time_from_event=time_ns is not None,
        f_port=f_port,
        f_cnt=_uint(message.get("f_cnt"), "f_cnt", 0xFFFFFFFF),
        payload=b"" if data is None else _b64(data, "frm_payload"),
        source=SOURCE_TTS,
        device_profile=str(versions.get("model_id") or "") if isinstance(versions, dict) else "",
        tags=_tags(body.get("attributes") or ids.get("attributes")),
        rssi=rssi,
        snr=snr,
        gateways=len(rx),
        dedup_id=str(_first(body.get("correlation_ids")) or ""),
        dev_addr=str(ids.get("dev_addr") or "").lower(),
        application_id=str(application.get("application_id") or "")
        if isinstance(application, dict)
        else parts[1],
        encrypted=_APP_S_KEY if message.get("app_s_key") is not None else "",
        simulated=body.get("simulated") is True,
    )
