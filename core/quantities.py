"""Canonical quantity names and units shared by decoders, storage and the API."""

from __future__ import annotations

from typing import Final

#: Canonical quantity -> unit, as in the test vectors' meta.canonical_units
#: (tests/decoders/vectors/device_vectors.json).
CANONICAL_UNITS: Final[dict[str, str]] = {
    "temperature": "degC",
    "relative_humidity": "%",
    "co2": "ppm",
    "tvoc": "vendor unit (recorded per device)",
    "pm1_0": "ug/m3",
    "pm2_5": "ug/m3",
    "pm10": "ug/m3",
    "pressure": "hPa",
    "illuminance": "lux",
    "sound_level": "dBA",
    "no2": "vendor unit (recorded per device)",
    "o3": "vendor unit (recorded per device)",
    "people_in": "count",
    "people_out": "count",
    "people_count": "count",
    "occupancy": "0/1 or count",
    "motion": "count",
    "battery_voltage": "V",
    "battery_percent": "%",
    "battery_low": "0/1",
}
