"""ESP32-Paxcounter (open source), "packed" payload format: one fPort per record kind.

Source: the project README, section "Payload format", and its packed encoder
``src/payload.cpp`` (PAYLOAD_ENCODER 2, derived from lora-serialization), in
https://github.com/cyberman54/ESP32-Paxcounter; examples in
TheThingsNetwork/lorawan-devices ``vendor/opensource/esp32-paxcounter-codec.yaml``.
The TTN device repository's codec, and so this decoder, expects the *packed*
format: integers are little-endian, except the signed "float" temperature, which
is a big-endian int16 / 100. The *plain* (big-endian) and Cayenne LPP formats are
build options of the firmware and are not decoded here.

Decoded ports::

    fPort 1  counts, 2, 4, 15 or 17 bytes
      0..1  WWWW  uint16 Wi-Fi devices seen                      wifi_devices
      2..3  BBBB  uint16 BLE devices seen (absent if BLE off)    ble_devices
                                                                 people_count = wifi + ble
      +13   GPS fix appended when GPSPORT is 1 (lat, lon, sats,  (not emitted)
            hdop, altitude)
    fPort 2  device status, 17 bytes (older firmware) or 20 bytes
      0..1  VVVV  uint16 battery/USB mV, 0 = no probe            battery_voltage (V)
      2..9        uint64 uptime s                                (not emitted)
      10          uint8 CPU temperature (uncalibrated die sensor) (not emitted)
      11..14 MMMM uint32 free RAM bytes                          free_memory
      15          reset reason core 0                            (not emitted)
      16..19 RRRR uint32 restarts since power-on (20-byte form;  restart_count
                  the 17-byte form has reset reason core 1 here)
    fPort 7  environment (BME280/680), 8 bytes
      0..1  TTTT  int16 BIG-endian / 100 °C                      temperature
      2..3  PPPP  uint16 / 10 hPa                                pressure
      4..5  HHHH  uint16 / 100 %RH                               relative_humidity
      6..7  QQQQ  uint16 / 100 IAQ index (0..500, BME680 only)   iaq
    fPort 8  battery, 2 bytes
      0..1  VVVV  uint16 battery/USB mV, 0 = no probe            battery_voltage (V)

A voltage of 0 means "no battery probe" and is left out. The other documented
uplink ports carry no readings and are refused with ``UnsupportedPortError``:
3 (configuration reply), 4 (GPS position of the counter itself), 5 (button),
6 (beacon alarm), 9 (time sync), 10..12 (user-defined sensor formats). The uptime
is not emitted: it is a 64-bit counter that no shared example encodes
consistently, and the platform does not need it.
"""

from __future__ import annotations

import struct

from core.errors import PayloadLengthError, UnsupportedPortError
from decoders.spec import DecoderSpec, FieldSpec, Reading

DOC_URL = "https://github.com/cyberman54/ESP32-Paxcounter#payload-format"

PORT_COUNT = 1
PORT_STATUS = 2
PORT_ENV = 7
PORT_BATTERY = 8

_GPS_TAIL = 13

_U16 = struct.Struct("<H")
_COUNTS = struct.Struct("<HH")
#: voltage, uptime, cpu temperature, free memory, reset reason core 0
_STATUS = struct.Struct("<HQBIB")
_RESTARTS = struct.Struct("<I")
#: temperature is big-endian; the rest little-endian
_ENV_TEMP = struct.Struct(">h")
_ENV_REST = struct.Struct("<HHH")

_NO_READINGS: dict[int, str] = {
    3: "configuration reply, no readings",
    4: "GPS position of the counter, not a reading",
    5: "button press, no readings",
    6: "beacon proximity alarm, no readings",
    9: "time sync, no readings",
    10: "user sensor 1, format defined per build",
    11: "user sensor 2, format defined per build",
    12: "user sensor 3, format defined per build",
}

F_PORTS = frozenset({PORT_COUNT, PORT_STATUS, PORT_ENV, PORT_BATTERY, *_NO_READINGS})


def _voltage(out: Reading, millivolts: int) -> None:
    if millivolts:
        out["battery_voltage"] = millivolts / 1000


def _counts(payload: bytes) -> Reading:
    n = len(payload)
    if n in (2, 2 + _GPS_TAIL):
        wifi = _U16.unpack_from(payload)[0]
        return {"wifi_devices": wifi, "people_count": wifi}
    if n in (4, 4 + _GPS_TAIL):
        wifi, ble = _COUNTS.unpack_from(payload)
        return {"wifi_devices": wifi, "ble_devices": ble, "people_count": wifi + ble}
    raise PayloadLengthError(f"count frame is 2, 4, 15 or 17 bytes, got {n}")


def _status(payload: bytes) -> Reading:
    n = len(payload)
    if n not in (17, 20):
        raise PayloadLengthError(f"status frame is 17 or 20 bytes, got {n}")
    millivolts, _uptime, _cpu, memory, _reset0 = _STATUS.unpack_from(payload)
    out: Reading = {"free_memory": memory}
    _voltage(out, millivolts)
    if n == 20:
        out["restart_count"] = _RESTARTS.unpack_from(payload, _STATUS.size)[0]
    return out


def _environment(payload: bytes) -> Reading:
    if len(payload) != 8:
        raise PayloadLengthError(f"environment frame is 8 bytes, got {len(payload)}")
    temp = _ENV_TEMP.unpack_from(payload)[0]
    pressure, humidity, iaq = _ENV_REST.unpack_from(payload, 2)
    return {
        "temperature": temp / 100,
        "pressure": pressure / 10,
        "relative_humidity": humidity / 100,
        "iaq": iaq / 100,
    }


def _battery(payload: bytes) -> Reading:
    if len(payload) != 2:
        raise PayloadLengthError(f"battery frame is 2 bytes, got {len(payload)}")
    out: Reading = {}
    _voltage(out, _U16.unpack(payload)[0])
    return out


_DECODERS = {
    PORT_COUNT: _counts,
    PORT_STATUS: _status,
    PORT_ENV: _environment,
    PORT_BATTERY: _battery,
}


def decode(f_port: int, payload: bytes) -> Reading:
    """Decode one packed-format uplink; the fPort says which record it is."""
    decoder = _DECODERS.get(f_port)
    if decoder is None:
        reason = _NO_READINGS.get(f_port, "not a Paxcounter uplink port")
        raise UnsupportedPortError(f"fPort {f_port}: {reason}")
    return decoder(payload)


PAXCOUNTER = DecoderSpec(
    key="paxcounter",
    vendor="Open Source Community Projects",
    model="ESP32-Paxcounter (packed payload)",
    need="footfall",
    f_ports=F_PORTS,
    fields=(
        FieldSpec("people_count", "count", 0, 2 * 0xFFFF, "Wi-Fi + BLE devices seen in the cycle"),
        FieldSpec("wifi_devices", "count", 0, 0xFFFF, "unique Wi-Fi MACs seen in the cycle"),
        FieldSpec("ble_devices", "count", 0, 0xFFFF, "unique BLE MACs seen in the cycle"),
        FieldSpec("battery_voltage", "V", 0, 6, "battery or USB supply, 1 mV resolution"),
        FieldSpec("free_memory", "bytes", 0, 0xFFFFFFFF, "free heap"),
        FieldSpec("restart_count", "count", 0, 0xFFFFFFFF, "restarts since power-on"),
        FieldSpec("temperature", "degC", -40, 85, "BME280/680, 0.01 degC resolution"),
        FieldSpec("pressure", "hPa", 300, 1100, "BME280/680, 0.1 hPa resolution"),
        FieldSpec("relative_humidity", "%", 0, 100, "BME280/680, 0.01 % resolution"),
        FieldSpec("iaq", "index", 0, 500, "BME680 indoor air quality index"),
    ),
    doc_url=DOC_URL,
    decode=decode,
)
