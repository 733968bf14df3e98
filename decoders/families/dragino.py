"""Dragino LHT65N (temperature/humidity) and LAQ4 (air quality): 11-byte frames on fPort 2.

Docs: the LHT65N manual §2.4 "Uplink Payload", §2.6 "Datalog" and the device status
section (URL in ``LHT65N.doc_url``); the LAQ4 manual's
payload table (battery 2 | alarm/mode 1 | TVOC 2 | CO2 2 | temperature 2 | humidity 2), linked
from https://www.dragino.com/products/lora-lorawan-end-node/item/174-laq4.html.
All multi-byte fields big-endian.

LHT65N, fPort 2::

    BB TT HH E XXXX YYYY      (11 bytes)
    B  uint16  bits 15-14 battery status (0 ultra low … 3 good), bits 13-0 battery mV
    T  int16   built-in SHT temperature /100 °C (0x7FFF = sensor error → omitted)
    H  uint16  built-in SHT relative humidity /10 %
    E  uint8   bits 4-0 external sensor type, bits 7-5 status flags (poll reply, time sync)
    X  int16   type 0x01 (E1 DS18B20 probe): external_temperature /100 °C, 0x7FFF = no probe
    Y  uint16  type 0x01: unused

External type 0x00 (none) leaves X/Y unused; other external types (interrupt, illuminance,
ADC, counters) keep the first seven bytes as above: the built-in values are returned and
X/Y are reported as an undecoded part. Bytes after the 11th are reported, not refused.

LHT65N, fPort 2, external type 0x09 (E1 probe with the sensor's Unix time)::

    XXXX TTTT SH E UUUUUUUU   (11 bytes)
    X  int16   probe temperature /100 °C (0x7FFF = no probe)  external_temperature
    T  int16   SHT temperature /100 °C                        temperature
    SH uint16  bits 15-14 battery status, bits 13-0 humidity /10 %   battery_status,
                                                                     relative_humidity
    E  uint8   status & Ext (Ext = 9)
    U  uint32  Unix time of the measurement (sensor's clock) -> a history frame at that time

LHT65N, fPort 3, datalog poll reply: whole 11-byte entries laid out as above (external
sensor data, SHT temperature, humidity in bits 13-0, poll flag & Ext, Unix time); each
entry is a history frame. Eleven zero bytes mean "no record in the polled period" (status
only); a partial trailing entry is reported as undecoded.

LHT65N, fPort 5, device status: sensor model (1), firmware version (2, kept as hex:
``0100`` = v1.0.0), frequency band (1), sub-band (1), battery mV (2): status plus
``battery_voltage``.

LAQ4, fPort 2::

    BB M VVVV CCCC TTTT HHHH  (11 bytes)
    B  uint16  battery mV
    M  uint8   bits 6-2 work mode, bit 0 alarm flag
    V  uint16  tvoc ppb           (mode 1 only)
    C  uint16  co2 ppm            (mode 1 only)
    T  int16   temperature /10 °C (mode 1 only)
    H  uint16  relative humidity /10 % (mode 1 only)

Mode 1 is the measurement frame; mode 31 replies with the alarm thresholds (status
``work_mode`` 31; the battery is returned and the threshold bytes, whose layout is not
published, are reported as undecoded); any other mode is an ``IntegrityError``.

``decode_lht65n_batch`` is the vectorised path for many same-length LHT65N frames (numpy
structured dtype over the concatenated bytes); rows it cannot decode exactly as the scalar
path would are flagged in ``ok`` for the caller to re-run one by one.
"""

from __future__ import annotations

import struct

import numpy as np

from core.errors import IntegrityError, PayloadLengthError, UnsupportedPortError
from decoders.frames import Uplink
from decoders.spec import DecodedUplink, DecoderSpec, FieldSpec, Reading

__all__ = [
    "BATCH_DECODERS",
    "LAQ4",
    "LHT65N",
    "decode_laq4",
    "decode_lht65n",
    "decode_lht65n_batch",
]

F_PORT = 2
DATALOG_PORT = 3
STATUS_PORT = 5
FRAME_LEN = 11
ABSENT = 0x7FFF
EXT_NONE = 0x00
EXT_TEMPERATURE = 0x01
EXT_TIMESTAMP_MODE = 0x09
LAQ4_MEASURE = 1
LAQ4_THRESHOLDS = 31

_LHT65N = struct.Struct(">HhHBhH")
_LAQ4 = struct.Struct(">HBHHhH")
#: Ext 9 frame and datalog entry: external, SHT temperature, (battery status |) humidity,
#: status & Ext, Unix time.
_LHT65N_EXT9 = struct.Struct(">hhHBI")
#: sensor model, firmware version, frequency band, sub-band, battery mV
_STATUS = struct.Struct(">BHBBH")


def _envelope(f_port: int, payload: bytes) -> None:
    if f_port != F_PORT:
        raise UnsupportedPortError(f"live readings come on fPort {F_PORT}")
    if len(payload) < FRAME_LEN:
        raise PayloadLengthError(f"{len(payload)} bytes, frame is {FRAME_LEN}")


def decode_lht65n(f_port: int, payload: bytes) -> Reading | DecodedUplink:
    """Live frame (fPort 2, Ext 9 stamped by the sensor's clock), datalog reply (3), status (5)."""
    if f_port == DATALOG_PORT:
        return _lht65n_datalog(payload)
    if f_port == STATUS_PORT:
        return _device_status(payload)
    _envelope(f_port, payload)
    up = Uplink()
    up.skip(payload, FRAME_LEN, note="bytes after the 11-byte frame")
    battery, temperature, humidity, ext, ext_temperature, _ = _LHT65N.unpack_from(payload)
    ext_type = ext & 0x1F
    if ext_type == EXT_TIMESTAMP_MODE:
        # Ext 9 layout: probe, SHT temperature, battery status | humidity, status & Ext, time.
        probe, sht, bat_hum, _, unix_s = _LHT65N_EXT9.unpack_from(payload)
        reading = {
            "battery_status": float(bat_hum >> 14),
            "relative_humidity": (bat_hum & 0x3FFF) / 10,
        }
        if sht != ABSENT:
            reading["temperature"] = sht / 100
        if probe != ABSENT:
            reading["external_temperature"] = probe / 100
        up.record(unix_s, reading)
        return up.result()
    reading = up.now
    reading["battery_voltage"] = (battery & 0x3FFF) / 1000
    reading["battery_status"] = float(battery >> 14)
    reading["relative_humidity"] = humidity / 10
    if temperature != ABSENT:
        reading["temperature"] = temperature / 100
    if ext_type == EXT_TEMPERATURE:
        if ext_temperature != ABSENT:
            reading["external_temperature"] = ext_temperature / 100
    elif ext_type != EXT_NONE:
        up.skip(payload, 7, FRAME_LEN, f"external sensor type {ext_type} not decoded")
    return up.result()


def _lht65n_datalog(payload: bytes) -> Reading | DecodedUplink:
    """Datalog poll reply: whole 11-byte entries, each stamped by the sensor's clock."""
    if len(payload) < FRAME_LEN:
        raise PayloadLengthError(f"{len(payload)} bytes, a datalog entry is {FRAME_LEN}")
    up = Uplink()
    whole = len(payload) - len(payload) % FRAME_LEN
    up.skip(payload, whole, note="part of a datalog entry")
    if not any(payload[:whole]):
        up.set("datalog", "no records in the polled period")
        return up.result()
    for offset in range(0, whole, FRAME_LEN):
        external, temperature, humidity, flags, unix_s = _LHT65N_EXT9.unpack_from(payload, offset)
        reading: Reading = {"relative_humidity": (humidity & 0x3FFF) / 10}
        if temperature != ABSENT:
            reading["temperature"] = temperature / 100
        if flags & 0x0F in (EXT_TEMPERATURE, EXT_TIMESTAMP_MODE) and external != ABSENT:
            reading["external_temperature"] = external / 100
        up.record(unix_s, reading)
    up.set("datalog_records", whole // FRAME_LEN)
    return up.result()


def _device_status(payload: bytes) -> Reading | DecodedUplink:
    """fPort 5: sensor model, firmware, frequency band, sub-band, battery mV (7 bytes)."""
    if len(payload) < _STATUS.size:
        raise PayloadLengthError(f"device status is {_STATUS.size} bytes, got {len(payload)}")
    sensor_model, firmware, band, sub_band, battery = _STATUS.unpack_from(payload)
    up = Uplink()
    up.set("sensor_model", sensor_model)
    up.set("firmware_version", f"{firmware:04x}")
    up.set("frequency_band", band)
    up.set("sub_band", sub_band)
    up.now["battery_voltage"] = battery / 1000
    up.skip(payload, _STATUS.size, note="bytes after the device status")
    return up.result()


_LHT65N_DTYPE = np.dtype(
    [("bat", ">u2"), ("t", ">i2"), ("rh", ">u2"), ("ext", "u1"), ("xt", ">i2"), ("y", ">u2")]
)


def decode_lht65n_batch(f_port: int, payloads: list[bytes]) -> dict[str, np.ndarray]:
    """Decode many 11-byte LHT65N frames at once.

    Returns float64 arrays (NaN where the scalar path would omit the field) plus ``ok``, a
    boolean array: False for a row that is not a plain reading at the uplink's time (Ext 9,
    stamped by the sensor's clock) or whose values fall outside the declared ranges, so the
    caller re-decodes those rows with ``decoders.decode_uplink`` (history frame, withheld
    value). A wrong fPort or any frame of the wrong length raises, as the batch cannot be
    laid over a fixed dtype then.
    """
    if f_port != F_PORT:
        raise UnsupportedPortError(f"live readings come on fPort {F_PORT}")
    if any(len(p) != FRAME_LEN for p in payloads):
        raise PayloadLengthError(f"batch mixes frame lengths; every frame must be {FRAME_LEN}")
    rows = np.frombuffer(b"".join(payloads), dtype=_LHT65N_DTYPE)
    bat = rows["bat"]
    ext_type = rows["ext"] & 0x1F
    temperature = np.where(rows["t"] == ABSENT, np.nan, rows["t"] / 100)
    external = np.where(
        (ext_type == EXT_TEMPERATURE) & (rows["xt"] != ABSENT), rows["xt"] / 100, np.nan
    )
    out = {
        "battery_voltage": (bat & 0x3FFF) / 1000,
        "battery_status": (bat >> 14).astype(np.float64),
        "relative_humidity": rows["rh"] / 10,
        "temperature": temperature,
        "external_temperature": external,
    }
    ok = ext_type != EXT_TIMESTAMP_MODE
    for field in LHT65N.fields:
        values = out[field.name]
        ok &= np.isnan(values) | ((values >= field.minimum) & (values <= field.maximum))
    out["ok"] = ok
    return out


def decode_laq4(f_port: int, payload: bytes) -> Reading | DecodedUplink:
    _envelope(f_port, payload)
    battery, mode_byte, tvoc, co2, temperature, humidity = _LAQ4.unpack_from(payload)
    mode = (mode_byte >> 2) & 0x1F
    up = Uplink()
    up.skip(payload, FRAME_LEN, note="bytes after the 11-byte frame")
    reading = up.now
    reading["battery_voltage"] = battery / 1000
    if mode == LAQ4_THRESHOLDS:
        up.set("work_mode", mode)
        up.skip(payload, 3, FRAME_LEN, "alarm thresholds: layout not published")
    elif mode == LAQ4_MEASURE:
        reading["alarm"] = float(mode_byte & 0x01)
        reading["tvoc"] = float(tvoc)
        reading["co2"] = float(co2)
        reading["temperature"] = temperature / 10
        reading["relative_humidity"] = humidity / 10
    else:
        raise IntegrityError(f"work mode {mode} is neither 1 (measure) nor 31 (thresholds)")
    return up.result()


_BAT = FieldSpec("battery_voltage", "V", 0.0, 4.2, "Li-SOCl2 3.6 V cell")
_RH = FieldSpec("relative_humidity", "%", 0.0, 100.0)

LHT65N = DecoderSpec(
    key="dragino-lht65n",
    vendor="Dragino",
    model="LHT65N",
    need="damp",
    f_ports=frozenset({F_PORT, DATALOG_PORT, STATUS_PORT}),
    fields=(
        _BAT,
        FieldSpec("battery_status", "0-3", 0.0, 3.0, "0 ultra low, 1 low, 2 OK, 3 good"),
        FieldSpec("temperature", "degC", -40.0, 125.0, "built-in SHT sensor"),
        _RH,
        FieldSpec("external_temperature", "degC", -55.0, 125.0, "E1 DS18B20 probe"),
    ),
    doc_url="https://wiki.dragino.com/xwiki/bin/view/Main/User%20Manual%20for%20LoRaWAN%20End%20Nodes/LHT65N%20--%20LoRaWAN%20Temperature%20%26%20Humidity%20Sensor%20Manual/",
    decode=decode_lht65n,
    frame_kinds=frozenset({"readings", "history", "status"}),
)

LAQ4 = DecoderSpec(
    key="dragino-laq4",
    vendor="Dragino",
    model="LAQ4",
    need="air_quality",
    f_ports=frozenset({F_PORT}),
    fields=(
        _BAT,
        FieldSpec("alarm", "0/1", 0.0, 1.0, "threshold alarm flag"),
        FieldSpec("tvoc", "ppb", 0.0, 1187.0, "assumed CCS811 TVOC range (sensor not confirmed)"),
        FieldSpec("co2", "ppm", 0.0, 8192.0, "assumed CCS811 eCO2 range, 0 while warming up"),
        FieldSpec("temperature", "degC", -40.0, 125.0),
        _RH,
    ),
    doc_url="https://www.dragino.com/products/lora-lorawan-end-node/item/174-laq4.html",
    decode=decode_laq4,
    frame_kinds=frozenset({"readings", "status"}),
)

#: Vectorised decoders by model key (same contract as ``decode_lht65n_batch``); the benchmark
#: and bulk replays look here.
BATCH_DECODERS = {LHT65N.key: decode_lht65n_batch}
