"""Dingtek DC520 data frames (see ``decoders.families.dingtek`` for the layout).

The balance is ``people_count`` if given, else in minus out. The supply-voltage word is
filled as hundredths of a volt, the convention of the DC510 sibling; the decoder does not
read it (its DC520 scale is unpublished).
"""

from __future__ import annotations

import struct
from collections.abc import Mapping

F_PORT = 3

_FRAME = struct.Struct(">BHBBHHHHHBHB")


def _clamp(value: float, low: int, high: int) -> int:
    return min(max(round(value), low), high)


def encode_dc520(values: Mapping[str, float]) -> tuple[int, bytes]:
    people_in = _clamp(values.get("people_in", 0), 0, 0xFFFF)
    people_out = _clamp(values.get("people_out", 0), 0, 0xFFFF)
    balance = _clamp(values.get("people_count", people_in - people_out), 0, 0xFFFF)
    payload = _FRAME.pack(
        0x80,
        0x0052,
        0x02,
        _FRAME.size,
        balance,
        people_in,
        people_out,
        0,
        _clamp(values.get("battery_voltage", 5.0) * 100, 0, 0xFFFF),
        _clamp(values.get("error_code", 0), 0, 0xFF),
        _clamp(values.get("frame_counter", 0), 0, 0xFFFF),
        0x81,
    )
    return F_PORT, payload
