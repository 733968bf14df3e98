"""One MQTT message → the InfluxDB points it becomes (readings + ``uplink``, or a dead letter).

Pure functions of the message and the registry, so the whole mapping to the
schema is tested without a broker or a database. Every point of an uplink is
stamped with the event time, which makes a redelivered message overwrite its
own points instead of adding new ones.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import decoders
from core.errors import DecodeError, EventError, PlatformError, UnknownDeviceError
from gateway_bridge.events import NoPayloadError, Uplink, parse_event
from gateway_bridge.resolve import Device, Resolver
from storage.deadletter import dead_letter_point
from storage.points import FieldValue, Point, make_point
from storage.schema import (
    NEED_MEASUREMENT,
    PRIVACY_HOME,
    QUANTITY_MEASUREMENT,
    UPLINK,
)


@dataclass(slots=True)
class Outcome:
    """What became of one message: points to write, and for readings what the live feed needs.

    ``reason`` is the error code when ``points`` is a dead letter, ``skipped``
    is the code of a message deliberately not stored (a MAC-only frame).
    """

    points: list[Point]
    uplink: Uplink | None = None
    device: Device | None = None
    need: str = ""
    readings: dict[str, float] = field(default_factory=dict)
    reason: str | None = None
    skipped: str | None = None


def tags_of(device: Device, need: str) -> dict[str, str]:
    return {
        "dev_eui": device.dev_eui,
        "model": device.model,
        "site": device.site,
        "privacy": device.privacy,
        "need": need,
    }


def build_points(
    uplink: Uplink, device: Device, need: str, readings: dict[str, float]
) -> list[Point]:
    """Readings split by measurement (extras by the model's need) plus the ``uplink`` point."""
    tags = tags_of(device, need)
    link: dict[str, FieldValue] = {
        "f_cnt": uplink.f_cnt,
        "f_port": uplink.f_port,
        "gateways": uplink.gateways,
    }
    if uplink.rssi is not None:
        link["rssi"] = float(uplink.rssi)
    if uplink.snr is not None:
        link["snr"] = float(uplink.snr)
    groups: dict[str, dict[str, FieldValue]] = {}
    extra = NEED_MEASUREMENT[need]
    for name, value in readings.items():
        measurement = QUANTITY_MEASUREMENT.get(name, extra)
        if measurement == UPLINK:
            link[name] = float(value)
        else:
            groups.setdefault(measurement, {})[name] = float(value)
    # One canonical tag tuple shared by every point of the uplink (make_point would sort per point).
    tag_set = make_point(UPLINK, tags, link, uplink.time_ns).tags
    points = [
        Point(measurement, tag_set, fields, uplink.time_ns)
        for measurement, fields in groups.items()
    ]
    points.append(Point(UPLINK, tag_set, link, uplink.time_ns))
    return points


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
            device = self.resolver.resolve(uplink)
            spec = decoders.get_spec(device.model)
            readings = decoders.decode(device.model, uplink.f_port, uplink.payload)
        except NoPayloadError as exc:
            return Outcome(points=[], skipped=exc.code)
        except (EventError, UnknownDeviceError, DecodeError) as exc:
            point = dead_letter(exc, topic, payload, received_ns, uplink, device)
            return Outcome(points=[point], uplink=uplink, device=device, reason=exc.code)
        points = build_points(uplink, device, spec.need, readings)
        return Outcome(points, uplink, device, spec.need, readings)


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
