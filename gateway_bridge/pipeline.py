"""One MQTT message → what becomes of it: points of a decoded uplink, a dead letter, or nothing.

Pure functions of the message and the registry, so the whole mapping to the
schema is tested without a broker or a database. Every point is stamped with a
time derived from the event alone (the event's time, or a frame's own time
resolved against it), which makes a redelivered message overwrite its own
points instead of adding new ones.

- ``Decoded``: readings of every frame at the frame's time, the ``uplink``
  point (one per accepted uplink, status-only ones included) and the
  ``device_status`` points (status items, undecoded parts, withheld values,
  clock corrections).
- ``DeadLettered``: one ``dead_letter`` point: a broken event, an unknown
  device or model, a payload that is not a valid frame, or one the event marks
  as still encrypted (never decoded).
- ``Skipped``: acknowledged and not stored: MAC-only frames, and uplinks The
  Things Stack marks as ``simulated`` (typed in its console: never readings,
  derived series or alerts).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from functools import lru_cache

import decoders
from core.errors import (
    DecodeError,
    EncryptedPayloadError,
    EventError,
    PlatformError,
    UnknownDeviceError,
)
from decoders import DecodedUplink, DecoderSpec, Frame
from gateway_bridge.configured import decode_for
from gateway_bridge.events import NoPayloadError, Uplink, format_time, parse_event
from gateway_bridge.frames import ClockCorrection, place_frames
from gateway_bridge.resolve import Device, Resolver
from storage.deadletter import dead_letter_point
from storage.points import HEAD_CACHE, FieldValue, Point, make_point
from storage.schema import (
    DEVICE_STATUS,
    PRIVACY_HOME,
    UPLINK,
    device_tags,
    measurement_of,
)

#: Skip reason of an uplink The Things Stack marks as simulated.
SIMULATED = "simulated"
#: Status item a decoder sets when it re-anchored records of a clock that was never
#: set itself (as ages before the newest); the bridge counts it as a clock correction.
DECODER_CLOCK_UNSET = "clock_unset"


@dataclass(slots=True)  # not frozen: that sets each field via object.__setattr__, per uplink
class Decoded:
    """An accepted uplink: its points, and what the live feed and the metrics need.

    ``readings`` are the values measured at the uplink's time (the only ones
    the live feed carries: history is not live). ``withheld`` names one field
    per withheld value.
    """

    points: list[Point]
    uplink: Uplink
    device: Device
    need: str
    readings: dict[str, float] = field(default_factory=dict)
    history_frames: int = 0
    withheld: tuple[str, ...] = ()
    unknown_parts: int = 0
    status: bool = False
    clock_corrected: bool = False


@dataclass(frozen=True, slots=True)
class DeadLettered:
    """A rejected message: its one ``dead_letter`` point and the error code."""

    points: list[Point]
    reason: str
    uplink: Uplink | None = None
    device: Device | None = None


@dataclass(frozen=True, slots=True)
class Skipped:
    """A message acknowledged without storing anything, and why."""

    reason: str

    @property
    def points(self) -> list[Point]:
        return []


Outcome = Decoded | DeadLettered | Skipped


def tags_of(device: Device, need: str) -> dict[str, str]:
    return device_tags(device.dev_eui, device.model, device.site, device.privacy, need)


@lru_cache(maxsize=HEAD_CACHE)
def _tag_set(
    dev_eui: str, model: str, site: str, privacy: str, need: str
) -> tuple[tuple[str, str], ...]:
    """A device's canonical (sorted) tag tuple, built once per device: every point of every
    uplink of it shares the one tuple (less to build, less held while in flight)."""
    return make_point(UPLINK, device_tags(dev_eui, model, site, privacy, need), {}, 0).tags


def build_points(
    uplink: Uplink, device: Device, spec: DecoderSpec, decoded: DecodedUplink
) -> Decoded:
    """Readings split by measurement at each frame's time, the ``uplink`` point, device status.

    Extras (fields that are no canonical quantity) go to the measurement of the
    model's need; battery values to ``uplink``.
    """
    # One canonical (sorted) tag tuple shared by every point of the uplink.
    tag_set = _tag_set(device.dev_eui, device.model, device.site, device.privacy, spec.need)
    link: dict[str, FieldValue] = {
        "f_cnt": uplink.f_cnt,
        "f_port": uplink.f_port,
        "gateways": uplink.gateways,
    }
    if uplink.rssi is not None:
        link["rssi"] = float(uplink.rssi)
    if uplink.snr is not None:
        link["snr"] = float(uplink.snr)
    frames = decoded.frames
    if len(frames) == 1 and not decoded.status and not decoded.unknown:
        frame = frames[0]
        if frame.time_ns is None and frame.age_s is None and not frame.withheld:
            return _one_frame_now(uplink, device, spec, tag_set, link, frame.readings)
    return _any_frames(uplink, device, spec, decoded, tag_set, link)


def _any_frames(
    uplink: Uplink,
    device: Device,
    spec: DecoderSpec,
    decoded: DecodedUplink,
    tag_set: tuple[tuple[str, str], ...],
    link: dict[str, FieldValue],
) -> Decoded:
    """``build_points`` for every uplink: history frames, withheld values, status, clocks."""
    status = _StatusPoints(uplink, tag_set)
    where = _MEASUREMENTS.get(spec.need) or _MEASUREMENTS.setdefault(spec.need, {})
    placement = place_frames(uplink.time_ns, decoded.frames)
    groups: dict[tuple[str, int], dict[str, FieldValue]] = {}
    live: dict[str, float] = {}
    withheld: list[str] = []
    history = 0
    for frame, at in zip(decoded.frames, placement.times, strict=True):
        untimed = frame.time_ns is None and frame.age_s is None
        if at is None:
            note = f"frame time cannot be placed ({_raw_time(frame)})"
            for name, value in frame.readings.items():
                withheld.append(name)
                status.withheld(name, value, note, uplink.time_ns)
        else:
            history += not untimed
            for name, value in frame.readings.items():
                group = (where.get(name) or _where(where, name, spec.need), at)
                fields = groups.get(group)
                if fields is None:
                    fields = groups[group] = {}
                fields[name] = float(value)
            if untimed:
                live.update(frame.readings)
        for name, value in frame.withheld.items():
            withheld.append(name)
            status.withheld(
                name, value, _range_note(spec, name), uplink.time_ns if at is None else at
            )
    link.update(groups.pop((UPLINK, uplink.time_ns), {}))
    points = [
        Point(measurement, tag_set, fields, at) for (measurement, at), fields in groups.items()
    ]
    points.append(Point(UPLINK, tag_set, link, uplink.time_ns))
    for key, item in decoded.status.items():
        status.item("status", key, item)
    for part in decoded.unknown:
        status.item("unknown", str(part.offset), part.hex, part.note)
    if placement.correction is not None:
        status.clock(placement.correction)
    return Decoded(
        points + status.points,
        uplink,
        device,
        spec.need,
        live,
        history_frames=history,
        withheld=tuple(withheld),
        unknown_parts=len(decoded.unknown),
        status=bool(decoded.status),
        clock_corrected=placement.correction is not None
        or decoded.status.get(DECODER_CLOCK_UNSET) is True,
    )


#: Each field's measurement, by the model's need (``measurement_of``, looked up once per field).
_MEASUREMENTS: dict[str, dict[str, str]] = {}


def _where(where: dict[str, str], name: str, need: str) -> str:
    measurement = where[name] = measurement_of(name, need)
    return measurement


def _one_frame_now(
    uplink: Uplink,
    device: Device,
    spec: DecoderSpec,
    tag_set: tuple[tuple[str, str], ...],
    link: dict[str, FieldValue],
    readings: dict[str, float],
) -> Decoded:
    """``build_points`` for most uplinks: one frame of readings at the uplink's time, nothing
    withheld, no status items, nothing undecoded. The same points in the same order."""
    where = _MEASUREMENTS.get(spec.need) or _MEASUREMENTS.setdefault(spec.need, {})
    groups: dict[str, dict[str, FieldValue]] = {}
    for name, value in readings.items():
        measurement = where.get(name) or _where(where, name, spec.need)
        fields = groups.get(measurement)
        if fields is None:
            fields = groups[measurement] = {}
        fields[name] = float(value)
    at = uplink.time_ns
    link.update(groups.pop(UPLINK, {}))
    points = [Point(measurement, tag_set, fields, at) for measurement, fields in groups.items()]
    points.append(Point(UPLINK, tag_set, link, at))
    return Decoded(points, uplink, device, spec.need, dict(readings))


class _StatusPoints:
    """``device_status`` points of one uplink (schema in storage/schema.py)."""

    def __init__(self, uplink: Uplink, tag_set: tuple[tuple[str, str], ...]) -> None:
        self.uplink = uplink
        self.tag_set = tag_set  # a dict of it only for the few uplinks that have status items
        self.points: list[Point] = []

    def item(
        self,
        kind: str,
        item: str,
        value: str | int | float | bool,
        note: str = "",
        time_ns: int | None = None,
        number: float | None = None,
    ) -> None:
        fields: dict[str, FieldValue] = {"f_port": self.uplink.f_port}
        if number is not None:
            fields["value"] = str(value)
            fields["number"] = number
        elif isinstance(value, bool):
            fields["value"] = "true" if value else "false"
            fields["number"] = float(value)
        elif isinstance(value, int | float):
            fields["value"] = repr(value)
            if math.isfinite(value):
                fields["number"] = float(value)
        else:
            fields["value"] = str(value)
        if note:
            fields["note"] = note
        tags = {**dict(self.tag_set), "kind": kind, "item": item}
        at = self.uplink.time_ns if time_ns is None else time_ns
        self.points.append(make_point(DEVICE_STATUS, tags, fields, at))

    def withheld(self, name: str, value: float, note: str, time_ns: int) -> None:
        self.item("withheld", name, value, note, time_ns)

    def clock(self, correction: ClockCorrection) -> None:
        note = (
            f"{correction.cause}: newest record anchored at the uplink time, spacing kept "
            f"(shifted by {correction.shift_ns / 1e9:.0f} s)"
        )
        raw = correction.device_time_ns
        self.item("clock", "device_time", _format(raw), note, number=raw / 1e9)


def _format(time_ns: int) -> str:
    """RFC 3339 when the time is representable, else the raw ns (a device clock can say anything)."""
    try:
        return format_time(time_ns)
    except (OverflowError, ValueError):
        return f"{time_ns} ns since the epoch"


def _raw_time(frame: Frame) -> str:
    if frame.time_ns is not None:
        return f"device time {_format(frame.time_ns)}"
    return f"age {frame.age_s} s"


def _range_note(spec: DecoderSpec, name: str) -> str:
    field_spec = spec.field_map().get(name)
    if field_spec is None:
        return "outside the field's physical range"
    unit = f" {field_spec.unit}" if field_spec.unit else ""
    return f"outside the physical range {field_spec.minimum:g}..{field_spec.maximum:g}{unit}"


class Pipeline:
    """Parse → resolve → decode → points, turning every expected failure into a dead letter."""

    def __init__(self, resolver: Resolver) -> None:
        self.resolver = resolver

    def process(self, topic: str, payload: bytes, received_ns: int | None = None) -> Outcome:
        received_ns = time.time_ns() if received_ns is None else received_ns
        uplink: Uplink | None = None
        device: Device | None = None
        try:
            uplink = parse_event(topic, payload, received_ns)
            if uplink.simulated:
                return Skipped(SIMULATED)
            device = self.resolver.resolve(uplink)
            if uplink.encrypted:
                raise EncryptedPayloadError(
                    uplink.encrypted,
                    dev_eui=uplink.dev_eui,
                    f_port=uplink.f_port,
                    payload=uplink.payload,
                )
            # decode_uplink names model, fPort and payload in every DecodeError, unknown model too.
            decoded = decode_for(device.model, uplink, topic, payload)  # native or configured
            spec = decoders.get_spec(device.model)
        except NoPayloadError as exc:
            return Skipped(exc.code)
        except (EventError, UnknownDeviceError, DecodeError) as exc:
            point = dead_letter(exc, topic, payload, received_ns, uplink, device)
            return DeadLettered([point], exc.code, uplink, device)
        return build_points(uplink, device, spec, decoded)


def dead_letter(
    error: PlatformError,
    topic: str,
    payload: bytes,
    received_ns: int,
    uplink: Uplink | None = None,
    device: Device | None = None,
) -> Point:
    """The dead-letter point of a message, tagged as far as the device is known (home if not)."""
    tags = {"privacy": PRIVACY_HOME}
    if uplink is not None:
        tags["dev_eui"] = uplink.dev_eui
        tags.update(
            {k: v for k, v in uplink.tags.items() if k in ("model", "site") and isinstance(v, str)}
        )
    if device is not None:
        tags.update(tags_of(device, ""))
        if spec_need := _need(device.model):
            tags["need"] = spec_need
    return dead_letter_point(
        error,
        reason=error.code,
        topic=topic,
        payload=uplink.payload if uplink is not None else payload,
        time_ns=uplink.time_ns if uplink is not None else received_ns,
        tags=tags,
        f_port=uplink.f_port if uplink is not None else None,
    )


def _need(model: str) -> str:
    try:
        return decoders.get_spec(model).need
    except DecodeError:
        return ""
