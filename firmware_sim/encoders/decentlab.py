"""Decentlab protocol v2 frames (see ``decoders.families.decentlab`` for the layout).

A sensor's words are included when every value it carries is given, so the flags follow the
values: ``{"battery_voltage": 3.1}`` alone is a battery-only frame, as the devices send.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping

F_PORT = 1
VERSION = 2
DEFAULT_DEVICE_ID = 0x1B50

#: Per model, its sensors in flag-bit order: each a tuple of (field, raw = (value - offset) / scale).
Sensor = tuple[tuple[str, float, float], ...]
_BATTERY: Sensor = (("battery_voltage", 1 / 1000, 0.0),)
SHT35: tuple[Sensor, ...] = (
    (("temperature", 175 / 65535, -45.0), ("relative_humidity", 100 / 65535, 0.0)),
    _BATTERY,
)
PM: tuple[Sensor, ...] = (
    _BATTERY,
    (
        ("pm1_0", 0.1, 0.0),
        ("pm2_5", 0.1, 0.0),
        ("pm4_0", 0.1, 0.0),
        ("pm10", 0.1, 0.0),
        ("typical_particle_size", 1.0, 0.0),
        ("pm0_5_number", 0.1, 0.0),
        ("pm1_0_number", 0.1, 0.0),
        ("pm2_5_number", 0.1, 0.0),
        ("pm4_0_number", 0.1, 0.0),
        ("pm10_number", 0.1, 0.0),
    ),
    (("temperature", 175.72 / 65536, -46.85), ("relative_humidity", 125 / 65536, -6.0)),
    (("pressure", 0.02, 0.0),),
)


def _word(value: float) -> int:
    return min(max(round(value), 0), 0xFFFF)


def _encode(sensors: tuple[Sensor, ...], values: Mapping[str, float]) -> tuple[int, bytes]:
    flags = 0
    words: list[int] = []
    for bit, sensor in enumerate(sensors):
        if all(name in values for name, _, _ in sensor):
            flags |= 1 << bit
            words.extend(_word((values[name] - offset) / scale) for name, scale, offset in sensor)
    device_id = int(values.get("device_id", DEFAULT_DEVICE_ID))
    return F_PORT, struct.pack(f">BHH{len(words)}H", VERSION, device_id, flags, *words)


def encode_dl_sht35(values: Mapping[str, float]) -> tuple[int, bytes]:
    return _encode(SHT35, values)


def encode_dl_pm(values: Mapping[str, float]) -> tuple[int, bytes]:
    """PM words are sent when pm1_0, pm2_5 and pm10 are given; the rest default sensibly."""
    if all(k in values for k in ("pm1_0", "pm2_5", "pm10")):
        filled = {
            "pm4_0": values["pm10"],
            "typical_particle_size": 500.0,
            "pm0_5_number": 0.0,
            "pm1_0_number": 0.0,
            "pm2_5_number": 0.0,
            "pm4_0_number": 0.0,
            "pm10_number": 0.0,
            **values,
        }
        return _encode(PM, filled)
    return _encode(PM, values)
