"""ESP32-Paxcounter packed format: per-port frames, sentinels, refused ports, round trip."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.errors import PayloadLengthError, UnsupportedPortError
from decoders import decode, decode_uplink
from firmware_sim.encoders import ENCODERS

MODEL = "paxcounter"


def _decode(f_port: int, hex_payload: str) -> dict[str, float]:
    return decode(MODEL, f_port, bytes.fromhex(hex_payload))


def test_counts_wifi_and_ble_little_endian() -> None:
    assert _decode(1, "07000300") == {"wifi_devices": 7, "ble_devices": 3, "people_count": 10}


def test_counts_wifi_only_when_ble_is_off() -> None:
    assert _decode(1, "2c01") == {"wifi_devices": 300, "people_count": 300}


def test_counts_with_gps_appended_keep_the_counts() -> None:
    got = _decode(1, "07000300" + "65ca060305196f0005c6004200")
    assert got["people_count"] == 10


def test_status_frames_old_and_new() -> None:
    new = _decode(2, "2f0100000000c04b03002dc04b03000005000000")
    assert new == {"battery_voltage": 0.303, "free_memory": 216000, "restart_count": 5}
    old = _decode(2, "0000c04b0300000000002d001000000101")
    assert old == {"free_memory": 4096}  # 0 mV: no battery probe


def test_environment_temperature_is_big_endian_twos_complement() -> None:
    got = _decode(7, "fdda" + "1027" + "401f" + "0000")  # -5.50 degC
    assert got == {"temperature": -5.5, "pressure": 1000.0, "relative_humidity": 80.0, "iaq": 0.0}


def test_battery_frame_and_no_probe_sentinel() -> None:
    assert _decode(8, "6810") == {"battery_voltage": 4.2}
    assert _decode(8, "0000") == {}


@pytest.mark.parametrize(
    ("f_port", "payload", "error"),
    [
        (1, "07", PayloadLengthError),
        (1, "070003", PayloadLengthError),
        (2, "2f01", PayloadLengthError),
        (7, "0834102740", PayloadLengthError),
        (8, "2f", PayloadLengthError),
        (4, "65ca060305196f0005c600", PayloadLengthError),
        (5, "", PayloadLengthError),
        (9, "9086c8", PayloadLengthError),
        (99, "00", UnsupportedPortError),
    ],
)
def test_refused_frames(f_port: int, payload: str, error: type[Exception]) -> None:
    with pytest.raises(error, match=f"{MODEL} fPort {f_port}"):
        _decode(f_port, payload)


@given(wifi=st.integers(0, 0xFFFF), ble=st.integers(0, 0xFFFF))
def test_counts_round_trip(wifi: int, ble: int) -> None:
    got = decode(MODEL, *ENCODERS[MODEL]({"wifi_devices": wifi, "ble_devices": ble}))
    assert got == {"wifi_devices": wifi, "ble_devices": ble, "people_count": wifi + ble}


@given(count=st.integers(0, 0xFFFF))
def test_bare_people_count_round_trip(count: int) -> None:
    assert decode(MODEL, *ENCODERS[MODEL]({"people_count": count}))["people_count"] == count


@given(
    temperature=st.floats(-40, 85),
    pressure=st.floats(300, 1100),
    rh=st.floats(0, 100),
    iaq=st.floats(0, 500),
)
def test_environment_round_trip(temperature: float, pressure: float, rh: float, iaq: float) -> None:
    values = {"temperature": temperature, "pressure": pressure, "relative_humidity": rh, "iaq": iaq}
    got = decode(MODEL, *ENCODERS[MODEL](values))
    assert got["temperature"] == pytest.approx(temperature, abs=0.005 + 1e-9)
    assert got["pressure"] == pytest.approx(pressure, abs=0.05 + 1e-9)
    assert got["relative_humidity"] == pytest.approx(rh, abs=0.005 + 1e-9)
    assert got["iaq"] == pytest.approx(iaq, abs=0.005 + 1e-9)


@given(volts=st.floats(0.001, 6))
def test_battery_round_trip(volts: float) -> None:
    got = decode(MODEL, *ENCODERS[MODEL]({"battery_voltage": volts}))
    assert got["battery_voltage"] == pytest.approx(volts, abs=0.0005 + 1e-9)


def _uplink(f_port: int, hex_payload: str):
    return decode_uplink(MODEL, f_port, bytes.fromhex(hex_payload))


def test_counts_then_an_appended_block_keep_the_counts() -> None:
    """The issue's frame: 17 Wi-Fi + 5 BLE, then a particle-sensor block the decoder does
    not know (4 bytes): people_count 22 and the block reported at offset 4."""
    got = _uplink(1, "110005007b005700")
    assert got.frames[0].readings == {"wifi_devices": 17, "ble_devices": 5, "people_count": 22}
    assert [(u.offset, u.hex) for u in got.unknown] == [(4, "7b005700")]


def test_gps_fix_of_the_counter_is_status() -> None:
    """TTN example (fPort 4): 50.776677, 7.280901, 5 satellites, HDOP 1.98, 66 m."""
    got = _uplink(4, "65ca060305196f0005c6004200")
    assert got.frames == ()
    assert got.status == {
        "gps_latitude": 50.776677,
        "gps_longitude": 7.280901,
        "gps_satellites": 5,
        "gps_hdop": 1.98,
        "gps_altitude_m": 66,
    }
    with_counts = _uplink(1, "07000300" + "65ca060305196f0005c6004200")
    assert with_counts.status["gps_satellites"] == 5 and with_counts.unknown == ()


def test_status_only_ports() -> None:
    assert _uplink(5, "01").status == {"button": True}
    time = _uplink(9, "9086c86000")
    assert time.frames == () and time.status == {"device_time_s": 1623754384, "time_status": 0}
    config = _uplink(3, "090f000078320a0000000000000000000000000000")
    assert config.frames == ()
    assert config.status == {
        "lora_dr": 9,
        "lora_tx_power": 15,
        "rssi_limit": 0,
        "send_cycle_s": 240,
    }
    assert config.unknown[0].offset == 5
    user = _uplink(10, "0000")
    assert user.frames == () and user.unknown[0].hex == "0000"
