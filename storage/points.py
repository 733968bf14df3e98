"""Points and their InfluxDB line-protocol encoding.

Hand-written rather than influxdb-client's ``Point`` because it is the bridge's
hot path (tens of thousands of points a second); ``tests/storage`` checks it
byte for byte against influxdb-client's own encoder, so the two agree on every
escaping quirk, including the lossy ones of line protocol itself (checked on
1.6.7): a tab, CR or newline in a tag, key or measurement is stored as a
two-character escape, a backslash before a space, comma or ``=`` there is lost,
and a tag value ending in a backslash gets a trailing space instead. Tags and
names come from registries and the schema, so none of this touches real data.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import NamedTuple

FieldValue = float | int | str | bool

_MEASUREMENT_ESCAPES = str.maketrans(
    {",": r"\,", " ": r"\ ", "\n": r"\n", "\t": r"\t", "\r": r"\r"}
)
_KEY_ESCAPES = str.maketrans(
    {",": r"\,", "=": r"\=", " ": r"\ ", "\n": r"\n", "\t": r"\t", "\r": r"\r"}
)
_STRING_ESCAPES = str.maketrans({"\\": "\\\\", '"': '\\"'})
_float_repr = float.__repr__


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


#: Heads cached: a fleet of N devices has about 3N (measurement, tag set) pairs, and a cache
#: smaller than that thrashes (measured: 4,096 entries for 2,000 devices tripled the cost).
HEAD_CACHE = 1 << 15


@lru_cache(maxsize=HEAD_CACHE)
def _head(measurement: str, tags: tuple[tuple[str, str], ...]) -> str:
    """Measurement and tag set, escaped; cached because a fleet repeats the same few thousand."""
    head = measurement.translate(_MEASUREMENT_ESCAPES)
    for key, value in tags:
        key = key.translate(_KEY_ESCAPES)
        value = value.translate(_KEY_ESCAPES)
        if value.endswith("\\"):
            value += " "
        if key and value:
            head += f",{key}={value}"
    return head + " "


#: Escaped field keys with their ``=``: a fleet has a few dozen, looked up once per field.
_KEYS: dict[str, str] = {}
#: Encoded non-zero floats: sensors repeat the same few thousand values (a reading in its
#: resolution), and ``repr`` is the dearest step of encoding. Zero is left out because
#: ``0.0 == -0.0`` would share one entry; the table is emptied when it reaches its size.
_FLOATS: dict[float, str] = {}
_FLOATS_MAX = 1 << 16


def _float(value: float) -> str:
    text = _float_repr(value)
    if text.endswith(".0"):
        text = text[:-2]
    if value:
        if len(_FLOATS) >= _FLOATS_MAX:
            _FLOATS.clear()
        _FLOATS[value] = text
    return text


def _key(key: str) -> str:
    escaped = _KEYS.get(key)
    if escaped is None:
        escaped = _KEYS[key] = key.translate(_KEY_ESCAPES) + "="
    return escaped


def _field(value: FieldValue) -> str | None:
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        text = _float_repr(value)
        return text[:-2] if text.endswith(".0") else text
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value}i"
    return '"' + value.translate(_STRING_ESCAPES) + '"'


def to_line(point: Point) -> str:
    """Encode one point, fields sorted by key; non-finite floats are left out (InfluxDB refuses them)."""
    parts = []
    keys, floats = _KEYS, _FLOATS
    # Floats (every reading) inline: a call per field was a third of the encoding time.
    for key, value in sorted(point.fields.items()):
        if type(value) is float:
            if value - value != 0.0:  # inf or nan
                continue
            text = floats.get(value) or _float(value)
        else:
            encoded = _field(value)
            if encoded is None:
                continue
            text = encoded
        parts.append((keys.get(key) or _key(key)) + text)
    if not parts:
        raise ValueError(f"point {point.measurement} at {point.time_ns} has no writable field")
    return f"{_head(point.measurement, point.tags)}{','.join(parts)} {point.time_ns}"


def encode(points: list[Point]) -> bytes:
    """Line protocol for a batch, one point per line."""
    return "\n".join(map(to_line, points)).encode()
