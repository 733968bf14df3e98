"""The InfluxDB schema: a contract the bridge writes and the API, insights and dashboards read.

- ``climate``, ``air_quality``, ``footfall``: canonical quantities, one point per
  uplink per measurement that has values. Fields are always floats.
- ``uplink``: one point per accepted uplink: ``f_cnt``, ``f_port``, ``gateways``
  (integers), ``rssi``, ``snr`` (best gateway, floats), and the device's
  ``battery_voltage``/``battery_percent`` when it reports them.
- ``dead_letter``: one point per rejected event, tag ``reason`` (an error code),
  fields ``error``, ``topic``, ``payload_hex``, ``f_port``.
- ``device_status``: what an accepted uplink says besides readings, one point
  per item, tags ``kind`` and ``item`` (see ``STATUS_KINDS``), fields
  ``value`` (always, a string), ``number`` (float, when the item is a finite
  number), ``note`` (string: why, when there is a why) and ``f_port`` (int).
  Fixed field types, so status values of any type from any model never
  conflict in InfluxDB.
- Tags on all of them: ``dev_eui``, ``model``, ``site``, ``privacy``
  (``public`` | ``home``) and ``need``. Timestamp: the event time in ns, so a
  replayed event overwrites itself instead of adding points. Readings of a
  history frame (and the values withheld from it) are at the frame's own time,
  derived from the event time and the payload alone, so a replay is just as
  idempotent; battery values of such frames are ``uplink`` points without link
  fields, so ``count("f_cnt")`` still counts uplinks.
"""

from __future__ import annotations

from typing import Final, Literal

from core.needs import NEEDS, Need
from core.quantities import CANONICAL_UNITS

__all__ = [
    "CANONICAL_UNITS",
    "NEEDS",
    "NEED_MEASUREMENT",
    "QUANTITY_MEASUREMENT",
    "STATUS_KINDS",
    "TAG_KEYS",
    "Need",
]

CLIMATE: Final = "climate"
AIR_QUALITY: Final = "air_quality"
FOOTFALL: Final = "footfall"
UPLINK: Final = "uplink"
DEAD_LETTER: Final = "dead_letter"
DAMP_RISK: Final = "damp_risk"
DAQI: Final = "daqi"
FOOTFALL_COUNTS: Final = "footfall_counts"
DEVICE_STATUS: Final = "device_status"
#: One point per device per fleet-health run (insights.fleet): link/battery/radio states.
DEVICE_HEALTH: Final = "device_health"

READING_MEASUREMENTS: Final = (CLIMATE, AIR_QUALITY, FOOTFALL)

TAG_KEYS: Final = ("dev_eui", "model", "site", "privacy", "need")
#: Tag of the derived measurements (``damp_risk``, ``daqi``, ``footfall_counts``):
#: ``device`` for one device's series, ``site`` for a site's (no ``dev_eui``/``model``).
LEVEL_TAG: Final = "level"
LEVEL_DEVICE: Final = "device"
LEVEL_SITE: Final = "site"


#: Rollups (``insights.rollups``): hourly and daily statistics of the canonical quantities
#: (and the uplink's link and battery fields), in ``<measurement>_1h`` and ``<measurement>_1d``,
#: fields ``<field>_<stat>``. Device level (``LEVEL_TAG`` = ``device``, ``TAG_KEYS`` as the raw
#: points): ``count``, ``sum``, ``min``, ``max`` (mean = sum / count), which merge exactly
#: over any whole hours or days (``f_cnt``: ``count`` only, the number of uplinks). Site level
#: (``LEVEL_SITE``, public devices' readings only, tags ``site`` and ``privacy``): the same
#: four, hourly and daily, and hourly ``median`` and ``p95`` of all the site's values in the
#: hour, exact for that site-hour and for nothing longer (a median of medians is not one).
ROLLUP_SOURCES: Final = (*READING_MEASUREMENTS, UPLINK)
ROLLUP_HOURLY: Final[dict[str, str]] = {m: f"{m}_1h" for m in ROLLUP_SOURCES}
ROLLUP_DAILY: Final[dict[str, str]] = {m: f"{m}_1d" for m in ROLLUP_SOURCES}
ROLLUP_ADDITIVE: Final = ("count", "sum", "min", "max")
ROLLUP_QUANTILES: Final = ("median", "p95")
#: Uplink fields rolled up besides its battery quantities.
ROLLUP_LINK_FIELDS: Final = ("f_cnt", "rssi", "snr")


def rollup_fields(measurement: str) -> tuple[str, ...]:
    """The raw fields of ``measurement`` that have rollups: its canonical quantities (and the
    link fields of ``uplink``); other decoder fields are aggregated from raw data."""
    if measurement not in ROLLUP_SOURCES:
        return ()
    fields = {
        q
        for q, where in QUANTITY_MEASUREMENT.items()
        if where == measurement and q != "battery_low"
    }
    if measurement == UPLINK:
        fields |= set(ROLLUP_LINK_FIELDS)
    return tuple(sorted(fields))


def rollup_stats(measurement: str, field: str) -> tuple[str, ...]:
    """The device-level statistics kept of ``field``: ``count`` alone for ``f_cnt``."""
    return ("count",) if (measurement, field) == (UPLINK, "f_cnt") else ROLLUP_ADDITIVE


def rollup_field(field: str, stat: str) -> str:
    """The rollup field holding ``stat`` of raw ``field``: ``temperature_p95``."""
    return f"{field}_{stat}"


def device_tags(dev_eui: str, model: str, site: str, privacy: str, need: str) -> dict[str, str]:
    """The tag set of every point about one device: ``TAG_KEYS`` with their values."""
    return {"dev_eui": dev_eui, "model": model, "site": site, "privacy": privacy, "need": need}


def site_tags(site: str, privacy: str, need: str) -> dict[str, str]:
    """The tag set of a derived site-level point (``LEVEL_TAG`` = ``site``)."""
    return {LEVEL_TAG: LEVEL_SITE, "site": site, "privacy": privacy, "need": need}


#: ``device_status`` tags besides TAG_KEYS, and what ``kind`` and ``item`` hold:
#: - ``status``: an item the decoder reports (firmware, settings, alarms); ``item``
#:   is its name, ``value`` its value.
#: - ``unknown``: bytes the decoder did not decode; ``item`` is the offset in the
#:   payload, ``value`` the hex, ``note`` the decoder's remark.
#: - ``withheld``: a reading kept out because it is outside its field's physical
#:   range (or its time cannot be placed); ``item`` is the field, ``value`` and
#:   ``number`` the value, ``note`` the reason. At the frame's own time.
#: - ``clock``: the device's clock was not believable; ``item`` is ``device_time``,
#:   ``value`` the raw device time (RFC 3339), ``number`` it in seconds since the
#:   epoch, ``note`` what was done.
STATUS_TAG_KEYS: Final = ("kind", "item")
STATUS_KINDS: Final = ("status", "unknown", "withheld", "clock")

Privacy = Literal["public", "home"]
PRIVACY_PUBLIC: Final = "public"
PRIVACY_HOME: Final = "home"

#: The ``need`` tag's values (defined in core: decoders declare them too).
NEED_DAMP: Final = "damp"
NEED_AIR_QUALITY: Final = "air_quality"
NEED_FOOTFALL: Final = "footfall"

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
    "battery_low": UPLINK,
}

#: Where a model's non-canonical extra fields go, by the model's need.
NEED_MEASUREMENT: Final[dict[str, str]] = {
    NEED_DAMP: CLIMATE,
    NEED_AIR_QUALITY: AIR_QUALITY,
    NEED_FOOTFALL: FOOTFALL,
}


def measurement_of(field: str, need: str) -> str:
    """The measurement a field of a ``need`` model is stored in (the bridge writes, the API reads)."""
    return QUANTITY_MEASUREMENT.get(field) or NEED_MEASUREMENT[need]
