"""Laird Sentrius RS1xx Temp/RH frames (see ``decoders.families.laird`` for the layout).

Temperature or humidity given: the periodic 0x01 "Temp and RH data" notification. Only a
battery voltage given: the 0x0A battery voltage report.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping

F_PORT = 1

_TEMP_RH = struct.Struct(">BBBBbbBHH")
_VOLTAGE = struct.Struct(">BBbb")


def _split(value: float, low: float, high: float) -> tuple[int, int]:
    """(integer, fraction/100) with the fraction taking the integer's sign, as the sensor sends."""
    hundredths = round(min(max(value, low), high) * 100)
    integer = int(hundredths / 100)
    return integer, hundredths - integer * 100


def encode_rs1xx_temp_rh(values: Mapping[str, float]) -> tuple[int, bytes]:
    if "temperature" not in values and "relative_humidity" not in values:
        v_int, v_frac = _split(values.get("battery_voltage", 3.0), 0, 4)
        return F_PORT, _VOLTAGE.pack(0x0A, 0, v_frac, v_int)
    t_int, t_frac = _split(values.get("temperature", 20.0), -40, 85)
    h_int, h_frac = _split(values.get("relative_humidity", 50.0), 0, 100)
    band = min(max(round(values.get("battery_band", 5)), 0), 5)
    return F_PORT, _TEMP_RH.pack(0x01, 0, h_frac, h_int, t_frac, t_int, band, 0, 0)
