"""uRADMonitor INDUSTRIAL: one fixed 50-byte big-endian frame with every sensor.

Source: the field list uRADMonitor publishes with its LoRaWAN decoder in
TheThingsNetwork/lorawan-devices ``vendor/uradmonitor/industrial.js`` (field
table in the header comment) and the example in
``uradmonitor-model-industrial-codec.yaml``; product datasheet:
https://www.uradmonitor.com/wordpress/wp-content/uploads/2021/08/industrial_datasheet_107_sht.pdf
No other public description of the frame was found. Multi-byte values are
big-endian. "DI" values are sign-magnitude: the top bit is the sign, the rest the
magnitude (not two's complement).

Frame (fPort 1, 50 bytes)::

    0..3    IIIIIIII  device ID                                   (not emitted)
    4       W         hardware version                            (not emitted)
    5       F         firmware version                            (not emitted)
    6..9    S         uint32 seconds since power-up               (not emitted)
    10..19            GPS latitude/longitude/altitude/speed       (not emitted; zero
                                                                  unless a GPS is wired)
    20..21  TTTT      DI16 / 100 °C                               temperature
    22..23  PPPP      uint16 + 65535 = Pa                         pressure (hPa = Pa / 100)
    24      HH        uint8 / 2 %RH                               relative_humidity
    25..27  VVVVVV    uint24 ohm, BME680 gas (VOC) resistance     voc_resistance
    28      NN        uint8 / 2 dBA                               sound_level
    29..44  4 x (G CCCCCC): gas slot, G = sensor ID, C = DI24 / 1000 ppm
                      0x2A O3, 0x2C NO2, 0x2B SO2, 0x04 CO,       o3, no2, so2, co,
                      0x03 H2S, 0x02 NH3, 0x31 Cl2                h2s, nh3, cl2 (ppm)
                      any other ID = empty slot                   (skipped)
    45      A         uint8, PM2.5 - PM1                          pm1_0 = PM2.5 - A
    46..47  MMMM      uint16 ug/m3                                pm2_5
    48      B         uint8, PM10 - PM2.5                         pm10 = PM2.5 + B
    49      K         check byte                                  (not verified: the
                                                                  algorithm is not published)

Gas concentrations are in ppm (the "vendor unit" recorded for ``no2``/``o3``).
Electrochemical cells can read slightly below zero near clean air; values down to
-1 ppm are kept as sent. A frame shorter than 50 bytes is refused
(``PayloadLengthError``); bytes after the 50th are reported as undecoded. The device's IAQ index is not sent: the vendor decoder
computes it from gas resistance and humidity, so it is not emitted here.
"""

from __future__ import annotations

import struct

from core.errors import PayloadLengthError, UnsupportedPortError
from decoders.frames import Uplink
from decoders.spec import DecodedUplink, DecoderSpec, FieldSpec, Reading

DOC_URL = "https://www.uradmonitor.com/wordpress/wp-content/uploads/2021/08/industrial_datasheet_107_sht.pdf"
F_PORT = 1
FRAME_LENGTH = 50

#: temperature (DI16), pressure offset, humidity*2, VOC resistance (3 bytes: high 8 + low 16),
#: noise*2, 4 x (gas id, DI24 as high 8 + low 16), PM1 delta, PM2.5, PM10 delta
_BODY = struct.Struct(">HHBBHB" + "BBH" * 4 + "BHB")
_BODY_OFFSET = 20

_GAS_NAMES: dict[int, str] = {
    0x2A: "o3",
    0x2C: "no2",
    0x2B: "so2",
    0x04: "co",
    0x03: "h2s",
    0x02: "nh3",
    0x31: "cl2",
}

_PRESSURE_OFFSET_PA = 65535


def _di(raw: int, sign_bit: int) -> int:
    """Sign-magnitude integer: top bit set means negative."""
    return -(raw & (sign_bit - 1)) if raw & sign_bit else raw


def decode(f_port: int, payload: bytes) -> Reading | DecodedUplink:
    """Decode one INDUSTRIAL frame: climate, noise, up to four gases, PM."""
    if f_port != F_PORT:
        raise UnsupportedPortError("INDUSTRIAL frames are sent on fPort 1")
    if len(payload) < FRAME_LENGTH:
        raise PayloadLengthError(f"expected {FRAME_LENGTH} bytes, got {len(payload)}")
    (
        temp, pressure, humidity, voc_hi, voc_lo, noise,
        g1, c1_hi, c1_lo, g2, c2_hi, c2_lo, g3, c3_hi, c3_lo, g4, c4_hi, c4_lo,
        pm1_delta, pm2_5, pm10_delta,
    ) = _BODY.unpack_from(payload, _BODY_OFFSET)  # fmt: skip
    out: Reading = {
        "temperature": _di(temp, 0x8000) / 100,
        "pressure": (pressure + _PRESSURE_OFFSET_PA) / 100,
        "relative_humidity": humidity / 2,
        "voc_resistance": voc_hi << 16 | voc_lo,
        "sound_level": noise / 2,
        "pm1_0": pm2_5 - pm1_delta,
        "pm2_5": pm2_5,
        "pm10": pm2_5 + pm10_delta,
    }
    for gas, hi, lo in (
        (g1, c1_hi, c1_lo),
        (g2, c2_hi, c2_lo),
        (g3, c3_hi, c3_lo),
        (g4, c4_hi, c4_lo),
    ):
        name = _GAS_NAMES.get(gas)
        if name is not None:
            out[name] = _di(hi << 16 | lo, 0x800000) / 1000
    if len(payload) == FRAME_LENGTH:
        return out
    up = Uplink()
    up.now.update(out)
    up.skip(payload, FRAME_LENGTH, note="bytes after the 50-byte frame")
    return up.result()


def _gas(name: str, maximum: float, what: str) -> FieldSpec:
    return FieldSpec(
        name, "ppm", -1, maximum, f"{what}, electrochemical cell, 0.001 ppm resolution"
    )


INDUSTRIAL = DecoderSpec(
    key="uradmonitor-industrial",
    vendor="uRADMonitor (Magnasci)",
    model="INDUSTRIAL air quality station",
    need="air_quality",
    f_ports=frozenset({F_PORT}),
    fields=(
        FieldSpec("temperature", "degC", -40, 85, "BME680, 0.01 degC resolution"),
        FieldSpec("pressure", "hPa", 655.35, 1100, "BME680, 0.01 hPa resolution"),
        FieldSpec("relative_humidity", "%", 0, 100, "BME680, 0.5 % resolution"),
        FieldSpec("voc_resistance", "ohm", 0, 0xFFFFFF, "BME680 gas sensor resistance"),
        FieldSpec("sound_level", "dBA", 0, 127.5, "0.5 dBA resolution"),
        FieldSpec("pm1_0", "ug/m3", 0, 1000, "1 ug/m3 resolution"),
        FieldSpec("pm2_5", "ug/m3", 0, 1000, "1 ug/m3 resolution"),
        FieldSpec("pm10", "ug/m3", 0, 1000, "1 ug/m3 resolution"),
        _gas("o3", 100, "ozone"),
        _gas("no2", 100, "nitrogen dioxide"),
        _gas("so2", 100, "sulphur dioxide"),
        _gas("cl2", 100, "chlorine"),
        _gas("co", 1000, "carbon monoxide"),
        _gas("h2s", 1000, "hydrogen sulphide"),
        _gas("nh3", 1000, "ammonia"),
    ),
    doc_url=DOC_URL,
    decode=decode,
)
