"""Dragino LHT65N and LAQ4: frames from the manuals, refusals, round trips, and the batch path."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.errors import DecodeError, IntegrityError, PayloadLengthError, UnsupportedPortError
from decoders import decode
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
        ("dragino-lht65n", 2, "cbf60b0d0376090add7fff", IntegrityError),  # timestamp mode
        ("dragino-lht65n", 2, "cbf60b0d0376010add7f", PayloadLengthError),
        ("dragino-laq4", 2, "0d07090012020b00fb01b3", IntegrityError),  # work mode 2
        ("dragino-laq4", 2, "0d07050012020b00fb01b300", PayloadLengthError),
    ],
)
def test_refused_frames(model: str, f_port: int, hex_payload: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        decode(model, f_port, bytes.fromhex(hex_payload))


def test_family_functions_check_the_port_themselves() -> None:
    with pytest.raises(UnsupportedPortError):
        decode_lht65n(3, LHT65N_EXAMPLE)
    with pytest.raises(UnsupportedPortError):
        decode_laq4(3, bytes.fromhex("0d07050012020b00fb01b3"))


def test_laq4_threshold_reply_is_battery_only() -> None:
    assert decode("dragino-laq4", 2, bytes.fromhex("0d077cec1e1e5001900bb8")) == {
        "battery_voltage": 3.335
    }


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
            with pytest.raises(DecodeError):
                decode("dragino-lht65n", 2, frame)
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
