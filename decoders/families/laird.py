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
    7..8      A   uint16 alarm messages sent                    status alarm_messages
    9..10     K   uint16 backlog messages stored                status backlog_messages
                  (each only when not 0)

0x0A "Send Battery Voltage", 4 bytes::

    byte 0 0x0A, byte 1 options, byte 2 int8 fraction v, byte 3 int8 integer V
                                                                battery_voltage = V + v/100

The options byte carries the sensor's flags (bit 0 requests server time, 1
configuration error, 2 alarm, 3 reset, 4 fault): each set bit becomes a status flag.
Sensor times are uint32 big-endian seconds since 2015-01-01 UTC (a clock never set
reads from 2015 and is anchored at the uplink, see ``decoders.frames``).

0x02 "Temp and RH Aggregated Data", 11 + 4 N bytes: options, uint8 alarm count,
uint16 backlog count, battery band, N, uint32 time, then N x (RH fraction, RH
integer, temperature fraction, temperature integer). The frame carries one time for
the batch; the spacing of the readings (the configured read period) is not sent. Two
points of one series at one time would overwrite each other in InfluxDB, so the
readings are history frames one second apart from the batch time, in the order sent,
and status says so (``aggregate_readings``, ``aggregate_spacing``): every value is
kept, and no time finer than the batch is claimed.
0x03 "Backlog Message", 10 bytes: options, uint32 time, one reading.
0x04 "Backlog Messages", 3 + 8 N bytes: options, N, then N x (uint32 time, reading).
0x05 "Sensor Config Simple", 8 bytes: battery type (1 alkaline, 2 lithium), uint16
read period, aggregate count, temperature alarms on, humidity alarms on: status.
0x06 "Sensor Config Advanced", 16 bytes: the same, then int8 temperature alarm low and
high, uint8 humidity alarm low and high, uint16 BLE and LoRa LED periods: status.
0x07 "FW Version", 11 bytes: year - 2000, month, day, release major, minor, uint32
part number: status.

Bytes after a message's documented length are reported as undecoded. Any other
type is not a Temp/RH frame (``IntegrityError``). A fraction outside ±99, or one
whose sign disagrees with the integer part, cannot come from the sensor and is an
``IntegrityError``. The sensor can instead be set to send Cayenne LPP (channel 1
type 0x67 temperature, channel 2 type 0x68 humidity, channel 3 analog battery);
such a frame is recognised by its type bytes 0x67 at byte 1 and 0x02 0x68 at bytes
4..5 (as a Laird frame that would be a temperature of 104.02 °C) and refused
(``IntegrityError``) rather than misread.
"""

from __future__ import annotations

import struct

from core.errors import IntegrityError, PayloadLengthError, UnsupportedPortError
from decoders.frames import Uplink
from decoders.spec import DecodedUplink, DecoderSpec, FieldSpec, Reading

DOC_URL = "https://www.ezurio.com/documentation/application-note-rs1xx-lora-protocol"
F_PORT = 1

TEMP_RH = 0x01
AGGREGATED = 0x02
BACKLOG_ONE = 0x03
BACKLOG_MANY = 0x04
SIMPLE_CONFIG = 0x05
ADVANCED_CONFIG = 0x06
FIRMWARE = 0x07
BATTERY_VOLTAGE = 0x0A

#: The sensor's clock counts seconds from 2015-01-01T00:00:00Z.
EPOCH_2015 = 1_420_070_400

#: type, options, rh fraction, rh integer, temp fraction, temp integer, battery band,
#: alarm count, backlog count
_TEMP_RH = struct.Struct(">BBBBbbBHH")
#: type, options, alarm count, backlog count, battery band, number of readings, time
_AGGREGATED = struct.Struct(">BBBHBBI")
#: rh fraction, rh integer, temp fraction, temp integer
_READING = struct.Struct(">BBbb")
_TIME = struct.Struct(">I")
#: type, options, voltage fraction, voltage integer
_VOLTAGE = struct.Struct(">BBbb")
#: battery type, read period, aggregate, temperature alarms on, humidity alarms on
_SIMPLE = struct.Struct(">BHBBB")
#: ... then temperature alarm low/high (int8), humidity alarm low/high, BLE and LoRa LED
_ADVANCED = struct.Struct(">BHBBBbbBBHH")
#: year - 2000, month, day, release major, release minor, part number
_FIRMWARE = struct.Struct(">BBBBBI")

_OPTIONS = (
    (0x01, "requests_server_time"),
    (0x02, "configuration_error"),
    (0x04, "alarm"),
    (0x08, "reset"),
    (0x10, "fault"),
)


def _split_value(integer: int, fraction: int) -> float:
    """integer + fraction / 100, refusing fractions the sensor cannot send."""
    if not -99 <= fraction <= 99 or integer * fraction < 0:
        raise IntegrityError(f"fractional part {fraction} does not fit integer part {integer}")
    return integer + fraction / 100


def _climate(rh_frac: int, rh_int: int, t_frac: int, t_int: int) -> Reading:
    if rh_frac > 99:
        raise IntegrityError(f"humidity fraction {rh_frac} above 99")
    return {
        "temperature": _split_value(t_int, t_frac),
        "relative_humidity": rh_int + rh_frac / 100,
    }


def _need(payload: bytes, size: int) -> None:
    if len(payload) < size:
        raise PayloadLengthError(
            f"message type 0x{payload[0]:02x} is {size} bytes, got {len(payload)}"
        )


def decode(f_port: int, payload: bytes) -> Reading | DecodedUplink:
    """Decode one RS1xx Temp/RH uplink; byte 0 says which message it is."""
    if f_port != F_PORT:
        raise UnsupportedPortError("RS1xx uplinks are sent on fPort 1")
    if len(payload) < 2:
        raise PayloadLengthError(f"{len(payload)} bytes: no message type and options")
    if payload[1:2] == b"\x67" and payload[4:6] == b"\x02\x68":
        raise IntegrityError("Cayenne LPP frame: set the sensor to the Laird protocol")
    kind = payload[0]
    handler = _HANDLERS.get(kind)
    if handler is None:
        raise IntegrityError(f"message type 0x{kind:02x} is not an RS1xx Temp/RH uplink")
    up = Uplink()
    for bit, name in _OPTIONS:
        if payload[1] & bit:
            up.set(name, True)
    end = handler(payload, up)
    up.skip(payload, end, note="bytes after the message")
    return up.result()


def _temp_rh(p: bytes, up: Uplink) -> int:
    _need(p, _TEMP_RH.size)
    _, _, rh_frac, rh_int, t_frac, t_int, band, alarms, backlog = _TEMP_RH.unpack_from(p)
    up.now.update(_climate(rh_frac, rh_int, t_frac, t_int))
    up.now["battery_band"] = band
    if backlog:
        up.set("backlog_messages", backlog)
    if alarms:
        up.set("alarm_messages", alarms)
    return _TEMP_RH.size


def _aggregated(p: bytes, up: Uplink) -> int:
    _need(p, _AGGREGATED.size)
    _, _, alarms, backlog, band, count, clock = _AGGREGATED.unpack_from(p)
    end = _AGGREGATED.size + _READING.size * count
    _need(p, end)
    up.now["battery_band"] = band
    up.set("aggregate_readings", count)
    if count > 1:
        up.set("aggregate_spacing", "not sent: stored 1 s apart from the batch time")
        up.set("device_time_raw_s", clock + EPOCH_2015)
    for i, offset in enumerate(range(_AGGREGATED.size, end, _READING.size)):
        up.record(clock + EPOCH_2015 + i, _climate(*_READING.unpack_from(p, offset)))
    if backlog:
        up.set("backlog_messages", backlog)
    if alarms:
        up.set("alarm_messages", alarms)
    return end


def _backlog_one(p: bytes, up: Uplink) -> int:
    _need(p, 2 + _TIME.size + _READING.size)
    clock = _TIME.unpack_from(p, 2)[0]
    up.record(clock + EPOCH_2015, _climate(*_READING.unpack_from(p, 2 + _TIME.size)))
    return 2 + _TIME.size + _READING.size


def _backlog_many(p: bytes, up: Uplink) -> int:
    _need(p, 3)
    end = 3 + (_TIME.size + _READING.size) * p[2]
    _need(p, end)
    for offset in range(3, end, _TIME.size + _READING.size):
        clock = _TIME.unpack_from(p, offset)[0]
        up.record(clock + EPOCH_2015, _climate(*_READING.unpack_from(p, offset + _TIME.size)))
    return end


def _simple_config(p: bytes, up: Uplink) -> int:
    _need(p, 2 + _SIMPLE.size)
    battery, period, aggregate, t_alarms, rh_alarms = _SIMPLE.unpack_from(p, 2)
    up.set("battery_type", {1: "alkaline", 2: "lithium"}.get(battery, str(battery)))
    up.set("sensor_read_period", period)
    up.set("sensor_aggregate", aggregate)
    up.set("temperature_alarms", bool(t_alarms))
    up.set("humidity_alarms", bool(rh_alarms))
    return 2 + _SIMPLE.size


def _advanced_config(p: bytes, up: Uplink) -> int:
    _need(p, 2 + _ADVANCED.size)
    (battery, period, aggregate, t_alarms, rh_alarms, t_low, t_high, rh_low, rh_high, led_ble,
     led_lora) = _ADVANCED.unpack_from(p, 2)  # fmt: skip
    _simple_config(p, up)
    up.set("temperature_alarm_low", t_low)
    up.set("temperature_alarm_high", t_high)
    up.set("humidity_alarm_low", rh_low)
    up.set("humidity_alarm_high", rh_high)
    up.set("led_ble", led_ble)
    up.set("led_lora", led_lora)
    return 2 + _ADVANCED.size


def _firmware(p: bytes, up: Uplink) -> int:
    _need(p, 2 + _FIRMWARE.size)
    year, month, day, major, minor, part = _FIRMWARE.unpack_from(p, 2)
    up.set("firmware_version", f"{major}.{minor}")
    up.set("firmware_date", f"{2000 + year:04d}-{month:02d}-{day:02d}")
    up.set("part_number", part)
    return 2 + _FIRMWARE.size


def _voltage(p: bytes, up: Uplink) -> int:
    _need(p, _VOLTAGE.size)
    _, _, v_frac, v_int = _VOLTAGE.unpack_from(p)
    up.now["battery_voltage"] = _split_value(v_int, v_frac)
    return _VOLTAGE.size


_HANDLERS = {
    TEMP_RH: _temp_rh,
    AGGREGATED: _aggregated,
    BACKLOG_ONE: _backlog_one,
    BACKLOG_MANY: _backlog_many,
    SIMPLE_CONFIG: _simple_config,
    ADVANCED_CONFIG: _advanced_config,
    FIRMWARE: _firmware,
    BATTERY_VOLTAGE: _voltage,
}


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
    frame_kinds=frozenset({"readings", "history", "status"}),
)
