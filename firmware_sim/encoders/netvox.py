"""Netvox 11-byte report frames on fPort 6 (see ``decoders.families.netvox`` for the layout)."""

from __future__ import annotations

import struct
from collections.abc import Mapping

F_PORT = 6
VERSION = 0x01
R711_TYPE = 0x01
RA07_TYPE = 0x05
ABSENT = 0xFFFF

#: RA07 report type -> its three words (field, scale); chosen from the first field present.
RA07_REPORTS: dict[int, tuple[tuple[str, float], ...]] = {
    0x01: (("pm1_0", 1.0), ("pm2_5", 1.0), ("pm10", 1.0)),
    0x05: (("o3", 0.1), ("co", 0.1), ("no", 0.1)),
    0x06: (("no2", 0.1), ("so2", 0.1), ("h2s", 0.1)),
    0x07: (("co2", 0.1), ("nh3", 0.1), ("noise", 0.1)),
    0x0C: (("temperature", 0.01), ("relative_humidity", 0.01), ("wind_speed", 0.01)),
    0x0E: (("tvoc", 0.1),),
}


def _battery(values: Mapping[str, float]) -> int:
    """0x00 (DC powered) when no battery_voltage is given."""
    if "battery_voltage" not in values:
        return 0
    tenths = min(max(round(values["battery_voltage"] * 10), 1), 0x7F)
    return tenths | (0x80 if values.get("battery_low", 0) else 0)


def encode_r711(values: Mapping[str, float]) -> tuple[int, bytes]:
    temperature = round(values["temperature"] * 100)
    humidity = round(values["relative_humidity"] * 100)
    frame = struct.pack(
        ">BBBBhHHB", VERSION, R711_TYPE, 0x01, _battery(values), temperature, humidity, 0, 0
    )
    return F_PORT, frame


def encode_ra0715(values: Mapping[str, float]) -> tuple[int, bytes]:
    """One report: ``report_type`` if given, else the first type whose first field is present.

    The device cycles through its report types; a caller that wants more than PM (0x01, first
    in order) passes ``report_type`` (0x01, 0x05, 0x06, 0x07, 0x0C or 0x0E).
    """
    if "report_type" in values:
        report = int(values["report_type"])
    else:
        report = next(r for r, words in RA07_REPORTS.items() if words[0][0] in values)
    raw = []
    for name, scale in RA07_REPORTS[report]:
        raw.append(round(values[name] / scale) & 0xFFFF if name in values else ABSENT)
    raw += [ABSENT] * (3 - len(raw))
    frame = struct.pack(">BBBBHHHB", VERSION, RA07_TYPE, report, _battery(values), *raw, 0)
    return F_PORT, frame
