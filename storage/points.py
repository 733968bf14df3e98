"""Points and their InfluxDB line-protocol encoding.

Hand-written rather than influxdb-client's ``Point`` because it is the bridge's
hot path (tens of thousands of points a second); ``tests/storage`` checks it
byte for byte against influxdb-client's own encoder.
"""

from __future__ import annotations

import math
from typing import NamedTuple

FieldValue = float | int | str | bool

_MEASUREMENT_ESCAPES = str.maketrans({",": r"\,", " ": r"\ ", "\n": r"\n"})
_TAG_ESCAPES = str.maketrans({",": r"\,", "=": r"\=", " ": r"\ ", "\n": r"\n"})
_STRING_ESCAPES = str.maketrans({"\\": "\\\\", '"': '\\"', "\n": "\\n"})


class Point(NamedTuple):
    """One InfluxDB point. ``tags`` are (key, value) pairs sorted by key; empty values are dropped."""

    measurement: str
    tags: tuple[tuple[str, str], ...]
    fields: dict[str, FieldValue]
    time_ns: int


def make_point(
    measurement: str, tags: dict[str, str], fields: dict[str, FieldValue], time_ns: int
) -> Point:
    """Build a point with tags in the canonical (sorted) order InfluxDB prefers."""
    return Point(measurement, tuple(sorted((k, v) for k, v in tags.items() if v)), fields, time_ns)


def _field(value: FieldValue) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value}i"
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else None
    return '"' + value.translate(_STRING_ESCAPES) + '"'


def to_line(point: Point) -> str:
    """Encode one point; non-finite floats are left out (InfluxDB refuses them)."""
    head = point.measurement.translate(_MEASUREMENT_ESCAPES)
    for key, value in point.tags:
        head += "," + key.translate(_TAG_ESCAPES) + "=" + value.translate(_TAG_ESCAPES)
    parts = []
    for key, value in point.fields.items():
        encoded = _field(value)
        if encoded is not None:
            parts.append(key.translate(_TAG_ESCAPES) + "=" + encoded)
    if not parts:
        raise ValueError(f"point {point.measurement} at {point.time_ns} has no writable field")
    return f"{head} {','.join(parts)} {point.time_ns}"


def encode(points: list[Point]) -> bytes:
    """Line protocol for a batch, one point per line."""
    return "\n".join(map(to_line, points)).encode()
