"""Decentlab protocol v2: a bit mask says which sensors are in the frame.

Datasheets: https://www.decentlab.com/support (DL-SHT35:
https://cdn.decentlab.com/download/datasheets/Decentlab-DL-SHT35-datasheet.pdf, DL-PM:
https://cdn.decentlab.com/download/datasheets/Decentlab-DL-PM-datasheet.pdf). Uplinks on fPort 1,
all words big-endian::

    V DD FF [W W ...]
    V  uint8   protocol version, always 2
    D  uint16  device id (serial number; not a reading, not returned)
    F  uint16  sensor flags: bit i set = sensor i's words follow, in bit order
    W  uint16  the present sensors' raw words

Per model, sensor i and its words (x = raw word):

DL-SHT35
    0: 2 words  temperature = 175·x/65535 − 45 °C, relative_humidity = 100·x/65535 %
    1: 1 word   battery_voltage = x/1000 V

DL-PM
    0: 1 word   battery_voltage = x/1000 V
    1: 10 words PM1.0, PM2.5, PM4, PM10 mass (x/10 µg/m³); typical particle size (x nm);
                PM0.5, PM1.0, PM2.5, PM4, PM10 number concentration (x/10 1/cm³)
    2: 2 words  temperature = 175.72·x/65536 − 46.85 °C, relative_humidity = 125·x/65536 − 6 %
    3: 1 word   pressure = 2·x Pa (returned in hPa)

The DL-PM humidity formula (Sensirion SHT2x style) can land a little outside 0–100 % at the
extremes; the sensor maker says to clip such results, so values within 3 %RH of the limits are
clipped and anything further out is left for the range check to reject.

A frame shorter than its flags say is a ``PayloadLengthError``; a wrong version is an
``IntegrityError``. Sensors are sent in bit order, so the words of a sensor this model does not
have (a flag above the model's own) follow the known ones: the known sensors are decoded, the
extra flags go to status (``unknown_sensor_flags``) and the extra words are reported as an
undecoded part; bytes after the last word the flags announce are reported the same way.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from itertools import compress

from core.errors import IntegrityError, PayloadLengthError, UnsupportedPortError
from decoders.frames import Uplink
from decoders.spec import DecodedUplink, DecoderSpec, FieldSpec, Reading

__all__ = ["DL_PM", "DL_SHT35", "decode_dl_pm", "decode_dl_sht35"]

VERSION = 2
F_PORT = 1
_HEADER = struct.Struct(">BHH")
_HEADER_LEN = _HEADER.size

#: (field name, divisor, offset): value = raw / divisor + offset (division keeps x/10 exact).
Conversion = tuple[str, float, float]

#: One sensor: the conversions of its words, in frame order.
Sensor = tuple[Conversion, ...]


@dataclass(frozen=True)
class _Plan:
    """Everything needed to decode one flags value, built once at import."""

    length: int
    words: struct.Struct
    conversions: tuple[Conversion, ...]


def _plans(sensors: tuple[Sensor, ...]) -> dict[int, _Plan]:
    """One precompiled plan per possible flags value, so decoding is a dict lookup + one unpack."""
    plans: dict[int, _Plan] = {}
    for flags in range(1 << len(sensors)):
        present = list(compress(sensors, ((flags >> i) & 1 for i in range(len(sensors)))))
        conversions = tuple(c for sensor in present for c in sensor)
        plans[flags] = _Plan(
            length=_HEADER_LEN + 2 * len(conversions),
            words=struct.Struct(">" + "H" * len(conversions)),
            conversions=conversions,
        )
    return plans


_SHT3X_T = ("temperature", 65535 / 175, -45.0)
_SHT3X_RH = ("relative_humidity", 65535 / 100, 0.0)
_SHT2X_T = ("temperature", 65536 / 175.72, -46.85)
_SHT2X_RH = ("relative_humidity", 65536 / 125, -6.0)
_BATTERY = ("battery_voltage", 1000.0, 0.0)

SHT35_SENSORS: tuple[Sensor, ...] = ((_SHT3X_T, _SHT3X_RH), (_BATTERY,))
PM_SENSORS: tuple[Sensor, ...] = (
    (_BATTERY,),
    (
        ("pm1_0", 10.0, 0.0),
        ("pm2_5", 10.0, 0.0),
        ("pm4_0", 10.0, 0.0),
        ("pm10", 10.0, 0.0),
        ("typical_particle_size", 1.0, 0.0),
        ("pm0_5_number", 10.0, 0.0),
        ("pm1_0_number", 10.0, 0.0),
        ("pm2_5_number", 10.0, 0.0),
        ("pm4_0_number", 10.0, 0.0),
        ("pm10_number", 10.0, 0.0),
    ),
    (_SHT2X_T, _SHT2X_RH),
    (("pressure", 50.0, 0.0),),
)

_RH_CLIP_MARGIN = 3.0


def _make_decoder(
    sensors: tuple[Sensor, ...], clip_humidity: bool
) -> Callable[[int, bytes], Reading | DecodedUplink]:
    plans = _plans(sensors)
    all_flags = (1 << len(sensors)) - 1

    def decode(f_port: int, payload: bytes) -> Reading | DecodedUplink:
        if f_port != F_PORT:
            raise UnsupportedPortError(f"Decentlab sends readings on fPort {F_PORT}")
        if len(payload) < _HEADER_LEN:
            raise PayloadLengthError(f"{len(payload)} bytes, header alone is {_HEADER_LEN}")
        version, _device_id, flags = _HEADER.unpack_from(payload)
        if version != VERSION:
            raise IntegrityError(f"protocol version {version}, expected {VERSION}")
        plan = plans[flags & all_flags]
        if len(payload) < plan.length:
            raise PayloadLengthError(
                f"{len(payload)} bytes, flags 0x{flags:04x} need {plan.length}"
            )
        extra = flags & ~all_flags
        up = None
        if extra or len(payload) > plan.length:
            # Sensors this model lacks have higher bits, so their words follow ours.
            up = Uplink()
            if extra:
                up.set("unknown_sensor_flags", f"0x{extra:04x}")
            up.skip(payload, plan.length, note="words of sensors this model does not have")
        reading = {
            name: raw / divisor + offset
            for (name, divisor, offset), raw in zip(
                plan.conversions, plan.words.unpack_from(payload, _HEADER_LEN), strict=True
            )
        }
        if clip_humidity and "relative_humidity" in reading:
            rh = reading["relative_humidity"]
            if 100.0 < rh <= 100.0 + _RH_CLIP_MARGIN:
                reading["relative_humidity"] = 100.0
            elif -_RH_CLIP_MARGIN <= rh < 0.0:
                reading["relative_humidity"] = 0.0
        if up is None:
            return reading
        up.now.update(reading)
        return up.result()

    return decode


decode_dl_sht35 = _make_decoder(SHT35_SENSORS, clip_humidity=False)
decode_dl_pm = _make_decoder(PM_SENSORS, clip_humidity=True)

_T = FieldSpec("temperature", "degC", -40.0, 125.0, "SHT3x/SHT2x operating range")
_RH = FieldSpec("relative_humidity", "%", 0.0, 100.0)
_BAT = FieldSpec("battery_voltage", "V", 0.0, 5.0, "2 × AA or Li-SOCl2 pack")

DL_SHT35 = DecoderSpec(
    key="decentlab-dl-sht35",
    vendor="Decentlab",
    model="DL-SHT35",
    need="damp",
    f_ports=frozenset({F_PORT}),
    fields=(_T, _RH, _BAT),
    doc_url="https://cdn.decentlab.com/download/datasheets/Decentlab-DL-SHT35-datasheet.pdf",
    decode=decode_dl_sht35,
    frame_kinds=frozenset({"readings", "status"}),
)

_PM_MASS = "µg/m³ mass concentration, Sensirion SPS30 range"
_PM_NUMBER = "number concentration, Sensirion SPS30 range"
DL_PM = DecoderSpec(
    key="decentlab-dl-pm",
    vendor="Decentlab",
    model="DL-PM",
    need="air_quality",
    f_ports=frozenset({F_PORT}),
    fields=(
        _BAT,
        FieldSpec("pm1_0", "ug/m3", 0.0, 1000.0, _PM_MASS),
        FieldSpec("pm2_5", "ug/m3", 0.0, 1000.0, _PM_MASS),
        FieldSpec("pm4_0", "ug/m3", 0.0, 1000.0, _PM_MASS),
        FieldSpec("pm10", "ug/m3", 0.0, 1000.0, _PM_MASS),
        FieldSpec("typical_particle_size", "nm", 0.0, 10000.0),
        FieldSpec("pm0_5_number", "1/cm3", 0.0, 3000.0, _PM_NUMBER),
        FieldSpec("pm1_0_number", "1/cm3", 0.0, 3000.0, _PM_NUMBER),
        FieldSpec("pm2_5_number", "1/cm3", 0.0, 3000.0, _PM_NUMBER),
        FieldSpec("pm4_0_number", "1/cm3", 0.0, 3000.0, _PM_NUMBER),
        FieldSpec("pm10_number", "1/cm3", 0.0, 3000.0, _PM_NUMBER),
        _T,
        _RH,
        FieldSpec("pressure", "hPa", 300.0, 1100.0, "barometric, absolute"),
    ),
    doc_url="https://cdn.decentlab.com/download/datasheets/Decentlab-DL-PM-datasheet.pdf",
    decode=decode_dl_pm,
    frame_kinds=frozenset({"readings", "status"}),
)
