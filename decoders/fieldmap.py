"""From a codec's (or network server's) output object to canonical readings.

A field map names, for each output path, the canonical quantity it is
(``core.quantities.CANONICAL_UNITS``) and the unit the codec gives it in.
Paths use dots for object keys and ``[n]`` for array items:
``TempC_SHT``, ``sensors[0].temperature``, ``pm.pm2_5``.

Values are taken as numbers when they are JSON numbers, or strings that are a
plain decimal number (vendor codecs often return ``x.toFixed(2)``); anything
else at a mapped path (``null``, ``true``, ``"N/A"``, an object) is withheld
and its reason recorded in the uplink's status as ``withheld.<quantity>``. A
path missing from the output is simply not read: codecs emit different keys
for different frames. Out-of-range values are withheld by
``decoders.decode_uplink``'s range check, as for native decoders.

The Device Repository's normalized payload (``normalizeUplink`` output, The
Things Stack's ``normalized_payload``) maps without a hand-written map:
``NORMALIZED_PATHS`` follows the schema's ``measurement`` definition
(TheThingsNetwork/lorawan-devices ``lib/payload.json``: ``air.temperature``
°C, ``air.relativeHumidity`` %, ``air.pressure`` hPa, ``air.co2`` ppm,
``air.lightIntensity`` lux). Each measurement becomes one frame, timed by its
``time`` (RFC 3339) when it has one.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core.errors import ConfigError
from decoders.spec import DecodedUplink, Frame, Reading, Status

__all__ = [
    "CONVERSIONS",
    "DEFAULT_RANGES",
    "NORMALIZED_PATHS",
    "FieldMapping",
    "map_normalized",
    "map_object",
    "mapping_for",
    "parse_path",
]

#: (unit given, canonical unit) -> conversion. Small and explicit on purpose.
CONVERSIONS: Mapping[tuple[str, str], Callable[[float], float]] = {
    ("degF", "degC"): lambda v: (v - 32.0) * 5.0 / 9.0,
    ("K", "degC"): lambda v: v - 273.15,
    ("mV", "V"): lambda v: v / 1000.0,
    ("Pa", "hPa"): lambda v: v / 100.0,
    ("kPa", "hPa"): lambda v: v * 10.0,
    ("mbar", "hPa"): lambda v: v,
    ("klux", "lux"): lambda v: v * 1000.0,
    ("mg/m3", "ug/m3"): lambda v: v * 1000.0,
    ("ppb", "ppm"): lambda v: v / 1000.0,
}

_COUNT_MAX = float(2**32 - 1)
#: Physical range of each canonical quantity for configured models (a model file may narrow it).
DEFAULT_RANGES: Mapping[str, tuple[float, float]] = {
    "temperature": (-60.0, 125.0),
    "relative_humidity": (0.0, 100.0),
    "co2": (0.0, 40_000.0),
    "tvoc": (0.0, 100_000.0),
    "pm1_0": (0.0, 2_000.0),
    "pm2_5": (0.0, 2_000.0),
    "pm10": (0.0, 2_000.0),
    "pressure": (300.0, 1_100.0),
    "illuminance": (0.0, 200_000.0),
    "sound_level": (0.0, 150.0),
    "no2": (0.0, 100_000.0),
    "o3": (0.0, 100_000.0),
    "people_in": (0.0, _COUNT_MAX),
    "people_out": (0.0, _COUNT_MAX),
    "people_count": (0.0, _COUNT_MAX),
    "occupancy": (0.0, 65_535.0),
    "motion": (0.0, _COUNT_MAX),
    "battery_voltage": (0.0, 15.0),
    "battery_percent": (0.0, 100.0),
}

#: Normalized-payload path -> canonical quantity (units already canonical in that schema).
NORMALIZED_PATHS: Mapping[str, str] = {
    "air.temperature": "temperature",
    "air.relativeHumidity": "relative_humidity",
    "air.pressure": "pressure",
    "air.co2": "co2",
    "air.lightIntensity": "illuminance",
}

_PATH_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")
_PATH = re.compile(r"(?:[^.\[\]]+|\[\d+\])(?:\.[^.\[\]]+|\[\d+\])*")
_DECIMAL = re.compile(r"\s*[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?\s*")
_MISSING = object()


def parse_path(path: str) -> tuple[str | int, ...]:
    """``a.b[0].c`` -> ``("a", "b", 0, "c")``; ``ConfigError`` if it is not a path."""
    if not _PATH.fullmatch(path):
        raise ConfigError(f"output path {path!r} is not of the form a.b[0].c")
    return tuple(
        m.group(1) if m.group(1) is not None else int(m.group(2)) for m in _PATH_PART.finditer(path)
    )


@dataclass(frozen=True, slots=True)
class FieldMapping:
    """One output path read as one quantity, converted from ``unit`` to the quantity's unit."""

    path: str
    parts: tuple[str | int, ...]
    quantity: str
    convert: Callable[[float], float] | None = None


def _get(obj: Any, parts: tuple[str | int, ...]) -> Any:
    for part in parts:
        if isinstance(part, int):
            if not isinstance(obj, list) or part >= len(obj):
                return _MISSING
            obj = obj[part]
        else:
            if not isinstance(obj, dict) or part not in obj:
                return _MISSING
            obj = obj[part]
    return obj


def _number(value: Any) -> float | str:
    """The value as a float, or the reason it is not a number."""
    if isinstance(value, bool) or value is None:
        return f"not a number: {value!r}"
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and _DECIMAL.fullmatch(value):
        return float(value)
    return f"not a number: {str(value)[:40]!r}"


def _read(obj: Any, mappings: tuple[FieldMapping, ...], readings: Reading, status: Status) -> None:
    for mapping in mappings:
        value = _get(obj, mapping.parts)
        if value is _MISSING:
            continue
        number = _number(value)
        if isinstance(number, str):
            status[f"withheld.{mapping.quantity}"] = f"{mapping.path}: {number}"
            continue
        if mapping.convert is not None and math.isfinite(number):
            number = mapping.convert(number)
        readings[mapping.quantity] = number


def map_object(
    obj: Any, mappings: tuple[FieldMapping, ...], warnings: tuple[str, ...] = ()
) -> DecodedUplink:
    """One frame of readings at the uplink's time from a decoded object; see the module docstring."""
    readings: Reading = {}
    status: Status = {}
    _read(obj, mappings, readings, status)
    if warnings:
        status["codec_warnings"] = "; ".join(warnings)
    return DecodedUplink(frames=(Frame(readings),) if readings else (), status=status)


_NORMALIZED = tuple(
    FieldMapping(path, parse_path(path), quantity) for path, quantity in NORMALIZED_PATHS.items()
)


def map_normalized(normalized: Any, warnings: tuple[str, ...] = ()) -> DecodedUplink:
    """Frames from a normalized payload (one measurement object or a list of them)."""
    measurements = normalized if isinstance(normalized, list) else [normalized]
    frames: list[Frame] = []
    status: Status = {}
    for measurement in measurements:
        if not isinstance(measurement, dict):
            continue
        readings: Reading = {}
        _read(measurement, _NORMALIZED, readings, status)
        if not readings:
            continue
        frames.append(Frame(readings, time_ns=_time_ns(measurement.get("time"), status)))
    if warnings:
        status["codec_warnings"] = "; ".join(warnings)
    return DecodedUplink(frames=tuple(frames), status=status)


def _time_ns(value: Any, status: Status) -> int | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        status["withheld.time"] = f"not an RFC 3339 time: {value[:40]!r}"
        return None
    if moment.tzinfo is None:
        status["withheld.time"] = f"time without a UTC offset: {value[:40]!r}"
        return None
    return int(moment.timestamp()) * 1_000_000_000 + moment.microsecond * 1000


def mapping_for(path: str, quantity: str, unit: str, stored_unit: str) -> FieldMapping:
    """A checked mapping from ``unit`` to ``stored_unit``; ``ConfigError`` if no conversion exists."""
    convert = None
    if unit != stored_unit:
        convert = CONVERSIONS.get((unit, stored_unit))
        if convert is None:
            known = sorted(given for given, to in CONVERSIONS if to == stored_unit)
            raise ConfigError(
                f"{path}: no conversion from {unit!r} to {quantity}'s unit {stored_unit!r}"
                + (f" (convertible: {', '.join(known)})" if known else "")
            )
    return FieldMapping(path, parse_path(path), quantity, convert)
