"""Dragino LHT65N and LAQ4 11-byte frames on fPort 2 (see ``decoders.families.dragino``)."""

from __future__ import annotations

import struct
from collections.abc import Mapping

F_PORT = 2
ABSENT = 0x7FFF
EXT_NONE = 0x00
EXT_TEMPERATURE = 0x01
LAQ4_MEASURE = 1


def _millivolts(values: Mapping[str, float], default: float = 3.0) -> int:
    return min(max(round(values.get("battery_voltage", default) * 1000), 0), 0x3FFF)


def _status(millivolts: int) -> int:
    """Battery status bits as the LHT65N manual grades them."""
    if millivolts >= 2650:
        return 3
    if millivolts >= 2550:
        return 2
    if millivolts > 2500:
        return 1
    return 0


def encode_lht65n(values: Mapping[str, float]) -> tuple[int, bytes]:
    """With ``external_temperature`` the frame says an E1 probe is fitted, else none.

    The battery status bits are derived from the voltage, as the device does.
    """
    mv = _millivolts(values)
    status = _status(mv)
    temperature = round(values["temperature"] * 100) if "temperature" in values else ABSENT
    if "external_temperature" in values:
        ext, ext_value = EXT_TEMPERATURE, round(values["external_temperature"] * 100)
    else:
        ext, ext_value = EXT_NONE, ABSENT
    frame = struct.pack(
        ">HhHBhH",
        (status << 14) | mv,
        temperature,
        round(values["relative_humidity"] * 10),
        ext,
        ext_value,
        ABSENT,
    )
    return F_PORT, frame


def encode_laq4(values: Mapping[str, float]) -> tuple[int, bytes]:
    frame = struct.pack(
        ">HBHHhH",
        _millivolts(values, 3.6),
        (LAQ4_MEASURE << 2) | (1 if values.get("alarm", 0) else 0),
        round(values["tvoc"]),
        round(values["co2"]),
        round(values["temperature"] * 10),
        round(values["relative_humidity"] * 10),
    )
    return F_PORT, frame
