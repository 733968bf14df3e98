"""Milesight channel/type encoder: values in, the ``ID TYPE DATA`` frame the device sends.

Layouts as in ``decoders.families.milesight`` (little-endian, fPort 85). Only the values
given are written, in the device's own channel order. Measurements outside what a field
can hold saturate at its limits; running totals wrap at the field's width, as the
device's counters do.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping, Sequence

F_PORT = 85

Encode = Callable[[Mapping[str, float]], tuple[int, bytes]]
#: (channel id, type, struct format, ((field, multiplier, low, high, wraps), ...))
_Record = tuple[int, int, str, tuple[tuple[str, float, int, int, bool], ...]]


def _m(name: str, fmt: str, multiplier: float = 1) -> tuple[str, float, int, int, bool]:
    """A saturating measurement of struct type ``fmt``."""
    low, high = _LIMITS[fmt]
    return name, multiplier, low, high, False


def _c(name: str, fmt: str) -> tuple[str, float, int, int, bool]:
    """A wrapping counter of struct type ``fmt``."""
    low, high = _LIMITS[fmt]
    return name, 1, low, high, True


_LIMITS = {"B": (0, 255), "h": (-32768, 32767), "H": (0, 65535), "I": (0, 2**32 - 1)}


def _value(values: Mapping[str, float], field: tuple[str, float, int, int, bool]) -> int:
    name, multiplier, low, high, wraps = field
    raw = round(values.get(name, 0) * multiplier)
    if wraps:
        return raw % (high + 1)
    return min(max(raw, low), high)


def _encoder(records: Sequence[_Record]) -> Encode:
    """Write each record any of whose fields is given; absent fields of a written record are 0."""
    compiled = [(struct.Struct("<BB" + fmt), ch, ty, fields) for ch, ty, fmt, fields in records]

    def encode(values: Mapping[str, float]) -> tuple[int, bytes]:
        parts = [
            st.pack(ch, ty, *(_value(values, f) for f in fields))
            for st, ch, ty, fields in compiled
            if any(f[0] in values for f in fields)
        ]
        return F_PORT, b"".join(parts)

    return encode


_CLIMATE: list[_Record] = [
    (0x01, 0x75, "B", (_m("battery_percent", "B"),)),
    (0x03, 0x67, "h", (_m("temperature", "h", 10),)),
    (0x04, 0x68, "B", (_m("relative_humidity", "B", 2),)),
]

_AM104 = [
    *_CLIMATE,
    (0x05, 0x6A, "H", (_m("activity", "H"),)),
    (
        0x06,
        0x65,
        "HHH",
        (_m("illuminance", "H"), _m("infrared_and_visible", "H"), _m("infrared", "H")),
    ),
]


def _am300(hcho: bool) -> list[_Record]:
    records: list[_Record] = [
        *_CLIMATE,
        (0x05, 0x00, "B", (_m("pir", "B"),)),
        (0x06, 0xCB, "B", (_m("light_level", "B"),)),
        (0x07, 0x7D, "H", (_m("co2", "H"),)),
        (0x08, 0x7D, "H", (_m("tvoc", "H", 100),)),
        (0x09, 0x73, "H", (_m("pressure", "H", 10),)),
    ]
    if hcho:
        records.append((0x0A, 0x7D, "H", (_m("hcho", "H", 100),)))
    records += [
        (0x0B, 0x7D, "H", (_m("pm2_5", "H"),)),
        (0x0C, 0x7D, "H", (_m("pm10", "H"),)),
    ]
    if hcho:
        records.append((0x0D, 0x7D, "H", (_m("o3", "H", 100),)))
    records.append((0x0E, 0x01, "B", (_m("buzzer", "B"),)))
    return records


def _vs133() -> list[_Record]:
    records: list[_Record] = []
    for line in (1, 2, 3, 4):
        names: tuple[str, ...]
        if line == 1:
            names = ("people_in", "people_out", "period_in", "period_out")
        else:
            names = tuple(
                f"line_{line}_{k}" for k in ("total_in", "total_out", "period_in", "period_out")
            )
        base = 3 * line
        records += [
            (base, 0xD2, "I", (_c(names[0], "I"),)),
            (base + 1, 0xD2, "I", (_c(names[1], "I"),)),
            (base + 2, 0xCC, "HH", (_c(names[2], "H"), _c(names[3], "H"))),
        ]
    records.append((0x0F, 0xE3, "BBBB", tuple(_m(f"region_{n}_count", "B") for n in range(1, 5))))
    return records


def _vs121() -> list[_Record]:
    flows = [f"flow_{a}_to_{b}" for a in "abcd" for b in "abcd"]
    return [
        (
            0x04,
            0xC9,
            "BBH",
            (_m("people_count", "B"), _m("regions_enabled", "B"), _m("region_mask", "H")),
        ),
        (0x05, 0xCC, "HH", (_c("period_in", "H"), _c("period_out", "H"))),
        (0x06, 0xCD, "B", (_m("people_count_max", "B"),)),
        (0x07, 0xD5, "8B", tuple(_m(f"region_{n}_count", "B") for n in range(1, 9))),
        (0x08, 0xD5, "8B", tuple(_m(f"region_{n}_count", "B") for n in range(9, 17))),
        *[
            (0x09 + k, 0xDA, "4H", tuple(_c(n, "H") for n in flows[4 * k : 4 * k + 4]))
            for k in range(4)
        ],
        (0x0D, 0xCC, "HH", (_c("people_in", "H"), _c("people_out", "H"))),
    ]


encode_am104 = _encoder(_AM104)
encode_am308 = _encoder(_am300(hcho=False))
encode_am319 = _encoder(_am300(hcho=True))
encode_vs133 = _encoder(_vs133())
encode_vs121 = _encoder(_vs121())
