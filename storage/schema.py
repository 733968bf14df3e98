"""The InfluxDB schema: a contract the bridge writes and the API, insights and dashboards read.

- ``climate``, ``air_quality``, ``footfall``: canonical quantities, one point per
  uplink per measurement that has values. Fields are always floats.
- ``uplink``: one point per accepted uplink: ``f_cnt``, ``f_port``, ``gateways``
  (integers), ``rssi``, ``snr`` (best gateway, floats), and the device's
  ``battery_voltage``/``battery_percent`` when it reports them.
- ``dead_letter``: one point per rejected event, tag ``reason`` (an error code),
  fields ``error``, ``topic``, ``payload_hex``, ``f_port``.
- Tags on all of them: ``dev_eui``, ``model``, ``site``, ``privacy``
  (``public`` | ``home``) and ``need``. Timestamp: the event time in ns, so a
  replayed event overwrites itself instead of adding points.
"""

from __future__ import annotations

from typing import Final, Literal

from core.quantities import CANONICAL_UNITS

__all__ = ["CANONICAL_UNITS", "QUANTITY_MEASUREMENT", "NEED_MEASUREMENT"]

CLIMATE: Final = "climate"
AIR_QUALITY: Final = "air_quality"
FOOTFALL: Final = "footfall"
UPLINK: Final = "uplink"
DEAD_LETTER: Final = "dead_letter"
DAMP_RISK: Final = "damp_risk"
DAQI: Final = "daqi"
FOOTFALL_COUNTS: Final = "footfall_counts"
#: One point per device per fleet-health run (insights.fleet): link/battery/radio states.
DEVICE_HEALTH: Final = "device_health"

READING_MEASUREMENTS: Final = (CLIMATE, AIR_QUALITY, FOOTFALL)

TAG_KEYS: Final = ("dev_eui", "model", "site", "privacy", "need")

Privacy = Literal["public", "home"]
PRIVACY_PUBLIC: Final = "public"
PRIVACY_HOME: Final = "home"

Need = Literal["damp", "air_quality", "footfall"]
NEEDS: Final = ("damp", "air_quality", "footfall")

#: Where each canonical quantity is stored. Battery state is link/device health.
QUANTITY_MEASUREMENT: Final[dict[str, str]] = {
    "temperature": CLIMATE,
    "relative_humidity": CLIMATE,
    "pressure": CLIMATE,
    "illuminance": CLIMATE,
    "sound_level": CLIMATE,
    "co2": AIR_QUALITY,
    "tvoc": AIR_QUALITY,
    "pm1_0": AIR_QUALITY,
    "pm2_5": AIR_QUALITY,
    "pm10": AIR_QUALITY,
    "no2": AIR_QUALITY,
    "o3": AIR_QUALITY,
    "people_in": FOOTFALL,
    "people_out": FOOTFALL,
    "people_count": FOOTFALL,
    "occupancy": FOOTFALL,
    "motion": FOOTFALL,
    "battery_voltage": UPLINK,
    "battery_percent": UPLINK,
}

#: Where a model's non-canonical extra fields go, by the model's need.
NEED_MEASUREMENT: Final[dict[str, str]] = {
    "damp": CLIMATE,
    "air_quality": AIR_QUALITY,
    "footfall": FOOTFALL,
}
