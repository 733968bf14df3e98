"""uRADMonitor INDUSTRIAL: vendor frame, sign-magnitude values, gas slots, envelope errors, round trip."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.errors import PayloadLengthError, UnsupportedPortError
from decoders import decode, decode_uplink
from firmware_sim.encoders import ENCODERS

MODEL = "uradmonitor-industrial"
VENDOR = bytes.fromhex(
    "1400008E064E00001C20000000000000000000000732879782031276A32A00028D2C00000D2B00000A"
    "040000000200070045"
)


def test_vendor_frame() -> None:
    assert decode(MODEL, 1, VENDOR) == {
        "temperature": 18.42,
        "pressure": 1002.46,
        "relative_humidity": 65.0,
        "voc_resistance": 201334,
        "sound_level": 81.5,
        "o3": 0.653,
        "no2": 0.013,
        "so2": 0.01,
        "co": 0.0,
        "pm1_0": 5,
        "pm2_5": 7,
        "pm10": 7,
    }


def _with(offset: int, patch: str) -> bytes:
    raw = bytearray(VENDOR)
    data = bytes.fromhex(patch)
    raw[offset : offset + len(data)] = data
    return bytes(raw)


def test_negative_values_are_sign_magnitude() -> None:
    # 0x820d: sign bit + 525 -> -5.25 degC; gas 0x8001f4: sign bit + 500 -> -0.5 ppm.
    got = decode(MODEL, 1, _with(29, "2a8001f4"))
    assert got["o3"] == -0.5
    assert decode(MODEL, 1, _with(20, "820d"))["temperature"] == -5.25


def test_empty_and_unknown_gas_slots_are_skipped() -> None:
    got = decode(MODEL, 1, _with(29, "00000000" + "7700000d"))
    assert "o3" not in got and "no2" not in got and got["so2"] == 0.01


@pytest.mark.parametrize("length", [0, 1, 49])
def test_wrong_length(length: int) -> None:
    with pytest.raises(PayloadLengthError, match=MODEL):
        decode(MODEL, 1, (VENDOR * 2)[:length])


def test_other_port_is_refused() -> None:
    with pytest.raises(UnsupportedPortError):
        decode(MODEL, 2, VENDOR)


_GASES = ("o3", "no2", "so2", "co", "h2s", "nh3", "cl2")


@given(
    temperature=st.floats(-40, 85),
    pressure=st.floats(655.35, 1100),
    rh=st.floats(0, 100),
    sound=st.floats(0, 127.5),
    pm2_5=st.integers(0, 745),
    pm1_delta=st.integers(0, 255),
    pm10_delta=st.integers(0, 255),
    gases=st.dictionaries(st.sampled_from(_GASES), st.floats(-1, 100), max_size=4),
)
def test_round_trip(
    temperature: float,
    pressure: float,
    rh: float,
    sound: float,
    pm2_5: int,
    pm1_delta: int,
    pm10_delta: int,
    gases: dict[str, float],
) -> None:
    values = {
        "temperature": temperature,
        "pressure": pressure,
        "relative_humidity": rh,
        "sound_level": sound,
        "pm1_0": max(pm2_5 - pm1_delta, 0),
        "pm2_5": pm2_5,
        "pm10": pm2_5 + pm10_delta,
        **gases,
    }
    got = decode(MODEL, *ENCODERS[MODEL](values))
    assert got["temperature"] == pytest.approx(temperature, abs=0.005 + 1e-9)
    assert got["pressure"] == pytest.approx(pressure, abs=0.005 + 1e-9)
    assert got["relative_humidity"] == pytest.approx(rh, abs=0.25 + 1e-9)
    assert got["sound_level"] == pytest.approx(sound, abs=0.25 + 1e-9)
    assert (got["pm1_0"], got["pm2_5"], got["pm10"]) == (
        values["pm1_0"],
        pm2_5,
        values["pm10"],
    )
    for name, conc in gases.items():
        assert got[name] == pytest.approx(conc, abs=0.0005 + 1e-9)


def test_appended_bytes_are_reported_and_the_frame_kept() -> None:
    got = decode_uplink(MODEL, 1, VENDOR + b"\x01\x02")
    assert got.frames[0].readings == decode(MODEL, 1, VENDOR)
    assert [(u.offset, u.hex) for u in got.unknown] == [(50, "0102")]
