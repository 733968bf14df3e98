"""Netvox fixed 11-byte frames: R711 (temperature/humidity) and the RA07 series (RA0715 probes).

Datasheets: http://www.netvox.com.tw/um/R711/R711datasheet.pdf,
http://www.netvox.com.tw/um/RA0715/RA0715datasheet.pdf; frame examples in the Netvox user
manuals (e.g. https://manualshive.com/ru/manual/netvox/r718ubd-series/1675140?page=9).
All multi-byte fields big-endian.

fPort 6, reports::

    V D R B xxxx xxxx xxxx x      (11 bytes)
    V  uint8  version, always 0x01
    D  uint8  device type: 0x01 R711, 0x05 RA07 series
    R  uint8  report type (below)
    B  uint8  battery: bit 7 = low-battery flag, bits 0-6 = volts × 10; 0x00 = mains/DC powered
              (no battery_voltage then)

Report types and the fields after B:

R711
    0x00  startup version report (software/hardware version, date code): status
    0x01  T int16 temperature /100 °C, H uint16 relative_humidity /100 %, 3 bytes reserved
RA07 (each of the three uint16 words A B C; 0xFFFF = no such probe fitted → field omitted)
    0x00  startup version report: status
    0x01, 0x02  A pm1_0, B pm2_5, C pm10 (µg/m³)
    0x03  particle counts A ≥0.3 µm, B ≥0.5 µm, C ≥1.0 µm
    0x04  particle counts A ≥2.5 µm, B ≥5.0 µm, C ≥10 µm
    0x05  A o3, B co, C no (/10)
    0x06  A no2, B so2, C h2s (/10)
    0x07  A co2 /10 ppm, B nh3 /10, C noise /10 dB
    0x0C  A temperature int16 /100 °C, B relative_humidity /100 %, C wind speed /100 m/s
    0x0E  A tvoc /10 (B, C unused: 0x00 in the vendor example)
    0x08-0x0B, 0x0D  water/soil/wind-direction probes (pH, turbidity, soil moisture, dissolved
          oxygen, wind direction/atmosphere): not decoded for an air-quality station; the
          battery is kept and the three words are reported as undecoded.

Bytes the vendor fixes at 0x00 (the manuals' "Reserved" bytes, the trailing byte of every
report, the unused words of the RA07 VOC report) are reported as undecoded only when a
device sets them, so a normal reply or reading carries no undecoded part.

A report type not listed for the model keeps the frame valid (version and device type
checked) with ``report_type`` in status and bytes 3-10 reported as undecoded. Bytes after
the 11th are reported, not refused.

Status frames (valid, no readings):

- Startup version report (report type 0x00): software version (byte 3, tenths: 0x64 is
  10.0), hardware version (byte 4), date code (bytes 5-8, kept as hex, e.g. ``20171208``),
  as in the vendor's TTN examples.
- fPort 7 configuration responses (``C D ...``, D = device type): C = 0x81
  ConfigReportRsp carries a status byte (0 = success); C = 0x82 ReadConfigReportRsp carries
  uint16 minimum and maximum report intervals in seconds, then device-specific reportable
  changes (reported undecoded). Another command byte is an ``IntegrityError``.

Gas units: the vendor codec divides the RA07 gas words by 10 without naming a unit; ppm is the
Netvox convention for these probes but is not confirmed here, so the FieldSpecs say so.
"""

from __future__ import annotations

import struct

from core.errors import IntegrityError, PayloadLengthError, UnsupportedPortError
from decoders.frames import Uplink
from decoders.spec import DecodedUplink, DecoderSpec, FieldSpec, Reading

__all__ = ["R711", "RA0715", "decode_r711", "decode_ra0715"]

FRAME_LEN = 11
VERSION = 0x01
REPORT_PORT = 6
CONFIG_PORT = 7
R711_TYPE = 0x01
RA07_TYPE = 0x05
CONFIG_REPORT_RSP = 0x81
READ_CONFIG_REPORT_RSP = 0x82
CONFIG_RESPONSES = frozenset({CONFIG_REPORT_RSP, READ_CONFIG_REPORT_RSP})
ABSENT = 0xFFFF

#: version, device type, report type, battery, then three raw words and one spare byte.
_UNSIGNED = struct.Struct(">BBBBHHHB")
_SIGNED_FIRST = struct.Struct(">BBBBhHHB")
#: ReadConfigReportRsp: minimum and maximum report interval, seconds
_INTERVALS = struct.Struct(">HH")


def _battery(byte: int, reading: Reading) -> None:
    if byte:
        reading["battery_voltage"] = (byte & 0x7F) / 10
        reading["battery_low"] = float(byte >> 7)


def _envelope(f_port: int, payload: bytes, device_type: int, up: Uplink) -> bool:
    """Length, version, device type; True when the frame is a report with readings.

    Configuration responses (fPort 7) and startup version reports are status."""
    if f_port not in (REPORT_PORT, CONFIG_PORT):
        raise UnsupportedPortError("Netvox reports on fPort 6, configuration responses on 7")
    if len(payload) < FRAME_LEN:
        raise PayloadLengthError(f"{len(payload)} bytes, Netvox frames are {FRAME_LEN}")
    if payload[1] != device_type:
        raise IntegrityError(f"device type 0x{payload[1]:02x}, expected 0x{device_type:02x}")
    up.skip(payload, FRAME_LEN, note="bytes after the 11-byte frame")
    if f_port == CONFIG_PORT:
        command = payload[0]
        if command not in CONFIG_RESPONSES:
            raise IntegrityError(f"configuration command 0x{command:02x} is not a response")
        up.set("config_response", f"0x{command:02x}")
        if command == CONFIG_REPORT_RSP:
            up.set("config_status", payload[2])
            _reserved(payload, 3, up)
        else:
            min_s, max_s = _INTERVALS.unpack_from(payload, 2)
            up.set("min_interval_s", min_s)
            up.set("max_interval_s", max_s)
            up.skip(payload, 6, FRAME_LEN, "reportable changes (device-specific)")
        return False
    if payload[0] != VERSION:
        raise IntegrityError(f"version 0x{payload[0]:02x}, expected 0x{VERSION:02x}")
    if payload[2] == 0x00:
        up.set("software_version", payload[3] / 10)
        up.set("hardware_version", payload[4])
        up.set("date_code", payload[5:9].hex())
        _reserved(payload, 9, up)
        return False
    return True


def _reserved(payload: bytes, start: int, up: Uplink) -> None:
    """Bytes the vendor fixes at 0x00: nothing to report unless the device set them."""
    if any(payload[start:FRAME_LEN]):
        up.skip(payload, start, FRAME_LEN, "reserved bytes (0x00 per the vendor) not zero")


def _unknown_report(payload: bytes, up: Uplink) -> None:
    up.set("report_type", payload[2])
    up.skip(payload, 3, FRAME_LEN, f"report type 0x{payload[2]:02x} not decoded")


def decode_r711(f_port: int, payload: bytes) -> Reading | DecodedUplink:
    up = Uplink()
    if _envelope(f_port, payload, R711_TYPE, up):
        _, _, report, battery, temperature, humidity, _, _ = _SIGNED_FIRST.unpack_from(payload)
        if report == 0x01:
            up.now.update(temperature=temperature / 100, relative_humidity=humidity / 100)
            _battery(battery, up.now)
            _reserved(payload, 8, up)
        else:
            _unknown_report(payload, up)
    return up.result()


#: report type -> (field names of words A, B, C; their divisors; whether word A is signed).
_RA07_REPORTS: dict[int, tuple[tuple[str, str, str], tuple[int, int, int], bool]] = {
    0x01: (("pm1_0", "pm2_5", "pm10"), (1, 1, 1), False),
    0x02: (("pm1_0", "pm2_5", "pm10"), (1, 1, 1), False),
    0x03: (("particles_0_3um", "particles_0_5um", "particles_1_0um"), (1, 1, 1), False),
    0x04: (("particles_2_5um", "particles_5_0um", "particles_10um"), (1, 1, 1), False),
    0x05: (("o3", "co", "no"), (10, 10, 10), False),
    0x06: (("no2", "so2", "h2s"), (10, 10, 10), False),
    0x07: (("co2", "nh3", "noise"), (10, 10, 10), False),
    0x0C: (("temperature", "relative_humidity", "wind_speed"), (100, 100, 100), True),
}
_RA07_VOC = 0x0E
_RA07_UNDECODED = frozenset({0x08, 0x09, 0x0A, 0x0B, 0x0D})


def decode_ra0715(f_port: int, payload: bytes) -> Reading | DecodedUplink:
    up = Uplink()
    if not _envelope(f_port, payload, RA07_TYPE, up):
        return up.result()
    _, _, report, battery, a, b, c, _ = _UNSIGNED.unpack_from(payload)
    reading = up.now
    if report == _RA07_VOC:
        if a != ABSENT:
            reading["tvoc"] = a / 10
        _reserved(payload, 6, up)
    elif report in _RA07_REPORTS:
        names, divisors, first_signed = _RA07_REPORTS[report]
        for name, divisor, raw, signed in zip(
            names, divisors, (a, b, c), (first_signed, False, False), strict=True
        ):
            if raw != ABSENT:
                reading[name] = (raw - 0x10000 if signed and raw & 0x8000 else raw) / divisor
        _reserved(payload, 10, up)
    elif report in _RA07_UNDECODED:
        up.set("report_type", report)
        up.skip(payload, 4, FRAME_LEN, f"report type 0x{report:02x}: water/soil/wind probe")
    else:
        _unknown_report(payload, up)
        return up.result()
    _battery(battery, reading)
    return up.result()


_R711_BAT = FieldSpec("battery_voltage", "V", 0.0, 4.0, "ER14505 3.6 V cells, 0.1 V steps")
_RA07_BAT = FieldSpec("battery_voltage", "V", 0.0, 12.7, "12 V DC supply, 0.1 V steps")
_BAT_LOW = FieldSpec("battery_low", "0/1", 0.0, 1.0, "low-battery flag (bit 7)")
_GAS = "ppm per Netvox convention (unit unconfirmed), raw/10"

R711 = DecoderSpec(
    key="netvox-r711",
    vendor="Netvox",
    model="R711",
    need="damp",
    f_ports=frozenset({REPORT_PORT, CONFIG_PORT}),
    fields=(
        FieldSpec("temperature", "degC", -40.0, 85.0, "R711 operating range"),
        FieldSpec("relative_humidity", "%", 0.0, 100.0),
        _R711_BAT,
        _BAT_LOW,
    ),
    doc_url="https://www.netvox.com.tw/um/R711/R711datasheet.pdf",
    decode=decode_r711,
    frame_kinds=frozenset({"readings", "status"}),
)

RA0715 = DecoderSpec(
    key="netvox-ra0715",
    vendor="Netvox",
    model="RA0715",
    need="air_quality",
    f_ports=frozenset({REPORT_PORT, CONFIG_PORT}),
    fields=(
        FieldSpec("pm1_0", "ug/m3", 0.0, 1000.0),
        FieldSpec("pm2_5", "ug/m3", 0.0, 1000.0),
        FieldSpec("pm10", "ug/m3", 0.0, 1000.0),
        FieldSpec("particles_0_3um", "count", 0.0, 65534.0, "particle counter channel"),
        FieldSpec("particles_0_5um", "count", 0.0, 65534.0, "particle counter channel"),
        FieldSpec("particles_1_0um", "count", 0.0, 65534.0, "particle counter channel"),
        FieldSpec("particles_2_5um", "count", 0.0, 65534.0, "particle counter channel"),
        FieldSpec("particles_5_0um", "count", 0.0, 65534.0, "particle counter channel"),
        FieldSpec("particles_10um", "count", 0.0, 65534.0, "particle counter channel"),
        FieldSpec("o3", "ppm", 0.0, 100.0, _GAS),
        FieldSpec("co", "ppm", 0.0, 1000.0, _GAS),
        FieldSpec("no", "ppm", 0.0, 250.0, _GAS),
        FieldSpec("no2", "ppm", 0.0, 100.0, _GAS),
        FieldSpec("so2", "ppm", 0.0, 100.0, _GAS),
        FieldSpec("h2s", "ppm", 0.0, 100.0, _GAS),
        FieldSpec("co2", "ppm", 0.0, 6553.4),
        FieldSpec("nh3", "ppm", 0.0, 100.0, _GAS),
        FieldSpec("noise", "dB", 0.0, 140.0, "sound level (weighting not stated)"),
        FieldSpec("temperature", "degC", -40.0, 85.0),
        FieldSpec("relative_humidity", "%", 0.0, 100.0),
        FieldSpec("wind_speed", "m/s", 0.0, 70.0),
        FieldSpec("tvoc", "ppm", 0.0, 6553.4, _GAS),
        _RA07_BAT,
        _BAT_LOW,
    ),
    doc_url="https://www.netvox.com.tw/um/RA0715/RA0715datasheet.pdf",
    decode=decode_ra0715,
    frame_kinds=frozenset({"readings", "status"}),
)
