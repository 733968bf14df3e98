"""Dragino LHT65N (temperature/humidity) and LAQ4 (air quality), fixed 11-byte frames on fPort 2.

Docs: the LHT65N manual §2.4 "Uplink Payload" (URL in ``LHT65N.doc_url``); the LAQ4 manual's
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

Other external types (0x00 none, interrupt, illuminance, ADC, counters) leave the first seven
bytes as above: the built-in values are returned and X/Y are not decoded. Type 0x09
(timestamp/datalog mode) reuses bytes 0-5 for a different layout and is refused
(``IntegrityError``). Other fPorts (3 datalog, 5 device status) carry no live readings.

LAQ4, fPort 2::

    BB M VVVV CCCC TTTT HHHH  (11 bytes)
    B  uint16  battery mV
    M  uint8   bits 6-2 work mode, bit 0 alarm flag
    V  uint16  tvoc ppb           (mode 1 only)
    C  uint16  co2 ppm            (mode 1 only)
    T  int16   temperature /10 °C (mode 1 only)
    H  uint16  relative humidity /10 % (mode 1 only)

Mode 1 is the measurement frame; mode 31 replies with the alarm thresholds (config, so only
the battery is returned); any other mode is an ``IntegrityError``.

``decode_lht65n_batch`` is the vectorised path for many same-length LHT65N frames (numpy
structured dtype over the concatenated bytes); rows it cannot decode exactly as the scalar
path would are flagged in ``ok`` for the caller to re-run one by one.
"""

from __future__ import annotations

import struct

import numpy as np

from core.errors import IntegrityError, PayloadLengthError, UnsupportedPortError
from decoders.spec import DecoderSpec, FieldSpec, Reading

__all__ = [
    "BATCH_DECODERS",
    "LAQ4",
    "LHT65N",
    "decode_laq4",
    "decode_lht65n",
    "decode_lht65n_batch",
]

F_PORT = 2
FRAME_LEN = 11
ABSENT = 0x7FFF
EXT_NONE = 0x00
EXT_TEMPERATURE = 0x01
EXT_TIMESTAMP_MODE = 0x09
LAQ4_MEASURE = 1
LAQ4_THRESHOLDS = 31

_LHT65N = struct.Struct(">HhHBhH")
_LAQ4 = struct.Struct(">HBHHhH")


def _envelope(f_port: int, payload: bytes) -> None:
    if f_port != F_PORT:
        raise UnsupportedPortError(f"live readings come on fPort {F_PORT}")
    if len(payload) != FRAME_LEN:
        raise PayloadLengthError(f"{len(payload)} bytes, frame is {FRAME_LEN}")


def decode_lht65n(f_port: int, payload: bytes) -> Reading:
    _envelope(f_port, payload)
    battery, temperature, humidity, ext, ext_temperature, _ = _LHT65N.unpack(payload)
    ext_type = ext & 0x1F
    if ext_type == EXT_TIMESTAMP_MODE:
        raise IntegrityError("external type 0x09 (timestamp mode) uses another layout")
    reading = {
        "battery_voltage": (battery & 0x3FFF) / 1000,
        "battery_status": float(battery >> 14),
        "relative_humidity": humidity / 10,
    }
    if temperature != ABSENT:
        reading["temperature"] = temperature / 100
    if ext_type == EXT_TEMPERATURE and ext_temperature != ABSENT:
        reading["external_temperature"] = ext_temperature / 100
    return reading


_LHT65N_DTYPE = np.dtype(
    [("bat", ">u2"), ("t", ">i2"), ("rh", ">u2"), ("ext", "u1"), ("xt", ">i2"), ("y", ">u2")]
)


def decode_lht65n_batch(f_port: int, payloads: list[bytes]) -> dict[str, np.ndarray]:
    """Decode many 11-byte LHT65N frames at once.

    Returns float64 arrays (NaN where the scalar path would omit the field) plus ``ok``, a
    boolean array: False for a row the scalar path would refuse or whose values fall outside
    the declared ranges, so the caller re-decodes those rows with ``decoders.decode`` to get
    the typed error. A wrong fPort or any frame of the wrong length raises, as the batch
    cannot be laid over a fixed dtype then.
    """
    _envelope(f_port, payloads[0] if payloads else bytes(FRAME_LEN))
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


def decode_laq4(f_port: int, payload: bytes) -> Reading:
    _envelope(f_port, payload)
    battery, mode_byte, tvoc, co2, temperature, humidity = _LAQ4.unpack(payload)
    mode = (mode_byte >> 2) & 0x1F
    reading = {"battery_voltage": battery / 1000}
    if mode == LAQ4_MEASURE:
        reading["alarm"] = float(mode_byte & 0x01)
        reading["tvoc"] = float(tvoc)
        reading["co2"] = float(co2)
        reading["temperature"] = temperature / 10
        reading["relative_humidity"] = humidity / 10
    elif mode != LAQ4_THRESHOLDS:
        raise IntegrityError(f"work mode {mode} is neither 1 (measure) nor 31 (thresholds)")
    return reading


_BAT = FieldSpec("battery_voltage", "V", 0.0, 4.2, "Li-SOCl2 3.6 V cell")
_RH = FieldSpec("relative_humidity", "%", 0.0, 100.0)

LHT65N = DecoderSpec(
    key="dragino-lht65n",
    vendor="Dragino",
    model="LHT65N",
    need="damp",
    f_ports=frozenset({F_PORT}),
    fields=(
        _BAT,
        FieldSpec("battery_status", "0-3", 0.0, 3.0, "0 ultra low, 1 low, 2 OK, 3 good"),
        FieldSpec("temperature", "degC", -40.0, 125.0, "built-in SHT sensor"),
        _RH,
        FieldSpec("external_temperature", "degC", -55.0, 125.0, "E1 DS18B20 probe"),
    ),
    doc_url="https://wiki.dragino.com/xwiki/bin/view/Main/User%20Manual%20for%20LoRaWAN%20End%20Nodes/LHT65N%20--%20LoRaWAN%20Temperature%20%26%20Humidity%20Sensor%20Manual/",
    decode=decode_lht65n,
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
)

#: Vectorised decoders by model key (same contract as ``decode_lht65n_batch``); the benchmark
#: and bulk replays look here.
BATCH_DECODERS = {LHT65N.key: decode_lht65n_batch}
