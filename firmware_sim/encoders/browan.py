"""Browan Tabs frames (see ``decoders.families.browan`` for the layout).

Values outside a field's range are clamped to it, as the device's own 7/4-bit fields would
saturate. A TBHH100 without ``co2``/``tvoc`` sends the "not fitted" word 0xFFFF, as the plain
temperature/humidity model does.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping

PORT_TBHH100 = 103
PORT_TBMS100 = 102

_TBHH = struct.Struct("<BBBBHH")
_TBMS = struct.Struct("<BBBHHB")
_NOT_FITTED = 0xFFFF


def _clamp(value: float, low: int, high: int) -> int:
    return min(max(round(value), low), high)


def _battery(values: Mapping[str, float]) -> int:
    return _clamp(values.get("battery_voltage", 3.6) * 10 - 25, 0, 15)


def _temperature(value: float) -> int:
    return _clamp(value + 32, 0, 127)


def _gas(values: Mapping[str, float], name: str) -> int:
    return _clamp(values[name], 0, _NOT_FITTED - 1) if name in values else _NOT_FITTED


def encode_tbhh100(values: Mapping[str, float]) -> tuple[int, bytes]:
    """Keep-alive frame; a missing humidity is sent as the sensor-error value 127."""
    rh = _clamp(values["relative_humidity"], 0, 100) if "relative_humidity" in values else 127
    payload = _TBHH.pack(
        0,
        _battery(values),
        _temperature(values.get("temperature", 20.0)),
        rh,
        _gas(values, "co2"),
        _gas(values, "tvoc"),
    )
    return PORT_TBHH100, payload


def encode_tbms100(values: Mapping[str, float]) -> tuple[int, bytes]:
    count = _clamp(values.get("motion", 0), 0, 0xFFFFFF)
    payload = _TBMS.pack(
        1 if values.get("occupancy", 0) else 0,
        _battery(values),
        _temperature(values.get("board_temperature", values.get("temperature", 20.0))),
        _clamp(values.get("minutes_since_motion", 0), 0, 0xFFFF),
        count & 0xFFFF,
        count >> 16,
    )
    return PORT_TBMS100, payload
