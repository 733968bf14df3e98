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
      +13   GPS fix appended when GPSPORT is 1 (lat, lon, sats,  gps_* status
            hdop, altitude)
    fPort 2  device status, 17 bytes (older firmware) or 20 bytes
      0..1  VVVV  uint16 battery/USB mV, 0 = no probe            battery_voltage (V)
      2..9        uint64 uptime s                                (not emitted)
      10          uint8 CPU temperature (uncalibrated die sensor) status cpu_temperature
      11..14 MMMM uint32 free RAM bytes                          free_memory
      15          reset reason core 0                            status reset_reason
      16..19 RRRR uint32 restarts since power-on (20-byte form;  restart_count
                  the 17-byte form has reset reason core 1 here)
    fPort 7  environment (BME280/680), 8 bytes
      0..1  TTTT  int16 BIG-endian / 100 °C                      temperature
      2..3  PPPP  uint16 / 10 hPa                                pressure
      4..5  HHHH  uint16 / 100 %RH                               relative_humidity
      6..7  QQQQ  uint16 / 100 IAQ index (0..500, BME680 only)   iaq
    fPort 8  battery, 2 bytes
      0..1  VVVV  uint16 battery/USB mV, 0 = no probe            battery_voltage (V)

A voltage of 0 means "no battery probe" and is left out. Bytes after a record's
documented length are kept out of the readings and reported (offset, hex): the
firmware appends sensor blocks to the count frame (SDS011 particles, for instance)
whose layout depends on the build, so the counts before them are kept.

Ports without readings are status (a valid frame, never an error)::

    fPort 3  configuration reply: LoRa DR, TX power, int16 RSSI limit, send cycle / 2 s
             (the packed layout of the rest is not pinned down by the vendor example:
             reported undecoded)
    fPort 4  GPS fix of the counter itself: int32 latitude, int32 longitude (1e-6 deg),
             satellites, uint16 HDOP / 100, uint16 altitude m       gps_* status
    fPort 5  button pressed (0x01)                                  button
    fPort 6  beacon proximity alarm (body not decoded)              beacon_alarm
    fPort 9  uint32 device time (Unix s), time-source status byte   device_time_s
    fPort 10..12  user sensor, format defined per build: reported undecoded

The uptime is not emitted: it is a 64-bit counter that no shared example encodes
consistently, and the platform does not need it.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

from core.errors import PayloadLengthError, UnsupportedPortError
from decoders.frames import Uplink
from decoders.spec import DecodedUplink, DecoderSpec, FieldSpec, Reading

DOC_URL = "https://github.com/cyberman54/ESP32-Paxcounter#payload-format"

PORT_COUNT = 1
PORT_STATUS = 2
PORT_CONFIG = 3
PORT_GPS = 4
PORT_BUTTON = 5
PORT_BEACON = 6
PORT_ENV = 7
PORT_BATTERY = 8
PORT_TIME = 9
PORTS_USER = frozenset({10, 11, 12})

_GPS_TAIL = 13

_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_COUNTS = struct.Struct("<HH")
#: voltage, uptime, cpu temperature, free memory, reset reason core 0
_STATUS = struct.Struct("<HQBIB")
#: temperature is big-endian; the rest little-endian
_ENV_TEMP = struct.Struct(">h")
_ENV_REST = struct.Struct("<HHH")
#: latitude, longitude (1e-6 degrees), satellites, HDOP (1/100), altitude m
_GPS = struct.Struct("<iiBHH")
#: packed configuration reply head: LoRa DR, TX power, RSSI limit, send cycle / 2
_CONFIG = struct.Struct("<BBhB")

F_PORTS = frozenset(
    {
        PORT_COUNT,
        PORT_STATUS,
        PORT_CONFIG,
        PORT_GPS,
        PORT_BUTTON,
        PORT_BEACON,
        PORT_ENV,
        PORT_BATTERY,
        PORT_TIME,
        *PORTS_USER,
    }
)


def _voltage(out: Reading, millivolts: int) -> None:
    if millivolts:
        out["battery_voltage"] = millivolts / 1000


def _need(payload: bytes, size: int, what: str) -> None:
    if len(payload) < size:
        raise PayloadLengthError(f"{what} is {size} bytes, got {len(payload)}")


def _gps(payload: bytes, offset: int, up: Uplink) -> None:
    lat, lon, sats, hdop, altitude = _GPS.unpack_from(payload, offset)
    up.set("gps_latitude", lat / 1e6)
    up.set("gps_longitude", lon / 1e6)
    up.set("gps_satellites", sats)
    up.set("gps_hdop", hdop / 100)
    up.set("gps_altitude_m", altitude)


def _counts(payload: bytes, up: Uplink) -> None:
    """Wi-Fi count, BLE count if BLE scanning is on, GPS fix if GPSPORT is 1; anything
    else after the counts (a particle-sensor block, for instance) is reported."""
    n = len(payload)
    _need(payload, 2, "a count frame")
    if n in (2, 2 + _GPS_TAIL):
        wifi = _U16.unpack_from(payload)[0]
        up.now.update(wifi_devices=wifi, people_count=wifi)
        end = 2
    elif n >= 4:
        wifi, ble = _COUNTS.unpack_from(payload)
        up.now.update(wifi_devices=wifi, ble_devices=ble, people_count=wifi + ble)
        end = 4
    else:
        raise PayloadLengthError(f"count frame of {n} bytes: neither Wi-Fi alone nor Wi-Fi + BLE")
    if n == end + _GPS_TAIL:
        _gps(payload, end, up)
        end = n
    up.skip(payload, end, note="after the counts (sensor block not decoded)")


def _status(payload: bytes, up: Uplink) -> None:
    _need(payload, 17, "a status frame")
    millivolts, _uptime, cpu, memory, reset0 = _STATUS.unpack_from(payload)
    up.now["free_memory"] = memory
    _voltage(up.now, millivolts)
    up.set("cpu_temperature", cpu)
    up.set("reset_reason", reset0)
    if len(payload) >= 20:
        up.now["restart_count"] = _U32.unpack_from(payload, _STATUS.size)[0]
        up.skip(payload, 20, note="after the status")
    else:
        up.set("reset_reason_core1", payload[16])


def _config(payload: bytes, up: Uplink) -> None:
    """Only the head whose packed layout the vendor example pins down; the rest is reported."""
    _need(payload, _CONFIG.size, "a configuration reply")
    dr, power, rssi, cycle = _CONFIG.unpack_from(payload)
    up.set("lora_dr", dr)
    up.set("lora_tx_power", power)
    up.set("rssi_limit", rssi)
    up.set("send_cycle_s", cycle * 2)
    up.skip(payload, _CONFIG.size, note="configuration flags, payload mask and version")


def _gps_fix(payload: bytes, up: Uplink) -> None:
    _need(payload, _GPS.size, "a GPS fix")
    _gps(payload, 0, up)
    up.skip(payload, _GPS.size, note="after the GPS fix")


def _button(payload: bytes, up: Uplink) -> None:
    _need(payload, 1, "a button alarm")
    up.set("button", True)
    up.skip(payload, 1, note="after the button byte")


def _beacon(payload: bytes, up: Uplink) -> None:
    _need(payload, 1, "a beacon alarm")
    up.set("beacon_alarm", True)
    up.skip(payload, 0, note="beacon alarm body not decoded")


def _environment(payload: bytes, up: Uplink) -> None:
    _need(payload, 8, "an environment frame")
    temp = _ENV_TEMP.unpack_from(payload)[0]
    pressure, humidity, iaq = _ENV_REST.unpack_from(payload, 2)
    up.now.update(
        temperature=temp / 100,
        pressure=pressure / 10,
        relative_humidity=humidity / 100,
        iaq=iaq / 100,
    )
    up.skip(payload, 8, note="after the environment record")


def _battery(payload: bytes, up: Uplink) -> None:
    _need(payload, 2, "a battery frame")
    _voltage(up.now, _U16.unpack_from(payload)[0])
    up.skip(payload, 2, note="after the battery voltage")


def _time(payload: bytes, up: Uplink) -> None:
    _need(payload, 4, "a time frame")
    up.set("device_time_s", _U32.unpack_from(payload)[0])
    if len(payload) > 4:
        up.set("time_status", payload[4])
    up.skip(payload, 5, note="after the time and its status")


_DECODERS: dict[int, Callable[[bytes, Uplink], None]] = {
    PORT_COUNT: _counts,
    PORT_STATUS: _status,
    PORT_CONFIG: _config,
    PORT_GPS: _gps_fix,
    PORT_BUTTON: _button,
    PORT_BEACON: _beacon,
    PORT_ENV: _environment,
    PORT_BATTERY: _battery,
    PORT_TIME: _time,
}


def decode(f_port: int, payload: bytes) -> Reading | DecodedUplink:
    """Decode one packed-format uplink; the fPort says which record it is."""
    up = Uplink()
    if f_port in PORTS_USER:
        if not payload:
            raise PayloadLengthError("empty user sensor frame")
        up.set("user_sensor_port", f_port)
        up.skip(payload, 0, note="user sensor: format defined per build")
        return up.result()
    decoder = _DECODERS.get(f_port)
    if decoder is None:
        raise UnsupportedPortError(f"fPort {f_port} is not a Paxcounter uplink port")
    decoder(payload, up)
    return up.result()


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
    frame_kinds=frozenset({"readings", "status"}),
)
