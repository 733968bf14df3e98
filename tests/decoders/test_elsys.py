"""Elsys ERS family: vendor frames, every way a frame can be wrong, and encode -> decode round trips."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.errors import IntegrityError, PayloadLengthError, UnsupportedPortError
from decoders import decode, decode_uplink
from firmware_sim.encoders import ENCODERS

MODELS = ["elsys-ers", "elsys-ers-co2", "elsys-ers-eye"]
BASE = "0100e202290400270506"  # 22.6 °C, 41 %RH, 39 lux, 6 PIR triggers (vendor example)


@pytest.mark.parametrize("model", MODELS)
def test_vendor_base_frame(model: str) -> None:
    assert decode(model, 1, bytes.fromhex(BASE)) == {
        "temperature": 22.6,
        "relative_humidity": 41,
        "illuminance": 39,
        "motion": 6,
    }


def test_negative_temperature_and_battery_in_volts() -> None:
    got = decode("elsys-ers", 5, bytes.fromhex("01ff9c070e10"))
    assert got == {"temperature": -10.0, "battery_voltage": 3.6}


def test_co2_model_reads_co2() -> None:
    assert decode("elsys-ers-co2", 5, bytes.fromhex("060308"))["co2"] == 776


@pytest.mark.parametrize(("state", "occupancy"), [(0, 0), (2, 1)])
def test_eye_occupancy_states(state: int, occupancy: int) -> None:
    got = decode("elsys-ers-eye", 5, bytes([0x11, state]))
    assert got == {"occupancy_state": state, "occupancy": occupancy}


def test_eye_pending_state_has_no_occupancy() -> None:
    assert decode("elsys-ers-eye", 5, bytes.fromhex("1101")) == {"occupancy_state": 1}


def test_eye_occupancy_state_out_of_range_is_withheld() -> None:
    got = decode_uplink("elsys-ers-eye", 5, bytes.fromhex("0100e21103"))
    assert got.withheld == {"occupancy_state": 3}
    assert got.frames[0].readings == {"temperature": 22.6}


def _uplink(model: str, hex_: str):
    return decode_uplink(model, 1, bytes.fromhex(hex_))


@pytest.mark.parametrize(
    ("model", "hex_", "kept", "unknown"),
    [
        # An undefined type has no known size: keep what came before, report the rest.
        (
            "elsys-ers",
            "0100e202292001",
            {"temperature": 22.6, "relative_humidity": 41},
            (5, "2001"),
        ),
        # A defined type the model does not measure is skipped by its size and reported.
        ("elsys-ers", "060308" + "0229", {"relative_humidity": 41}, (0, "060308")),
        ("elsys-ers-co2", "1102" + "06019a", {"co2": 410}, (0, "1102")),
        # A record cut short at the end.
        ("elsys-ers", "0100e202", {"temperature": 22.6}, (3, "02")),
    ],
)
def test_unknown_parts_are_reported_and_the_rest_kept(
    model: str, hex_: str, kept: dict[str, float], unknown: tuple[int, str]
) -> None:
    got = _uplink(model, hex_)
    assert got.frames[0].readings == kept
    assert [(u.offset, u.hex) for u in got.unknown] == [unknown]


def test_settings_record_is_status() -> None:
    got = _uplink("elsys-ers", "3e03aabbcc0100e2")
    assert got.status == {"settings": "aabbcc"}
    assert got.frames[0].readings == {"temperature": 22.6}
    only = _uplink("elsys-ers", "3e020102")
    assert only.frames == () and only.status == {"settings": "0102"}


@pytest.mark.parametrize(
    ("model", "hex_", "withheld"),
    [
        ("elsys-ers", "0265", {"relative_humidity": 101}),
        ("elsys-ers", "017fff", {"temperature": 3276.7}),
        ("elsys-ers-co2", "06ffff", {"co2": 65535}),
    ],
)
def test_out_of_range_values_are_withheld(
    model: str, hex_: str, withheld: dict[str, float]
) -> None:
    got = _uplink(model, hex_ + "0400" + "27")
    assert got.withheld == withheld
    assert got.frames[0].readings == {"illuminance": 39}


def test_eye_walks_over_grideye_heat_map() -> None:
    frame = bytes([0x13, 20]) + bytes(64) + bytes.fromhex("0100e2")
    assert decode("elsys-ers-eye", 5, frame) == {"temperature": 22.6}


def test_settings_and_debug_records_are_walked_over() -> None:
    frame = bytes.fromhex("3e03aabbcc" + "3d01020304" + "0100e2")
    assert decode("elsys-ers", 5, frame) == {"temperature": 22.6}


@pytest.mark.parametrize(
    ("model", "hex_", "error"),
    [
        ("elsys-ers", "", PayloadLengthError),
        ("elsys-ers", "0100", PayloadLengthError),  # temperature cut short
        ("elsys-ers", "3e05aabb", PayloadLengthError),  # settings longer than the frame
        ("elsys-ers", "3e", PayloadLengthError),
        ("elsys-ers", "00", IntegrityError),  # reserved type
        ("elsys-ers", "ff00", IntegrityError),
    ],
)
def test_bad_frames(model: str, hex_: str, error: type[Exception]) -> None:
    with pytest.raises(error) as caught:
        decode(model, 5, bytes.fromhex(hex_))
    assert model in str(caught.value)


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("f_port", [0, 224])
def test_non_application_ports_refused(model: str, f_port: int) -> None:
    with pytest.raises(UnsupportedPortError):
        decode(model, f_port, bytes.fromhex(BASE))


_COMMON = {
    "temperature": st.integers(-400, 850).map(lambda v: v / 10),
    "relative_humidity": st.integers(0, 100).map(float),
    "illuminance": st.integers(0, 65535).map(float),
    "motion": st.integers(0, 255).map(float),
    "battery_voltage": st.integers(0, 4000).map(lambda v: v / 1000),
}
_EXTRA = {
    "elsys-ers": {},
    "elsys-ers-co2": {"co2": st.integers(0, 10000).map(float)},
    "elsys-ers-eye": {"occupancy": st.sampled_from([0.0, 1.0])},
}


@pytest.mark.parametrize("model", MODELS)
@given(data=st.data())
def test_round_trip(model: str, data: st.DataObject) -> None:
    values = data.draw(
        st.fixed_dictionaries({}, optional={**_COMMON, **_EXTRA[model]}).filter(bool)
    )
    f_port, payload = ENCODERS[model](values)
    got = decode(model, f_port, payload)
    for key, want in values.items():
        assert math.isclose(got[key], want, abs_tol=1e-9), (key, got[key], want)
