"""uRADMonitor INDUSTRIAL frames (see ``decoders.families.uradmonitor`` for the layout).

Gases given (o3, no2, so2, co, h2s, nh3, cl2, in that order) fill the four gas slots; unused
slots get ID 0 (empty). The last byte is a check byte whose algorithm uRADMonitor does not
publish and the decoder does not verify; it is sent as 0.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping

F_PORT = 1
DEVICE_ID = 0x1400008E
HARDWARE = 6
FIRMWARE = 78

_HEAD = struct.Struct(">IBBI10x")
_BODY = struct.Struct(">HHBBHB" + "BBH" * 4 + "BHB")
_GAS_IDS = {"o3": 0x2A, "no2": 0x2C, "so2": 0x2B, "co": 0x04, "h2s": 0x03, "nh3": 0x02, "cl2": 0x31}


def _clamp(value: float, low: int, high: int) -> int:
    return min(max(round(value), low), high)


def _di(value: float, scale: int, sign_bit: int) -> int:
    """Sign-magnitude: magnitude in the low bits, top bit set for negative values."""
    magnitude = _clamp(abs(value) * scale, 0, sign_bit - 1)
    return magnitude | sign_bit if value < 0 and magnitude else magnitude


def encode_industrial(values: Mapping[str, float]) -> tuple[int, bytes]:
    slots: list[int] = []
    for name, gas_id in _GAS_IDS.items():
        if name in values and len(slots) < 12:
            conc = _di(values[name], 1000, 0x800000)
            slots += [gas_id, conc >> 16, conc & 0xFFFF]
    slots += [0, 0, 0] * ((12 - len(slots)) // 3)
    voc = _clamp(values.get("voc_resistance", 200_000), 0, 0xFFFFFF)
    pm2_5 = _clamp(values.get("pm2_5", 0), 0, 0xFFFF)
    body = _BODY.pack(
        _di(values.get("temperature", 20.0), 100, 0x8000),
        _clamp(values.get("pressure", 1013.25) * 100 - 65535, 0, 0xFFFF),
        _clamp(values.get("relative_humidity", 50.0) * 2, 0, 255),
        voc >> 16,
        voc & 0xFFFF,
        _clamp(values.get("sound_level", 50.0) * 2, 0, 255),
        *slots,
        _clamp(pm2_5 - values.get("pm1_0", pm2_5), 0, 255),
        pm2_5,
        _clamp(values.get("pm10", pm2_5) - pm2_5, 0, 255),
    )
    head = _HEAD.pack(DEVICE_ID, HARDWARE, FIRMWARE, 0)
    return F_PORT, head + body + b"\x00"
