"""Elsys ERS family encoder: values in, the type-length-value frame an ERS sends out.

Layout as in ``decoders.families.elsys`` (big-endian; temperature int16 x 10, humidity and
motion uint8, light and CO2 uint16, supply voltage uint16 mV, occupancy state uint8).
Only the values given are written, in the device's own record order. Values outside what
a field can hold saturate at its limits, as the sensor's own reading would.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping

F_PORT = 1  # the port of the vendor's published examples; configurable on the device

_TYPE_U8 = struct.Struct(">BB")
_TYPE_I16 = struct.Struct(">Bh")
_TYPE_U16 = struct.Struct(">BH")


def _clamp(value: float, low: int, high: int) -> int:
    return min(max(round(value), low), high)


def _occupancy_state(values: Mapping[str, float]) -> int:
    """Elsys state code: 0 unoccupied, 1 pending, 2 occupied."""
    if "occupancy_state" in values:
        return _clamp(values["occupancy_state"], 0, 2)
    return 2 if values["occupancy"] >= 0.5 else 0


def _encoder(
    co2: bool = False, occupancy: bool = False
) -> Callable[[Mapping[str, float]], tuple[int, bytes]]:
    def encode(values: Mapping[str, float]) -> tuple[int, bytes]:
        """One uplink from canonical values (temperature °C, humidity %, lux, PIR count, V)."""
        parts: list[bytes] = []
        if "temperature" in values:
            parts.append(_TYPE_I16.pack(0x01, _clamp(values["temperature"] * 10, -32768, 32767)))
        if "relative_humidity" in values:
            parts.append(_TYPE_U8.pack(0x02, _clamp(values["relative_humidity"], 0, 100)))
        if "illuminance" in values:
            parts.append(_TYPE_U16.pack(0x04, _clamp(values["illuminance"], 0, 65535)))
        if "motion" in values:
            parts.append(_TYPE_U8.pack(0x05, _clamp(values["motion"], 0, 255)))
        if co2 and "co2" in values:
            parts.append(_TYPE_U16.pack(0x06, _clamp(values["co2"], 0, 10000)))
        if "battery_voltage" in values:
            parts.append(_TYPE_U16.pack(0x07, _clamp(values["battery_voltage"] * 1000, 0, 4000)))
        if occupancy and ("occupancy" in values or "occupancy_state" in values):
            parts.append(_TYPE_U8.pack(0x11, _occupancy_state(values)))
        return F_PORT, b"".join(parts)

    return encode


encode_ers = _encoder()
encode_ers_co2 = _encoder(co2=True)
encode_ers_eye = _encoder(occupancy=True)
