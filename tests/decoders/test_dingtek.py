"""Dingtek DC520: vendor frames, envelope checks (head, type, length, tail), round trip."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.errors import IntegrityError, PayloadLengthError, UnsupportedPortError
from decoders import decode, decode_uplink
from firmware_sim.encoders import ENCODERS

MODEL = "dingtek-dc520"
DATA = "80005202130001000200010000000500000181"
PARAMETERS = "800052031201020100050023003200141481"


def _decode(hex_payload: str, f_port: int = 3) -> dict[str, float]:
    return decode(MODEL, f_port, bytes.fromhex(hex_payload))


def test_vendor_data_frame() -> None:
    assert _decode(DATA) == {"people_count": 1, "people_in": 2, "people_out": 1, "error_code": 0}


def test_periodic_data_type_decodes_like_event() -> None:
    assert _decode("80005201" + DATA[8:])["people_in"] == 2


def test_encoder_reproduces_the_vendor_frame() -> None:
    values = {"people_in": 2, "people_out": 1, "battery_voltage": 0.05, "frame_counter": 1}
    assert ENCODERS[MODEL](values) == (3, bytes.fromhex(DATA))


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        ("", PayloadLengthError),
        ("80005202", PayloadLengthError),
        ("81" + DATA[2:], IntegrityError),  # head
        ("80005102" + DATA[8:], IntegrityError),  # device type (DC510 is 0x0015, not 0x0052)
        (DATA[:-2] + "80", IntegrityError),  # tail
        ("80005202" + "12" + DATA[10:], PayloadLengthError),  # length byte disagrees
        ("80005207" + DATA[8:], IntegrityError),  # unknown data type
        ("800052020681", PayloadLengthError),  # data frame too short for its fields
    ],
)
def test_refused_frames(payload: str, error: type[Exception]) -> None:
    with pytest.raises(error, match=MODEL):
        _decode(payload)


def test_other_port_is_refused() -> None:
    with pytest.raises(UnsupportedPortError):
        _decode(DATA, f_port=1)


@given(
    people_in=st.integers(0, 0xFFFF),
    people_out=st.integers(0, 0xFFFF),
    balance=st.integers(0, 0xFFFF),
    error=st.integers(0, 0xFF),
)
def test_round_trip(people_in: int, people_out: int, balance: int, error: int) -> None:
    values = {
        "people_in": people_in,
        "people_out": people_out,
        "people_count": balance,
        "error_code": error,
    }
    assert decode(MODEL, *ENCODERS[MODEL](values)) == values


def test_parameter_report_is_status() -> None:
    """The vendor's example: firmware 1.2, upload interval 1, original balance 5,
    thresholds balance 35, in 50, out 20, battery 20."""
    got = decode_uplink(MODEL, 3, bytes.fromhex(PARAMETERS))
    assert got.frames == () and got.unknown == ()
    assert got.status == {
        "firmware_version": "1.2",
        "upload_interval": 1,
        "original_balance": 5,
        "balance_threshold": 35,
        "in_threshold": 50,
        "out_threshold": 20,
        "battery_threshold": 20,
    }


def test_longer_data_frame_keeps_its_readings_and_reports_the_rest() -> None:
    longer = "800052021500010002000100000005000001" + "abcd" + "81"
    got = decode_uplink(MODEL, 3, bytes.fromhex(longer))
    assert got.frames[0].readings == {
        "people_count": 1,
        "people_in": 2,
        "people_out": 1,
        "error_code": 0,
    }
    assert [(u.offset, u.hex) for u in got.unknown] == [(18, "abcd")]


def test_raised_alarm_is_kept_as_status_beside_the_counts() -> None:
    """The vendor's example names four alarms (balance, in, out, battery) in bytes 11..12,
    all 0 there; their bit assignment is unpublished, so a raised alarm is kept as sent."""
    alarmed = DATA[:22] + "0001" + DATA[26:]
    got = decode_uplink(MODEL, 3, bytes.fromhex(alarmed))
    assert got.frames[0].readings["people_in"] == 2
    assert got.status == {"alarm_flags": "0001"}
    assert decode_uplink(MODEL, 3, bytes.fromhex(DATA)).status == {}
