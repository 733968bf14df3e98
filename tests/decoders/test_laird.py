"""Laird RS1xx Temp/RH: vendor frames, split fixed-point values, refused message types, round trip."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.errors import IntegrityError, PayloadLengthError, SanityError, UnsupportedPortError
from decoders import decode
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


def test_vendor_example_at_98_degrees_is_outside_the_sensor_range() -> None:
    with pytest.raises(SanityError, match="temperature=98.67"):
        _decode("0100213443620501000001")


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
        ("02000000000502000000002134436222354463", UnsupportedPortError),
        ("0302000000022a3d4c6b", UnsupportedPortError),
        ("0500010100000100", UnsupportedPortError),
        ("0700140b05060101020304", UnsupportedPortError),
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
