"""Decentlab protocol v2: specific frames, envelope errors, and encode → decode round trips."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.errors import IntegrityError, PayloadLengthError, UnsupportedPortError
from decoders import decode, decode_uplink
from decoders.families.decentlab import decode_dl_pm, decode_dl_sht35
from firmware_sim.encoders import ENCODERS


def _pm_frame(flags: int, *words: int) -> bytes:
    return struct.pack(f">BHH{len(words)}H", 2, 0x1B50, flags, *words)


def test_sht35_full_frame() -> None:
    reading = decode("decentlab-dl-sht35", 1, bytes.fromhex("02030e000364a079b10c60"))
    assert reading["temperature"] == pytest.approx(23.787670710307466)
    assert reading["relative_humidity"] == pytest.approx(47.536430914778364)
    assert reading["battery_voltage"] == pytest.approx(3.168)


def test_pm_pressure_in_hpa_and_all_pm_fields() -> None:
    frame = bytes.fromhex("021b50000f0c25002500270027002701f50107012c012d012d012d67bd618dbd10")
    reading = decode("decentlab-dl-pm", 1, frame)
    assert reading["pressure"] == pytest.approx(968.0)
    assert reading["typical_particle_size"] == 501
    assert reading["pm0_5_number"] == pytest.approx(26.3)
    assert reading["pm4_0"] == pytest.approx(3.9)


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        (bytes.fromhex("03030e00020c60"), IntegrityError),  # version 3
        (bytes.fromhex("02030e0002"), PayloadLengthError),  # battery word missing
        (bytes.fromhex("02030e00"), PayloadLengthError),  # header cut short
        (b"", PayloadLengthError),
    ],
)
def test_sht35_envelope_errors(payload: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        decode_dl_sht35(1, payload)
    with pytest.raises(error):
        decode("decentlab-dl-sht35", 1, payload)


def test_wrong_port_is_refused_by_the_family_too() -> None:
    with pytest.raises(UnsupportedPortError):
        decode_dl_pm(2, _pm_frame(0x01, 3000))


def test_no_sensors_flagged_is_an_empty_reading() -> None:
    assert decode_dl_pm(1, _pm_frame(0x00)) == {}


def test_pm_humidity_just_over_100_is_clipped_far_over_is_withheld() -> None:
    just_over = round((101 + 6) / 125 * 65536)
    assert decode_dl_pm(1, _pm_frame(0x04, 30000, just_over))["relative_humidity"] == 100.0
    far_over = round((110 + 6) / 125 * 65536)
    got = decode_uplink("decentlab-dl-pm", 1, _pm_frame(0x04, 30000, far_over))
    assert got.withheld["relative_humidity"] == pytest.approx(110, abs=0.01)
    assert "temperature" in got.frames[0].readings


def test_words_of_a_sensor_the_model_lacks_are_reported() -> None:
    """Flags 0x0006 on a DL-SHT35 (two sensors): its battery word is decoded, the third
    sensor's word that follows is reported, the extra flag kept in status."""
    got = decode_uplink("decentlab-dl-sht35", 1, bytes.fromhex("02030e00060c60abcd"))
    assert got.frames[0].readings == {"battery_voltage": 3.168}
    assert got.status == {"unknown_sensor_flags": "0x0004"}
    assert [(u.offset, u.hex) for u in got.unknown] == [(7, "abcd")]
    appended = decode_uplink("decentlab-dl-sht35", 1, bytes.fromhex("02030e00020c6000"))
    assert appended.frames[0].readings == {"battery_voltage": 3.168}
    assert [(u.offset, u.hex) for u in appended.unknown] == [(7, "00")]


@given(
    t=st.floats(-39.99, 124.99),  # one step inside: the edges quantise outwards
    rh=st.floats(0, 100),
    bat=st.floats(0, 5),
    with_climate=st.booleans(),
)
def test_sht35_round_trip(t: float, rh: float, bat: float, with_climate: bool) -> None:
    values = {"battery_voltage": bat} | (
        {"temperature": t, "relative_humidity": rh} if with_climate else {}
    )
    f_port, payload = ENCODERS["decentlab-dl-sht35"](values)
    got = decode("decentlab-dl-sht35", f_port, payload)
    assert set(got) == set(values)
    assert got["battery_voltage"] == pytest.approx(bat, abs=0.0005 + 1e-9)
    if with_climate:
        assert got["temperature"] == pytest.approx(t, abs=175 / 65535 / 2 + 1e-9)
        assert got["relative_humidity"] == pytest.approx(rh, abs=100 / 65535 / 2 + 1e-9)


_PM = st.floats(0, 1000).map(lambda v: round(v, 1))


@given(
    pm=st.tuples(_PM, _PM, _PM),
    t=st.floats(-39.99, 124.99),  # one step inside: the edges quantise outwards
    rh=st.floats(0, 100),
    hpa=st.floats(300, 1100),
    bat=st.floats(0, 5),
)
def test_pm_round_trip(
    pm: tuple[float, float, float], t: float, rh: float, hpa: float, bat: float
) -> None:
    values = {
        "pm1_0": pm[0],
        "pm2_5": pm[1],
        "pm10": pm[2],
        "temperature": t,
        "relative_humidity": rh,
        "pressure": hpa,
        "battery_voltage": bat,
    }
    f_port, payload = ENCODERS["decentlab-dl-pm"](values)
    got = decode("decentlab-dl-pm", f_port, payload)
    for key in ("pm1_0", "pm2_5", "pm10"):
        assert got[key] == pytest.approx(values[key], abs=0.05 + 1e-9)
    assert got["temperature"] == pytest.approx(t, abs=175.72 / 65536 / 2 + 1e-9)
    assert got["relative_humidity"] == pytest.approx(rh, abs=125 / 65536 / 2 + 1e-9)
    assert got["pressure"] == pytest.approx(hpa, abs=0.01 + 1e-9)
    assert got["battery_voltage"] == pytest.approx(bat, abs=0.0005 + 1e-9)
