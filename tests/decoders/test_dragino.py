"""Dragino LHT65N and LAQ4: frames from the manuals, refusals, round trips, and the batch path."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.errors import DecodeError, IntegrityError, PayloadLengthError, UnsupportedPortError
from decoders import decode, decode_uplink
from decoders.families.dragino import decode_laq4, decode_lht65n, decode_lht65n_batch
from firmware_sim.encoders import ENCODERS

LHT65N_EXAMPLE = bytes.fromhex("cbf60b0d0376010add7fff")


def test_lht65n_manual_example_with_probe() -> None:
    reading = decode("dragino-lht65n", 2, LHT65N_EXAMPLE)
    assert reading == pytest.approx(
        {
            "battery_voltage": 3.062,
            "battery_status": 3.0,
            "temperature": 28.29,
            "relative_humidity": 88.6,
            "external_temperature": 27.81,
        }
    )


def test_lht65n_negative_probe_temperature() -> None:
    # The manual's second E1 example: 0xF54F -> -27.37 °C.
    reading = decode("dragino-lht65n", 2, bytes.fromhex("cbf60b0d037601f54f7fff"))
    assert reading["external_temperature"] == pytest.approx(-27.37)


def test_lht65n_sentinels_and_no_probe_omit_fields() -> None:
    unplugged = decode("dragino-lht65n", 2, bytes.fromhex("cbf60b0d0376017fff7fff"))
    assert "external_temperature" not in unplugged
    no_probe = decode("dragino-lht65n", 2, bytes.fromhex("cbf67fff0376000add7fff"))
    assert "external_temperature" not in no_probe and "temperature" not in no_probe


@pytest.mark.parametrize(
    ("model", "f_port", "hex_payload", "error"),
    [
        ("dragino-lht65n", 42, "cbf60b0d0376010add7fff", UnsupportedPortError),
        ("dragino-lht65n", 2, "cbf60b0d0376010add7f", PayloadLengthError),
        ("dragino-laq4", 2, "0d07090012020b00fb01b3", IntegrityError),  # work mode 2
        ("dragino-lht65n", 3, "7fff089801464160065f", PayloadLengthError),  # datalog < 1 entry
        ("dragino-lht65n", 5, "0b01000100", PayloadLengthError),
    ],
)
def test_refused_frames(model: str, f_port: int, hex_payload: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        decode(model, f_port, bytes.fromhex(hex_payload))


def test_family_functions_check_the_port_themselves() -> None:
    with pytest.raises(UnsupportedPortError):
        decode_lht65n(4, LHT65N_EXAMPLE)
    with pytest.raises(UnsupportedPortError):
        decode_laq4(3, bytes.fromhex("0d07050012020b00fb01b3"))


def test_laq4_threshold_reply_is_battery_only() -> None:
    got = decode_uplink("dragino-laq4", 2, bytes.fromhex("0d077cec1e1e5001900bb8"))
    assert got.frames[0].readings == {"battery_voltage": 3.335}
    assert got.status == {"work_mode": 31}
    assert [(u.offset, u.hex) for u in got.unknown] == [(3, "ec1e1e5001900bb8")]


def test_lht65n_ext9_probe_with_unix_time() -> None:
    """The issue's frame, per the manual's Ext = 9 layout: probe 0x0ADD, SHT 0x0B0D, battery
    status (bits 15-14) and humidity 0x376 in one word, Ext 9, Unix time 0x67876B00."""
    got = decode_uplink("dragino-lht65n", 2, bytes.fromhex("0add0b0dc3760967876b00"))
    (frame,) = got.frames
    assert frame.readings == {
        "external_temperature": 27.81,
        "temperature": 28.29,
        "relative_humidity": 88.6,
        "battery_status": 3.0,
    }
    assert frame.time_ns == 0x67876B00 * 10**9
    assert decode("dragino-lht65n", 2, bytes.fromhex("0add0b0dc3760967876b00")) == {}


def test_lht65n_datalog_reply_is_history() -> None:
    """Manual §2.6.5 example flash contents (DS18B20 unplugged: 0x7FFF), two whole entries."""
    entries = "7fff089801464160065f97" + "7fff088e014b41600660090000"
    got = decode_uplink("dragino-lht65n", 3, bytes.fromhex(entries))
    assert [f.readings for f in got.frames] == [
        {"temperature": 22.0, "relative_humidity": 32.6},
        {"temperature": 21.9, "relative_humidity": 33.1},
    ]
    assert [f.time_ns for f in got.frames] == [0x60065F97 * 10**9, 0x60066009 * 10**9]
    assert [(u.offset, u.hex) for u in got.unknown] == [(22, "0000")]


def test_lht65n_empty_datalog_and_device_status_are_status() -> None:
    empty = decode_uplink("dragino-lht65n", 3, bytes(11))
    assert empty.frames == () and empty.status == {"datalog": "no records in the polled period"}
    status = decode_uplink("dragino-lht65n", 5, bytes.fromhex("0b010001000cc4"))
    assert status.status == {
        "sensor_model": 11,
        "firmware_version": "0100",
        "frequency_band": 1,
        "sub_band": 0,
    }
    assert status.frames[0].readings == {"battery_voltage": 3.268}


def test_lht65n_appended_bytes_and_other_ext_types_are_reported() -> None:
    got = decode_uplink("dragino-lht65n", 2, bytes.fromhex("cbf60b0d0376010add7fff" + "abcd"))
    assert got.frames[0].readings["external_temperature"] == 27.81
    assert [(u.offset, u.hex) for u in got.unknown] == [(11, "abcd")]
    counter = decode_uplink("dragino-lht65n", 2, bytes.fromhex("cbf60b0d037608000000ff"))
    assert counter.frames[0].readings["temperature"] == 28.29
    assert [(u.offset, u.hex) for u in counter.unknown] == [(7, "000000ff")]


@given(
    t=st.integers(-4000, 12500).map(lambda c: c / 100),
    rh=st.integers(0, 1000).map(lambda d: d / 10),
    ext=st.none() | st.integers(-5500, 12500).map(lambda c: c / 100),
    bat=st.integers(0, 4200).map(lambda mv: mv / 1000),
)
def test_lht65n_round_trip(t: float, rh: float, ext: float | None, bat: float) -> None:
    values = {"temperature": t, "relative_humidity": rh, "battery_voltage": bat}
    if ext is not None:
        values["external_temperature"] = ext
    f_port, payload = ENCODERS["dragino-lht65n"](values)
    got = decode("dragino-lht65n", f_port, payload)
    assert 0 <= got.pop("battery_status") <= 3
    assert got == pytest.approx(values, abs=1e-9)


@given(
    tvoc=st.integers(0, 1187),
    co2=st.integers(0, 8192),
    t=st.integers(-400, 1250).map(lambda d: d / 10),
    rh=st.integers(0, 1000).map(lambda d: d / 10),
    bat=st.integers(0, 4200).map(lambda mv: mv / 1000),
    alarm=st.booleans(),
)
def test_laq4_round_trip(tvoc: int, co2: int, t: float, rh: float, bat: float, alarm: bool) -> None:
    values = {
        "tvoc": float(tvoc),
        "co2": float(co2),
        "temperature": t,
        "relative_humidity": rh,
        "battery_voltage": bat,
        "alarm": float(alarm),
    }
    f_port, payload = ENCODERS["dragino-laq4"](values)
    assert decode("dragino-laq4", f_port, payload) == pytest.approx(values, abs=1e-9)


_FRAMES = st.one_of(
    st.binary(min_size=11, max_size=11),
    st.builds(
        lambda t, rh, ext: ENCODERS["dragino-lht65n"](
            {"temperature": t / 100, "relative_humidity": rh / 10, "battery_voltage": 3.0}
            | ({} if ext is None else {"external_temperature": ext / 100})
        )[1],
        st.integers(-4000, 12500),
        st.integers(0, 1000),
        st.none() | st.integers(-5500, 12500),
    ),
)


@settings(max_examples=50)
@given(frames=st.lists(_FRAMES, min_size=1, max_size=40))
def test_lht65n_batch_equals_scalar(frames: list[bytes]) -> None:
    batch = decode_lht65n_batch(2, frames)
    for row, frame in enumerate(frames):
        if not batch["ok"][row]:
            # Re-decoded one by one: a history frame, a withheld value or a refusal.
            try:
                decode_uplink("dragino-lht65n", 2, frame)
            except DecodeError:
                pass
            continue
        scalar = decode("dragino-lht65n", 2, frame)
        vectorised = {
            name: float(values[row])
            for name, values in batch.items()
            if name != "ok" and not math.isnan(values[row])
        }
        assert vectorised == scalar


def test_lht65n_batch_refuses_mixed_lengths_and_wrong_port() -> None:
    with pytest.raises(PayloadLengthError):
        decode_lht65n_batch(2, [LHT65N_EXAMPLE, LHT65N_EXAMPLE[:7]])
    with pytest.raises(UnsupportedPortError):
        decode_lht65n_batch(3, [LHT65N_EXAMPLE])
