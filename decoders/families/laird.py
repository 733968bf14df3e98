"""Laird (Ezurio) Sentrius RS1xx Temp/RH: one uplink per message type, all on fPort 1.

Source: Laird Connectivity "RS1xx LoRa Protocol" application note (CS-AN-RS1xx,
v2.x, https://www.ezurio.com/documentation/application-note-rs1xx-lora-protocol)
and the examples in TheThingsNetwork/lorawan-devices
``vendor/laird/rs1xx-temp-rh-sensor-codec.yaml``. Byte 0 is the message type,
byte 1 the options bit field (server requests; ignored). A reading is split into a
fractional and an integer part, fraction first: value = integer + fraction / 100,
both signed for temperature and voltage (-15.87 °C is -87, -15). Multi-byte
counters are big-endian.

0x01 "Send Temp and RH Data Notification" (the periodic reading), 11 bytes::

    byte  0   0x01
    byte  1   options
    byte  2   h   uint8 humidity fraction (0..99)
    byte  3   H   uint8 humidity integer                        relative_humidity = H + h/100
    byte  4   t   int8 temperature fraction (-99..99)
    byte  5   T   int8 temperature integer                      temperature = T + t/100
    byte  6   B   battery capacity band: 0 = 0-5 %, 1 = 5-20 %,  battery_band (0..5)
                  2 = 20-40 %, 3 = 40-60 %, 4 = 60-80 %, 5 = 80-100 %
    7..8      A   uint16 alarm messages sent                    (not emitted)
    9..10     K   uint16 backlog messages stored                (not emitted)

0x0A "Send Battery Voltage", 4 bytes::

    byte 0 0x0A, byte 1 options, byte 2 int8 fraction v, byte 3 int8 integer V
                                                                battery_voltage = V + v/100

Message types 0x02 (aggregated readings) and 0x03/0x04 (backlog) carry readings
stamped with the sensor's own clock: the decode contract returns one reading at the
uplink's time, so storing them would misdate them — they are refused with
``UnsupportedPortError``, as are 0x05/0x06 (configuration) and 0x07 (firmware
version), which carry no readings. Any other type is not a Temp/RH frame
(``IntegrityError``). A fraction outside ±99, or one whose sign disagrees with the
integer part, cannot come from the sensor and is an ``IntegrityError``. The sensor
can instead be set to send Cayenne LPP (channel 1 type 0x67 temperature, channel 2
type 0x68 humidity, channel 3 analog battery); such a frame is recognised by its
type bytes 0x67 at byte 1 and 0x02 0x68 at bytes 4..5 (as a Laird frame that would
be a temperature of 104.02 °C) and refused (``IntegrityError``) rather than misread.
"""

from __future__ import annotations

import struct

from core.errors import IntegrityError, PayloadLengthError, UnsupportedPortError
from decoders.spec import DecoderSpec, FieldSpec, Reading

DOC_URL = "https://www.ezurio.com/documentation/application-note-rs1xx-lora-protocol"
F_PORT = 1

TEMP_RH = 0x01
BATTERY_VOLTAGE = 0x0A

#: type, options, rh fraction, rh integer, temp fraction, temp integer, battery band,
#: alarm count, backlog count
_TEMP_RH = struct.Struct(">BBBBbbBHH")
#: type, options, voltage fraction, voltage integer
_VOLTAGE = struct.Struct(">BBbb")

_NO_READINGS: dict[int, str] = {
    0x02: "aggregated readings carry the sensor's own timestamps",
    0x03: "backlog reading carries the sensor's own timestamp",
    0x04: "backlog readings carry the sensor's own timestamps",
    0x05: "simple configuration report, no readings",
    0x06: "advanced configuration report, no readings",
    0x07: "firmware version report, no readings",
}


def _split_value(integer: int, fraction: int) -> float:
    """integer + fraction / 100, refusing fractions the sensor cannot send."""
    if not -99 <= fraction <= 99 or integer * fraction < 0:
        raise IntegrityError(f"fractional part {fraction} does not fit integer part {integer}")
    return integer + fraction / 100


def decode(f_port: int, payload: bytes) -> Reading:
    """Decode the periodic Temp/RH notification or the battery voltage report."""
    if f_port != F_PORT:
        raise UnsupportedPortError("RS1xx uplinks are sent on fPort 1")
    if not payload:
        raise PayloadLengthError("empty payload")
    kind = payload[0]
    if payload[1:2] == b"\x67" and payload[4:6] == b"\x02\x68":
        raise IntegrityError("Cayenne LPP frame: set the sensor to the Laird protocol")
    if kind == TEMP_RH:
        if len(payload) != _TEMP_RH.size:
            raise PayloadLengthError(f"type 0x01 is {_TEMP_RH.size} bytes, got {len(payload)}")
        _, _, rh_frac, rh_int, t_frac, t_int, band, _, _ = _TEMP_RH.unpack(payload)
        if rh_frac > 99:
            raise IntegrityError(f"humidity fraction {rh_frac} above 99")
        return {
            "temperature": _split_value(t_int, t_frac),
            "relative_humidity": rh_int + rh_frac / 100,
            "battery_band": band,
        }
    if kind == BATTERY_VOLTAGE:
        if len(payload) != _VOLTAGE.size:
            raise PayloadLengthError(f"type 0x0A is {_VOLTAGE.size} bytes, got {len(payload)}")
        _, _, v_frac, v_int = _VOLTAGE.unpack(payload)
        return {"battery_voltage": _split_value(v_int, v_frac)}
    reason = _NO_READINGS.get(kind)
    if reason is not None:
        raise UnsupportedPortError(f"message type 0x{kind:02x}: {reason}")
    raise IntegrityError(f"message type 0x{kind:02x} is not an RS1xx Temp/RH uplink")


RS1XX_TEMP_RH = DecoderSpec(
    key="laird-rs1xx-temp-rh",
    vendor="Laird Connectivity (Ezurio)",
    model="Sentrius RS1xx Temp/RH",
    need="damp",
    f_ports=frozenset({F_PORT}),
    fields=(
        FieldSpec("temperature", "degC", -40, 85, "0.01 degC resolution"),
        FieldSpec("relative_humidity", "%", 0, 100, "0.01 % resolution"),
        FieldSpec(
            "battery_band",
            "band",
            0,
            5,
            "remaining capacity band: 0 = 0-5 %, 1 = 5-20 %, 2 = 20-40 %, 3 = 40-60 %, "
            "4 = 60-80 %, 5 = 80-100 %",
        ),
        FieldSpec("battery_voltage", "V", 0, 4, "two AA cells, 0.01 V resolution"),
    ),
    doc_url=DOC_URL,
    decode=decode,
)
