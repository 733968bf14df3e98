"""Browan Tabs family: fixed 8-byte frames, one fPort per sensor type.

Source: Browan reference manuals for the Tabs sensors (TBMS100 "Motion Sensor
(PIR) Reference Manual" BQW_02_0006, §4.1.2; TBHV110 "Healthy Home Sensor IAQ"
§4.1.2, whose status, battery, temperature, RH and eCO2 fields are laid out as
below; TBWL100 §4.1.3 for the RH error value 127) and the examples in
TheThingsNetwork/lorawan-devices ``vendor/browan/{tbhh100,tbms100}-codec.yaml``.
No TBHH100-specific manual was found; its 8-byte frame and the 0xFFFF gas words
come from the vendor example. Multi-byte values are little-endian.

Common head (bytes 0..2)::

    byte 0  SSSSSSSS  status bits (per model, below)
    byte 1  ----BBBB  battery ν (4 bits): V = (25 + ν) / 10        battery_voltage (V)
    byte 2  -TTTTTTT  temperature τ (7 bits): °C = τ - 32          (per model, below)
            (bits marked - are reserved and ignored)

TBHH100 Temperature & Humidity ("Healthy Home"), fPort 103, 8 bytes::

    byte 0  status: bit 0 = trigger event (1) / keep-alive (0)      (not emitted)
    byte 2  τ - 32 °C, on-board sensor                              temperature
    byte 3  -HHHHHHH  RH % (7 bits, 0..100; 127 = sensor error)     relative_humidity
    4..5    CCCC      uint16 LE eCO2 ppm, 0xFFFF = not fitted       co2
    6..7    VVVV      uint16 LE VOC ppb, 0xFFFF = not fitted        tvoc (ppb)

The plain T/H model sends 0xFFFF in both gas words; IAQ variants fill them. An
RH of 127 or a gas word of 0xFFFF is a sentinel and the field is left out.

TBMS100 Motion (PIR), fPort 102, 8 bytes::

    byte 0  -------O  1 = occupied, 0 = free                        occupancy
    byte 2  τ - 32 °C, PCB NTC (not room air)                       board_temperature
    3..4    MMMM      uint16 LE minutes since the last motion event minutes_since_motion
    5..7    CCCCCC    uint24 LE motion events since power-up        motion
                      (not persistent: resets when the device restarts)

The fPort selects the layout; ``decoders.decode`` refuses a port the registered
model does not use (``UnsupportedPortError``) before this module sees the frame.
A frame shorter than 8 bytes is ``PayloadLengthError``; bytes after the 8th are
reported as undecoded and the frame's readings kept.
"""

from __future__ import annotations

import struct

from core.errors import PayloadLengthError, UnsupportedPortError
from decoders.frames import Uplink
from decoders.spec import Counter, DecodedUplink, DecoderSpec, FieldSpec, Reading

DOC_URL = "https://www.browan.com/product/temperature-humidity-sensor/detail"
MOTION_DOC_URL = "https://www.manualslib.com/manual/3095729/Semtech-Tbms100.html"

PORT_TBHH100 = 103
PORT_TBMS100 = 102
FRAME_LENGTH = 8

#: status, battery, temperature, humidity, co2, voc
_TBHH = struct.Struct("<BBBBHH")
#: status, battery, temperature, minutes (uint16), count low 16 bits, count high 8 bits
_TBMS = struct.Struct("<BBBHHB")

_NOT_FITTED = 0xFFFF
_RH_ERROR = 127


def _check_length(payload: bytes) -> None:
    if len(payload) < FRAME_LENGTH:
        raise PayloadLengthError(f"expected {FRAME_LENGTH} bytes, got {len(payload)}")


def _with_tail(payload: bytes, reading: Reading) -> Reading | DecodedUplink:
    """Bytes after the 8-byte frame are reported, the frame's readings kept."""
    if len(payload) == FRAME_LENGTH:
        return reading
    up = Uplink()
    up.now.update(reading)
    up.skip(payload, FRAME_LENGTH, note="bytes after the 8-byte frame")
    return up.result()


def _battery(raw: int) -> float:
    return (25 + (raw & 0x0F)) / 10


def decode(f_port: int, payload: bytes) -> Reading | DecodedUplink:
    """Decode one Tabs frame; the fPort says which sensor type sent it."""
    if f_port == PORT_TBHH100:
        return _with_tail(payload, _decode_tbhh100(payload))
    if f_port == PORT_TBMS100:
        return _with_tail(payload, _decode_tbms100(payload))
    raise UnsupportedPortError(f"no Tabs layout is decoded on fPort {f_port}")


def _decode_tbhh100(payload: bytes) -> Reading:
    """Temperature, humidity and (IAQ variants only) eCO2 / VOC."""
    _check_length(payload)
    _status, battery, temp, rh, co2, voc = _TBHH.unpack_from(payload)
    out: Reading = {
        "battery_voltage": _battery(battery),
        "temperature": (temp & 0x7F) - 32,
    }
    rh &= 0x7F
    if rh != _RH_ERROR:
        out["relative_humidity"] = rh
    if co2 != _NOT_FITTED:
        out["co2"] = co2
    if voc != _NOT_FITTED:
        out["tvoc"] = voc
    return out


def _decode_tbms100(payload: bytes) -> Reading:
    """Occupied flag, minutes since last motion, motion event count."""
    _check_length(payload)
    status, battery, temp, minutes, count_lo, count_hi = _TBMS.unpack_from(payload)
    return {
        "occupancy": status & 0x01,
        "battery_voltage": _battery(battery),
        "board_temperature": (temp & 0x7F) - 32,
        "minutes_since_motion": minutes,
        "motion": count_lo | count_hi << 16,
    }


_BATTERY = FieldSpec("battery_voltage", "V", 2.5, 4.0, "(25 + 4-bit value) / 10")

TBHH100 = DecoderSpec(
    key="browan-tbhh100",
    vendor="Browan",
    model="Tabs TBHH100 Temperature & Humidity (Healthy Home)",
    need="damp",
    f_ports=frozenset({PORT_TBHH100}),
    fields=(
        FieldSpec("temperature", "degC", -32, 95, "1 degC resolution"),
        FieldSpec("relative_humidity", "%", 0, 100, "1 % resolution"),
        FieldSpec("co2", "ppm", 0, 10000, "eCO2 estimate from VOC (IAQ variants)"),
        FieldSpec("tvoc", "ppb", 0, 60000, "VOC estimate (IAQ variants)"),
        _BATTERY,
    ),
    doc_url=DOC_URL,
    decode=decode,
)

TBMS100 = DecoderSpec(
    key="browan-tbms100",
    vendor="Browan",
    model="Tabs TBMS100 Motion Sensor (PIR)",
    need="footfall",
    f_ports=frozenset({PORT_TBMS100}),
    fields=(
        FieldSpec("occupancy", "0/1 or count", 0, 1, "1 = occupied, 0 = free"),
        FieldSpec(
            "motion",
            "count",
            0,
            0xFFFFFF,
            "events since power-up (resets on restart)",
            Counter(24, "cumulative"),
        ),
        FieldSpec("minutes_since_motion", "min", 0, 0xFFFF, "time since the last motion event"),
        FieldSpec("board_temperature", "degC", -32, 95, "PCB NTC, 1 degC resolution"),
        _BATTERY,
    ),
    doc_url=MOTION_DOC_URL,
    decode=decode,
)
