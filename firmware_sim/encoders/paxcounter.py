"""ESP32-Paxcounter packed frames (see ``decoders.families.paxcounter`` for the layout).

One uplink per call, chosen by the values given: counts (fPort 1) if any count is given,
else environment (fPort 7) if a climate value is given, else battery (fPort 8). A bare
``people_count`` is sent as Wi-Fi devices with a BLE count of 0.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping

_COUNTS = struct.Struct("<HH")
_ENV = struct.Struct(">h")
_ENV_REST = struct.Struct("<HHH")
_U16 = struct.Struct("<H")


def _clamp(value: float, low: int, high: int) -> int:
    return min(max(round(value), low), high)


def encode_paxcounter(values: Mapping[str, float]) -> tuple[int, bytes]:
    if any(k in values for k in ("people_count", "wifi_devices", "ble_devices")):
        ble = _clamp(values.get("ble_devices", 0), 0, 0xFFFF)
        wifi = values.get("wifi_devices", values.get("people_count", 0) - ble)
        return 1, _COUNTS.pack(_clamp(wifi, 0, 0xFFFF), ble)
    if any(k in values for k in ("temperature", "pressure", "relative_humidity", "iaq")):
        payload = _ENV.pack(_clamp(values.get("temperature", 20.0) * 100, -32768, 32767))
        payload += _ENV_REST.pack(
            _clamp(values.get("pressure", 1013.0) * 10, 0, 0xFFFF),
            _clamp(values.get("relative_humidity", 50.0) * 100, 0, 0xFFFF),
            _clamp(values.get("iaq", 0.0) * 100, 0, 0xFFFF),
        )
        return 7, payload
    return 8, _U16.pack(_clamp(values.get("battery_voltage", 0.0) * 1000, 0, 0xFFFF))
