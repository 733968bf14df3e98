"""Elsys ERS family: a payload is a run of type-length-value records.

Source: Elsys "Sensor payload" document (https://www.elsys.se/en/elsys-payload/,
https://elsys.se/public/documents/Sensor_payload.pdf) and the examples in
TheThingsNetwork/lorawan-devices ``vendor/elsys/*-codec.yaml``. The length is not
sent: it is fixed by the type byte. Multi-byte values are big-endian.

Records (T = type byte, then the value)::

    T     size  value                                        emitted as
    0x01  2     int16 / 10  °C                               temperature
    0x02  1     uint8  %RH                                   relative_humidity
    0x03  3     int8 x, y, z  (63 = 1 g)                     (reported)
    0x04  2     uint16 lux                                   illuminance
    0x05  1     uint8 PIR triggers since last uplink         motion
    0x06  2     uint16 ppm                                   co2
    0x07  2     uint16 mV supply voltage                     battery_voltage (V)
    0x08  2     uint16 mV analog input 1                     (reported)
    0x09  6     int24 lat, int24 lon                         (reported)
    0x0A  2     uint16 pulse count (relative)                (reported)
    0x0B  4     uint32 pulse count (absolute)                (reported)
    0x0C  2     int16 / 10 °C external probe                 (reported)
    0x0D  1     uint8 digital input                          (reported)
    0x0E  2     uint16 mm distance                           (reported)
    0x0F  1     uint8 acceleration-motion count              (reported)
    0x10  4     int16 / 10, int16 / 10 °C IR int/ext         (reported)
    0x11  1     uint8 occupancy: 0 unoccupied, 1 pending     occupancy_state, occupancy
                (entering/leaving), 2 occupied               (1 if 2, 0 if 0, omitted if 1)
    0x12  1     uint8 water leak                             (reported)
    0x13  65    uint8 reference + 64 x uint8 Grid-EYE pixels (reported)
    0x14  4     uint32 / 1000 hPa                            (reported)
    0x15  2     uint8 peak, uint8 average dB                 (reported)
    0x16  2     uint16 pulse 2 count (relative)              (reported)
    0x17  4     uint32 pulse 2 count (absolute)              (reported)
    0x18  2     uint16 mV analog input 2                     (reported)
    0x19  2     int16 / 10 °C external probe 2               (reported)
    0x1A  1     uint8 digital input 2                        (reported)
    0x1B  4     int32 µV analog input                        (reported)
    0x1C  2     uint16 ppb TVOC                              (reported)
    0x3D  4     debug word                                   (reported)
    0x3E  1+n   n = next byte, then n bytes of settings      status settings

Every type is sized so a frame can be walked, but each model emits only the
quantities its hardware measures: a record of another type (a Grid-EYE heat map
0x13 on the ERS Eye, a debug word 0x3D, or a value the registered model does not
measure) is skipped by its known size and reported as an undecoded part (offset,
hex), and the records around it are kept. A type the format does not define has no
known size, so the walk stops there: what came before is kept and the rest is
reported. A frame whose first record is undefined (``IntegrityError``) or cut
short (``PayloadLengthError``) is refused. The settings record 0x3E is device
configuration and is kept as status (``settings``, the hex sent). The fPort is
configurable per device (NFC setting ``Port``,
https://www.elsys.se/en/elsys-nfc-settings-specification/); the vendor examples use
1, so any application port (1-223) is accepted.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

from core.errors import IntegrityError, PayloadLengthError, UnsupportedPortError
from decoders.frames import Uplink
from decoders.spec import Counter, DecodedUplink, DecoderSpec, FieldSpec, Reading

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


def _walker(types: frozenset[int]) -> Callable[[int, bytes], Reading | DecodedUplink]:
    """A decode function emitting the values of ``types``; see the module docstring for
    what happens to the other records."""
    emitters = {t: _EMITTERS[t] for t in types}

    def decode(f_port: int, payload: bytes) -> Reading | DecodedUplink:
        if f_port not in F_PORTS:
            raise UnsupportedPortError("Elsys uplinks use application ports 1-223")
        if not payload:
            raise PayloadLengthError("empty payload")
        up = Uplink()
        out = up.now
        end = len(payload)
        i = 0
        while i < end:
            type_ = payload[i]
            if type_ == _SETTINGS:
                size = 1 + payload[i + 1] if i + 1 < end else end
            else:
                size = _SIZES.get(type_, -1)
            if size < 0 or i + 1 + size > end:
                if i == 0:
                    if size < 0:
                        raise IntegrityError(f"unknown record type 0x{type_:02x} at byte 0")
                    raise PayloadLengthError(f"record 0x{type_:02x} needs {size} bytes")
                what = "unknown type" if size < 0 else "cut off"
                up.skip(payload, i, note=f"record 0x{type_:02x}: {what}")
                break
            emit = emitters.get(type_)
            if emit is not None:
                emit(payload, i + 1, out)
            elif type_ == _SETTINGS:
                up.set("settings", payload[i + 2 : i + 1 + size].hex())
            else:
                up.skip(
                    payload, i, i + 1 + size, f"record 0x{type_:02x} not decoded for this model"
                )
            i += 1 + size
        return up.result()

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
decode_ers_eye = _walker(_ERS_TYPES | {0x11})

ERS = DecoderSpec(
    key="elsys-ers",
    vendor="Elsys",
    model="ERS",
    need="damp",
    f_ports=F_PORTS,
    fields=_ERS_FIELDS,
    doc_url=DOC_URL,
    decode=decode_ers,
    frame_kinds=frozenset({"readings", "status"}),
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
    frame_kinds=frozenset({"readings", "status"}),
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
    frame_kinds=frozenset({"readings", "status"}),
)

SPECS = (ERS, ERS_CO2, ERS_EYE)
