"""Netvox 11-byte frames: reports, configuration responses, sentinels, and round trips."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.errors import IntegrityError, PayloadLengthError, UnsupportedPortError
from decoders import decode, decode_uplink
from decoders.families.netvox import decode_r711, decode_ra0715
from firmware_sim.encoders import ENCODERS


def test_r711_negative_temperature_and_low_battery() -> None:
    # Layout and values as in the Netvox R718A manual example (same frame, device type 0x01).
    reading = decode("netvox-r711", 6, bytes.fromhex("0101019fff391a9e000000"))
    assert reading == pytest.approx(
        {
            "temperature": -1.99,
            "relative_humidity": 68.14,
            "battery_voltage": 3.1,
            "battery_low": 1.0,
        }
    )


def test_dc_powered_frame_has_no_battery_fields() -> None:
    reading = decode("netvox-ra0715", 6, bytes.fromhex("010501000064ffff02bc00"))
    assert reading == {"pm1_0": 100.0, "pm10": 700.0}  # 0xFFFF: no PM2.5 channel


@pytest.mark.parametrize(
    ("model", "f_port", "hex_payload", "error"),
    [
        ("netvox-r711", 7, "0101000000000000000000", IntegrityError),  # a request, not a reply
        ("netvox-r711", 7, "8105000000000000000000", IntegrityError),  # another device's reply
        ("netvox-r711", 6, "0105011e09ea1a90000000", IntegrityError),  # RA07 frame to R711
        ("netvox-r711", 6, "0201011e09ea1a90000000", IntegrityError),  # version 2
        ("netvox-r711", 6, "0101011e09ea1a900000", PayloadLengthError),
        ("netvox-ra0715", 8, "01050178006400c802bc00", UnsupportedPortError),
    ],
)
def test_refused_frames(model: str, f_port: int, hex_payload: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        decode(model, f_port, bytes.fromhex(hex_payload))


def test_family_functions_check_the_port_themselves() -> None:
    with pytest.raises(UnsupportedPortError):
        decode_r711(1, bytes.fromhex("0101011e09ea1a90000000"))
    with pytest.raises(UnsupportedPortError):
        decode_ra0715(1, bytes.fromhex("01050178006400c802bc00"))


def test_particle_counts_and_gases() -> None:
    counts = decode("netvox-ra0715", 6, bytes.fromhex("01050378006400c802bc00"))
    assert counts["particles_0_3um"] == 100 and counts["particles_1_0um"] == 700
    gases = decode("netvox-ra0715", 6, bytes.fromhex("01050678006400c802bc00"))
    assert gases == pytest.approx(
        {"no2": 10, "so2": 20, "h2s": 70, "battery_voltage": 12.0, "battery_low": 0.0}
    )


_R711_BATTERY = st.integers(1, 40).map(lambda tenths: tenths / 10)
_RA07_BATTERY = st.integers(1, 127).map(lambda tenths: tenths / 10)


@given(
    t=st.integers(-4000, 8500).map(lambda c: c / 100),
    rh=st.integers(0, 10000).map(lambda c: c / 100),
    bat=_R711_BATTERY,
    low=st.booleans(),
)
def test_r711_round_trip(t: float, rh: float, bat: float, low: bool) -> None:
    values = {
        "temperature": t,
        "relative_humidity": rh,
        "battery_voltage": bat,
        "battery_low": float(low),
    }
    f_port, payload = ENCODERS["netvox-r711"](values)
    assert decode("netvox-r711", f_port, payload) == pytest.approx(values, abs=1e-9)


_REPORTS = {
    0x01: {"pm1_0": (0, 1000, 1), "pm2_5": (0, 1000, 1), "pm10": (0, 1000, 1)},
    0x05: {"o3": (0, 1000, 10), "co": (0, 10000, 10), "no": (0, 2500, 10)},
    0x06: {"no2": (0, 1000, 10), "so2": (0, 1000, 10), "h2s": (0, 1000, 10)},
    0x07: {"co2": (0, 65534, 10), "nh3": (0, 1000, 10), "noise": (0, 1400, 10)},
    0x0C: {
        "temperature": (-4000, 8500, 100),
        "relative_humidity": (0, 10000, 100),
        "wind_speed": (0, 7000, 100),
    },
    0x0E: {"tvoc": (0, 65534, 10)},
}


@given(data=st.data(), report=st.sampled_from(sorted(_REPORTS)), bat=_RA07_BATTERY)
def test_ra0715_round_trip(data: st.DataObject, report: int, bat: float) -> None:
    values = {
        name: data.draw(st.integers(lo, hi)) / per
        for name, (lo, hi, per) in _REPORTS[report].items()
    }
    values["battery_voltage"] = bat
    f_port, payload = ENCODERS["netvox-ra0715"]({**values, "report_type": report})
    got = decode("netvox-ra0715", f_port, payload)
    assert got.pop("battery_low") == 0.0
    assert got == pytest.approx(values, abs=1e-9)


def _uplink(model: str, f_port: int, hex_: str):
    return decode_uplink(model, f_port, bytes.fromhex(hex_))


def test_version_report_and_config_responses_are_status() -> None:
    version = _uplink("netvox-r711", 6, "0101006448201712080000")
    assert version.frames == ()
    assert version.status == {
        "software_version": 10.0,
        "hardware_version": 72,
        "date_code": "20171208",
    }
    ok = _uplink("netvox-r711", 7, "8101000000000000000000")
    assert ok.frames == () and ok.status == {"config_response": "0x81", "config_status": 0}
    read = _uplink("netvox-r711", 7, "8201003c0e100100640000")
    assert read.status == {"config_response": "0x82", "min_interval_s": 60, "max_interval_s": 3600}
    assert read.unknown[0].offset == 6


def test_unlisted_report_types_and_appended_bytes_are_reported() -> None:
    ph = _uplink("netvox-ra0715", 6, "0105087803e8fffffff600")
    assert ph.frames[0].readings == {"battery_voltage": 12.0, "battery_low": 0.0}
    assert ph.status == {"report_type": 8}
    assert [(u.offset, u.hex) for u in ph.unknown] == [(4, "03e8fffffff600")]
    other = _uplink("netvox-r711", 6, "0101021e09ea1a90000000")
    assert other.frames == () and other.status == {"report_type": 2}
    longer = _uplink("netvox-r711", 6, "0101011e09ea1a9000000000")
    assert longer.frames[0].readings["temperature"] == 25.38
    assert [(u.offset, u.hex) for u in longer.unknown] == [(11, "00")]


def test_reserved_bytes_are_reported_only_when_set() -> None:
    """The manuals fix the reserved bytes at 0x00: zeros are not an undecoded part."""
    reply = _uplink("netvox-r711", 7, "8101010000000000000000")
    assert reply.unknown == () and reply.status["config_status"] == 1
    assert _uplink("netvox-r711", 6, "0101019fff391a9e000000").unknown == ()
    odd = _uplink("netvox-r711", 6, "0101019fff391a9e0000ff")
    assert odd.frames[0].readings["temperature"] == -1.99
    assert [(u.offset, u.hex) for u in odd.unknown] == [(8, "0000ff")]


def test_ra07_unused_bytes_are_reported_only_when_set() -> None:
    assert _uplink("netvox-ra0715", 6, "01050e7803840000000000").unknown == ()
    voc = _uplink("netvox-ra0715", 6, "01050e7803840000000001")
    assert voc.frames[0].readings["tvoc"] == 90.0
    assert [(u.offset, u.hex) for u in voc.unknown] == [(6, "0000000001")]
    pm = _uplink("netvox-ra0715", 6, "01050178006400c802bc07")
    assert pm.frames[0].readings["pm10"] == 700
    assert [(u.offset, u.hex) for u in pm.unknown] == [(10, "07")]


def test_version_report_reserved_bytes_reported_when_set() -> None:
    assert _uplink("netvox-r711", 6, "0101006448201712080000").unknown == ()
    odd = _uplink("netvox-r711", 6, "0101006448201712080a0b")
    assert odd.status["date_code"] == "20171208"
    assert [(u.offset, u.hex) for u in odd.unknown] == [(9, "0a0b")]
