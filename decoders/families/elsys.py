"""Elsys ERS family: a payload is a run of type-length-value records.

Source: Elsys "Sensor payload" document (https://www.elsys.se/en/elsys-payload/,
https://elsys.se/public/documents/Sensor_payload.pdf) and the examples in
TheThingsNetwork/lorawan-devices ``vendor/elsys/*-codec.yaml``. The length is not
sent: it is fixed by the type byte, so a type we do not know makes the rest of the
frame unreadable and the whole frame is refused. Multi-byte values are big-endian.

Records (T = type byte, then the value)::

    T     size  value                                        emitted as
    0x01  2     int16 / 10  °C                               temperature
    0x02  1     uint8  %RH                                   relative_humidity
    0x03  3     int8 x, y, z  (63 = 1 g)                     (not emitted)
    0x04  2     uint16 lux                                   illuminance
    0x05  1     uint8 PIR triggers since last uplink         motion
    0x06  2     uint16 ppm                                   co2
    0x07  2     uint16 mV supply voltage                     battery_voltage (V)
    0x08  2     uint16 mV analog input 1                     (not emitted)
    0x09  6     int24 lat, int24 lon                         (not emitted)
    0x0A  2     uint16 pulse count (relative)                (not emitted)
    0x0B  4     uint32 pulse count (absolute)                (not emitted)
    0x0C  2     int16 / 10 °C external probe                 (not emitted)
    0x0D  1     uint8 digital input                          (not emitted)
    0x0E  2     uint16 mm distance                           (not emitted)
    0x0F  1     uint8 acceleration-motion count              (not emitted)
    0x10  4     int16 / 10, int16 / 10 °C IR int/ext         (not emitted)
    0x11  1     uint8 occupancy: 0 unoccupied, 1 pending     occupancy_state, occupancy
                (entering/leaving), 2 occupied               (1 if 2, 0 if 0, omitted if 1)
    0x12  1     uint8 water leak                             (not emitted)
    0x13  65    uint8 reference + 64 x uint8 Grid-EYE pixels (not emitted)
    0x14  4     uint32 / 1000 hPa                            (not emitted)
    0x15  2     uint8 peak, uint8 average dB                 (not emitted)
    0x16  2     uint16 pulse 2 count (relative)              (not emitted)
    0x17  4     uint32 pulse 2 count (absolute)              (not emitted)
    0x18  2     uint16 mV analog input 2                     (not emitted)
    0x19  2     int16 / 10 °C external probe 2               (not emitted)
    0x1A  1     uint8 digital input 2                        (not emitted)
    0x1B  4     int32 µV analog input                        (not emitted)
    0x1C  2     uint16 ppb TVOC                              (not emitted)
    0x3D  4     debug word                                   (skipped)
    0x3E  1+n   n = next byte, then n bytes of settings      (skipped)

Every type is parsed so a frame can be walked, but each model emits only the
quantities its hardware measures: a value of another type means the device is not
the model it is registered as, and the frame is refused (``IntegrityError``)
rather than stored under the wrong device (the ERS Eye's optional raw Grid-EYE
heat map, 0x13, is walked over). The fPort is configurable per device (NFC setting
``Port``, https://www.elsys.se/en/elsys-nfc-settings-specification/); the vendor examples
use 1, so any application port (1-223) is accepted.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

from core.errors import IntegrityError, PayloadLengthError, UnsupportedPortError
from decoders.spec import Counter, DecoderSpec, FieldSpec, Reading

DOC_URL = "https://www.elsys.se/en/elsys-payload/"
#: The port is a per-device setting (NFC key ``Port``); every application port is accepted.
F_PORTS = frozenset(range(1, 224))

_I16 = struct.Struct(">h")
_U16 = struct.Struct(">H")

_SETTINGS = 0x3E

#: Type byte -> value size, for every type the format defines (used to walk the frame).
_SIZES: dict[int, int] = {
    0x01: 2, 0x02: 1, 0x03: 3, 0x04: 2, 0x05: 1, 0x06: 2, 0x07: 2, 0x08: 2, 0x09: 6,
    0x0A: 2, 0x0B: 4, 0x0C: 2, 0x0D: 1, 0x0E: 2, 0x0F: 1, 0x10: 4, 0x11: 1, 0x12: 1,
    0x13: 65, 0x14: 4, 0x15: 2, 0x16: 2, 0x17: 4, 0x18: 2, 0x19: 2, 0x1A: 1, 0x1B: 4,
    0x1C: 2, 0x3D: 4,
}  # fmt: skip

#: Types no model emits a value for; walked over silently.
_SKIPPED = frozenset({0x3D})

_Emit = Callable[[bytes, int, Reading], None]


def _temperature(p: bytes, i: int, out: Reading) -> None:
    out["temperature"] = _I16.unpack_from(p, i)[0] / 10


def _humidity(p: bytes, i: int, out: Reading) -> None:
    out["relative_humidity"] = p[i]


def _light(p: bytes, i: int, out: Reading) -> None:
    out["illuminance"] = _U16.unpack_from(p, i)[0]


def _motion(p: bytes, i: int, out: Reading) -> None:
    out["motion"] = p[i]


def _co2(p: bytes, i: int, out: Reading) -> None:
    out["co2"] = _U16.unpack_from(p, i)[0]


def _vdd(p: bytes, i: int, out: Reading) -> None:
    out["battery_voltage"] = _U16.unpack_from(p, i)[0] / 1000


def _occupancy(p: bytes, i: int, out: Reading) -> None:
    state = p[i]
    out["occupancy_state"] = state
    if state == 0:
        out["occupancy"] = 0
    elif state == 2:
        out["occupancy"] = 1


_EMITTERS: dict[int, _Emit] = {
    0x01: _temperature,
    0x02: _humidity,
    0x04: _light,
    0x05: _motion,
    0x06: _co2,
    0x07: _vdd,
    0x11: _occupancy,
}


def _walker(
    types: frozenset[int], skipped: frozenset[int] = frozenset()
) -> Callable[[int, bytes], Reading]:
    """A decode function emitting the values of ``types``, walking over ``skipped`` and debug
    records, and refusing every other type."""
    table: dict[int, tuple[int, _Emit | None]] = {}
    for type_, size in _SIZES.items():
        if type_ in types:
            table[type_] = (size, _EMITTERS[type_])
        elif type_ in _SKIPPED or type_ in skipped:
            table[type_] = (size, None)

    def decode(f_port: int, payload: bytes) -> Reading:
        """Walk the TLV records; every record must be known, whole and sent by this model."""
        if f_port not in F_PORTS:
            raise UnsupportedPortError("Elsys uplinks use application ports 1-223")
        if not payload:
            raise PayloadLengthError("empty payload")
        out: Reading = {}
        end = len(payload)
        i = 0
        while i < end:
            type_ = payload[i]
            i += 1
            if type_ == _SETTINGS:
                if i >= end:
                    raise PayloadLengthError("settings record without its length byte")
                i += 1 + payload[i]
                if i > end:
                    raise PayloadLengthError("settings record runs past the end")
                continue
            entry = table.get(type_)
            if entry is None:
                if type_ in _SIZES:
                    raise IntegrityError(f"type 0x{type_:02x} is not sent by this model")
                raise IntegrityError(f"unknown record type 0x{type_:02x} at byte {i - 1}")
            size, emit = entry
            if i + size > end:
                raise PayloadLengthError(f"record 0x{type_:02x} needs {size} bytes, {end - i} left")
            if emit is not None:
                emit(payload, i, out)
            i += size
        return out

    return decode


_TEMPERATURE = FieldSpec("temperature", "degC", -40.0, 85.0, "Internal sensor, 0.1 °C steps")
_HUMIDITY = FieldSpec("relative_humidity", "%", 0.0, 100.0, "1 %RH steps")
_LIGHT = FieldSpec("illuminance", "lux", 0.0, 65535.0)
_MOTION = FieldSpec(
    "motion", "count", 0.0, 255.0, "PIR triggers since the last uplink", Counter(8, "per_period")
)
_CO2 = FieldSpec("co2", "ppm", 0.0, 10000.0, "NDIR sensor, range 0-10000 ppm")
_BATTERY = FieldSpec("battery_voltage", "V", 0.0, 4.0, "Supply voltage (3.6 V lithium cell)")
_OCCUPANCY = FieldSpec(
    "occupancy", "0/1 or count", 0.0, 1.0, "1 occupied, 0 unoccupied (omitted while pending)"
)
_OCCUPANCY_STATE = FieldSpec(
    "occupancy_state", "code", 0.0, 2.0, "0 unoccupied, 1 pending (entering/leaving), 2 occupied"
)

_ERS_TYPES = frozenset({0x01, 0x02, 0x04, 0x05, 0x07})
_ERS_FIELDS = (_TEMPERATURE, _HUMIDITY, _LIGHT, _MOTION, _BATTERY)

decode_ers = _walker(_ERS_TYPES)
decode_ers_co2 = _walker(_ERS_TYPES | {0x06})
decode_ers_eye = _walker(_ERS_TYPES | {0x11}, skipped=frozenset({0x13}))

ERS = DecoderSpec(
    key="elsys-ers",
    vendor="Elsys",
    model="ERS",
    need="damp",
    f_ports=F_PORTS,
    fields=_ERS_FIELDS,
    doc_url=DOC_URL,
    decode=decode_ers,
)

ERS_CO2 = DecoderSpec(
    key="elsys-ers-co2",
    vendor="Elsys",
    model="ERS CO2",
    need="air_quality",
    f_ports=F_PORTS,
    fields=(*_ERS_FIELDS, _CO2),
    doc_url=DOC_URL,
    decode=decode_ers_co2,
)

ERS_EYE = DecoderSpec(
    key="elsys-ers-eye",
    vendor="Elsys",
    model="ERS Eye",
    need="footfall",
    f_ports=F_PORTS,
    fields=(*_ERS_FIELDS, _OCCUPANCY, _OCCUPANCY_STATE),
    doc_url=DOC_URL,
    decode=decode_ers_eye,
)

SPECS = (ERS, ERS_CO2, ERS_EYE)
