"""Laird RS1xx Temp/RH: vendor frames, split fixed-point values, refused message types, round trip."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.errors import IntegrityError, PayloadLengthError, UnsupportedPortError
from decoders import decode, decode_uplink
from decoders.families.laird import EPOCH_2015
from firmware_sim.encoders import ENCODERS

MODEL = "laird-rs1xx-temp-rh"


def _decode(hex_payload: str, f_port: int = 1) -> dict[str, float]:
    return decode(MODEL, f_port, bytes.fromhex(hex_payload))


def test_temp_rh_notification() -> None:
    # 21.50 degC (fraction 50, integer 21), 45.26 %RH, battery band 4 (60-80 %).
    got = _decode("01001a2d3215040000000a")
    assert got == {"temperature": 21.5, "relative_humidity": 45.26, "battery_band": 4}


def test_negative_temperature_has_negative_fraction_and_integer() -> None:
    # -15.87 degC is sent as fraction -87 (0xa9), integer -15 (0xf1).
    assert _decode("01002134a9f10500000000")["temperature"] == pytest.approx(-15.87)


def test_battery_voltage_report_vendor_frame() -> None:
    assert _decode("0a000103") == {"battery_voltage": 3.01}


def _uplink(hex_: str):
    return decode_uplink("laird-rs1xx-temp-rh", 1, bytes.fromhex(hex_))


def test_vendor_example_at_98_degrees_withholds_only_the_temperature() -> None:
    """The TTN example reads 98.67 °C on a sensor rated to 85 °C: the humidity beside it
    survives, the temperature is withheld, the counters are status."""
    got = _uplink("0100213443620501000001")
    assert got.frames[0].readings == {"relative_humidity": 52.33, "battery_band": 5}
    assert got.withheld == {"temperature": 98.67}
    assert got.status == {"alarm_messages": 256, "backlog_messages": 1}


def test_aggregated_readings_are_kept_apart_in_the_order_sent() -> None:
    """Type 0x02 (TTN example, clock at 0 = never set): two readings of one batch time, one
    second apart so that neither overwrites the other in InfluxDB."""
    got = _uplink("02000000000502000000002134436222354463")
    assert [f.readings["relative_humidity"] for f in got.frames[:2]] == [52.33, 53.34]
    assert [f.age_s for f in got.frames[:2]] == [1.0, 0.0]
    assert got.withheld == {"temperature": 99.68}
    assert got.frames[2].readings == {"battery_band": 5}
    assert got.status["aggregate_readings"] == 2 and got.status["clock_unset"] is True
    assert got.status["device_time_raw_s"] == EPOCH_2015


def test_backlog_messages_are_history_at_the_sensor_clock() -> None:
    """0x03 and 0x04 with a set clock: seconds since 2015-01-01 become Unix time."""
    clock = (1_700_000_000 - EPOCH_2015).to_bytes(4, "big").hex()
    one = _uplink("0300" + clock + "2a3d4c15")
    assert one.frames[0].time_ns == 1_700_000_000 * 10**9
    assert one.frames[0].readings == {"relative_humidity": 61.42, "temperature": 21.76}
    later = (1_700_000_600 - EPOCH_2015).to_bytes(4, "big").hex()
    many = _uplink("040102" + clock + "2a3d4c15" + later + "003c0014")
    assert [f.time_ns for f in many.frames] == [1_700_000_000 * 10**9, 1_700_000_600 * 10**9]
    assert many.frames[1].readings == {"relative_humidity": 60.0, "temperature": 20.0}
    assert many.status == {"requests_server_time": True}


def test_backlog_vendor_example_with_unset_clock() -> None:
    got = _uplink("0302000000022a3d4c6b")
    assert got.withheld == {"temperature": 107.76}
    assert got.frames[0].readings == {"relative_humidity": 61.42}
    assert got.frames[0].age_s == 0.0
    assert got.status["configuration_error"] is True


def test_configuration_and_firmware_reports_are_status() -> None:
    simple = _uplink("0500010100000100")
    assert simple.frames == ()
    assert simple.status == {
        "battery_type": "alkaline",
        "sensor_read_period": 256,
        "sensor_aggregate": 0,
        "temperature_alarms": True,
        "humidity_alarms": False,
    }
    advanced = _uplink("0600010100010101ff500010000a000a")
    assert advanced.status["temperature_alarm_low"] == -1
    assert advanced.status["temperature_alarm_high"] == 80
    assert advanced.status["humidity_alarm_high"] == 16 and advanced.status["led_lora"] == 10
    firmware = _uplink("0700140b05060101020304")
    assert firmware.frames == ()
    assert firmware.status == {
        "firmware_version": "6.1",
        "firmware_date": "2020-11-05",
        "part_number": 0x01020304,
    }


def test_appended_bytes_are_reported() -> None:
    got = _uplink("01001a2d3215040000000a" + "beef")
    assert got.frames[0].readings["temperature"] == 21.5
    assert [(u.offset, u.hex) for u in got.unknown] == [(11, "beef")]


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        ("", PayloadLengthError),
        ("01002134436205010000", PayloadLengthError),
        ("0a0001", PayloadLengthError),
        ("01002134a90f0500000000", IntegrityError),  # fraction -87 with integer +15
        ("0100642d3215040000000a", IntegrityError),  # humidity fraction 100
        ("0100213464150500000000", IntegrityError),  # temperature fraction 100
        ("0900", IntegrityError),  # not a Temp/RH message type
        ("020000000005020000000021344362", PayloadLengthError),  # 2 readings announced, 1 sent
        ("0302000000022a3d", PayloadLengthError),
        ("040102000000002a3d4c6b", PayloadLengthError),
    ],
)
def test_refused_frames(payload: str, error: type[Exception]) -> None:
    with pytest.raises(error, match=MODEL):
        _decode(payload)


def test_other_port_is_refused() -> None:
    with pytest.raises(UnsupportedPortError):
        _decode("0a000103", f_port=2)


@given(temperature=st.floats(-40, 85), rh=st.floats(0, 100), band=st.integers(0, 5))
def test_round_trip(temperature: float, rh: float, band: int) -> None:
    values = {"temperature": temperature, "relative_humidity": rh, "battery_band": band}
    got = decode(MODEL, *ENCODERS[MODEL](values))
    assert got["temperature"] == pytest.approx(temperature, abs=0.005 + 1e-9)
    assert got["relative_humidity"] == pytest.approx(rh, abs=0.005 + 1e-9)
    assert got["battery_band"] == band


@given(volts=st.floats(0, 4))
def test_battery_round_trip(volts: float) -> None:
    got = decode(MODEL, *ENCODERS[MODEL]({"battery_voltage": volts}))
    assert got["battery_voltage"] == pytest.approx(volts, abs=0.005 + 1e-9)


def test_cayenne_lpp_frame_is_recognised_and_refused() -> None:
    # ch1 temperature 0x00e1 = 22.5 degC, ch2 humidity 0x5a = 45 %, ch3 analog 0x012c.
    with pytest.raises(IntegrityError, match="Cayenne"):
        _decode("016700e102685a0302012c")
