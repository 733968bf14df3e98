"""Browan Tabs TBHH100 / TBMS100: vendor frames, sentinels, envelope errors, encode round trip."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.errors import PayloadLengthError, UnsupportedPortError
from decoders import decode, decode_uplink
from firmware_sim.encoders import ENCODERS


def test_tbhh100_vendor_frame_ignores_reserved_bits() -> None:
    # Battery byte 0xAB: the high nibble is reserved; the value is 0xB -> (25 + 11) / 10 V.
    got = decode("browan-tbhh100", 103, bytes.fromhex("08ab3522ffffffff"))
    assert got == {"battery_voltage": 3.6, "temperature": 21, "relative_humidity": 34}


def test_tbhh100_iaq_variant_sends_co2_and_voc_little_endian() -> None:
    got = decode("browan-tbhh100", 103, bytes.fromhex("010b3a2d2003f401"))
    assert got["co2"] == 800 and got["tvoc"] == 500 and got["temperature"] == 26


def test_tbhh100_humidity_error_value_is_left_out() -> None:
    got = decode("browan-tbhh100", 103, bytes.fromhex("000b357fffffffff"))
    assert "relative_humidity" not in got and got["temperature"] == 21


def test_tbms100_vendor_frame() -> None:
    got = decode("browan-tbms100", 102, bytes.fromhex("01bb340400dc7801"))
    assert got == {
        "occupancy": 1,
        "battery_voltage": 3.6,
        "board_temperature": 20,
        "minutes_since_motion": 4,
        "motion": 96476,
    }


@pytest.mark.parametrize(
    ("model", "f_port", "payload", "error"),
    [
        ("browan-tbhh100", 103, "08ab3522ffffff", PayloadLengthError),
        ("browan-tbhh100", 102, "01bb340400dc7801", UnsupportedPortError),
        ("browan-tbms100", 102, "", PayloadLengthError),
        ("browan-tbms100", 42, "01", UnsupportedPortError),
    ],
)
def test_envelope_errors(model: str, f_port: int, payload: str, error: type[Exception]) -> None:
    with pytest.raises(error, match=model):
        decode(model, f_port, bytes.fromhex(payload))


@given(
    temperature=st.floats(-32, 95),
    rh=st.floats(0, 100),
    co2=st.one_of(st.none(), st.integers(0, 10000)),
    tvoc=st.one_of(st.none(), st.integers(0, 60000)),
    battery=st.integers(0, 15).map(lambda v: (25 + v) / 10),
)
def test_tbhh100_round_trip(
    temperature: float, rh: float, co2: int | None, tvoc: int | None, battery: float
) -> None:
    values = {"temperature": temperature, "relative_humidity": rh, "battery_voltage": battery}
    values |= {k: v for k, v in (("co2", co2), ("tvoc", tvoc)) if v is not None}
    got = decode("browan-tbhh100", *ENCODERS["browan-tbhh100"](values))
    assert abs(got["temperature"] - temperature) <= 0.5
    assert abs(got["relative_humidity"] - rh) <= 0.5
    assert got["battery_voltage"] == pytest.approx(battery)
    assert got.get("co2") == co2 and got.get("tvoc") == tvoc


@given(
    occupancy=st.integers(0, 1),
    motion=st.integers(0, 0xFFFFFF),
    minutes=st.integers(0, 0xFFFF),
    board=st.floats(-32, 95),
)
def test_tbms100_round_trip(occupancy: int, motion: int, minutes: int, board: float) -> None:
    values = {
        "occupancy": occupancy,
        "motion": motion,
        "minutes_since_motion": minutes,
        "board_temperature": board,
    }
    got = decode("browan-tbms100", *ENCODERS["browan-tbms100"](values))
    assert (got["occupancy"], got["motion"], got["minutes_since_motion"]) == (
        occupancy,
        motion,
        minutes,
    )
    assert abs(got["board_temperature"] - board) <= 0.5


def test_appended_bytes_are_reported_and_the_frame_kept() -> None:
    got = decode_uplink("browan-tbms100", 102, bytes.fromhex("01bb340400dc7801" + "ee"))
    assert got.frames[0].readings["occupancy"] == 1
    assert [(u.offset, u.hex) for u in got.unknown] == [(8, "ee")]
