"""Milesight channel/type family: vendor frames, every way a frame can be wrong, round trips."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.errors import IntegrityError, PayloadLengthError, UnsupportedPortError
from decoders import UnknownPart, decode, decode_uplink, get_spec
from decoders.families import milesight
from firmware_sim.encoders import ENCODERS

MODELS = [
    "milesight-am104",
    "milesight-am308",
    "milesight-am319",
    "milesight-vs133",
    "milesight-vs121",
]


def _decode(model: str, hex_: str) -> dict[str, float]:
    return decode(model, 85, bytes.fromhex(hex_))


def test_am104_readme_example() -> None:
    got = _decode("milesight-am104", "01755c03673401046865056a490006651c0079001400")
    assert got == {
        "battery_percent": 92,
        "temperature": 30.8,
        "relative_humidity": 50.5,
        "activity": 73,
        "illuminance": 28,
        "infrared_and_visible": 121,
        "infrared": 20,
    }


def test_am104_negative_temperature() -> None:
    assert _decode("milesight-am104", "0367ceff")["temperature"] == -5.0


def test_am308_readme_example() -> None:
    got = _decode(
        "milesight-am308", "0367ee0004687c05000106cb02077da803087d2500097366270b7d20000c7d3000"
    )
    assert got == {
        "temperature": 23.8,
        "relative_humidity": 62.0,
        "pir": 1,
        "light_level": 2,
        "co2": 936,
        "tvoc": 0.37,
        "pressure": 1008.6,
        "pm2_5": 32,
        "pm10": 48,
    }


def test_am319_hcho_o3_and_tvoc_in_ugm3() -> None:
    got = _decode("milesight-am319", "0a7d0700" + "0d7d0500" + "08e6c800" + "0e0101")
    assert got == {"hcho": 0.07, "o3": 0.05, "tvoc_ugm3": 200, "buzzer": 1}


def test_am308_has_no_hcho_channel() -> None:
    with pytest.raises(IntegrityError):
        _decode("milesight-am308", "0a7d0700")


def test_history_records_are_frames_at_the_device_time() -> None:
    """0x20 0xCE per the AM308 README: uint32 time, int16/10 °C, uint16/2 %RH, PIR, light,
    CO2, TVOC IAQ/100, uint16/10 hPa, PM2.5, PM10; the live battery stays at the uplink."""
    record = "20ce" + "80e38367" + "3401" + "6500" + "01" + "02" + "e803" + "2500"
    record += "6627" + "2000" + "3000"
    got = decode_uplink("milesight-am308", 85, bytes.fromhex(record + "01755c"))
    history, live = got.frames
    assert history.time_ns == 1736696704 * 10**9 and history.age_s is None
    assert history.readings == {
        "temperature": 30.8,
        "relative_humidity": 50.5,
        "pir": 1,
        "light_level": 2,
        "co2": 1000,
        "tvoc": 0.37,
        "pressure": 1008.6,
        "pm2_5": 32,
        "pm10": 48,
    }
    assert live.readings == {"battery_percent": 92} and live.time_ns is None
    assert decode("milesight-am308", 85, bytes.fromhex(record)) == {}


def test_history_tvoc_in_ugm3_and_am319_length() -> None:
    record = "21ce" + "80e38367" + "3401" + "6500" + "0002" + "e803" + "c800" + "6627" + "0000" * 3
    got = decode_uplink("milesight-am319", 85, bytes.fromhex(record))
    assert got.frames[0].readings["tvoc_ugm3"] == 200
    assert got.unknown == ()


def test_history_with_an_unset_clock_is_anchored_at_the_uplink() -> None:
    """A clock never set counts from 1970: the newest record is put at the uplink's time,
    the spacing kept, the raw time kept in status."""
    zero = "3401" + "6500" + "0002" + "e803" + "2500" + "6627" + "2000" + "3000"
    hex_ = "20ce" + "10000000" + zero + "20ce" + "1c020000" + zero
    got = decode_uplink("milesight-am308", 85, bytes.fromhex(hex_))
    assert [f.age_s for f in got.frames] == [524.0, 0.0]
    assert all(f.time_ns is None for f in got.frames)
    assert got.status["clock_unset"] is True and got.status["device_time_raw_s"] == 540


def test_attribute_frame_is_status_only() -> None:
    got = decode_uplink(
        "milesight-am319", 85, bytes.fromhex("ff0101ff166600b09409760000ff090100ff0a0110ff0f00")
    )
    assert got.frames == ()
    assert got.status == {
        "protocol_version": 1,
        "serial_number": "6600b09409760000",
        "hardware_version": "0100",
        "firmware_version": "0110",
        "lorawan_class": 0,
    }


def test_unknown_record_keeps_what_came_before() -> None:
    """The issue's AM308 frame: battery, temperature, humidity, then 05 6A (an AM104 record)."""
    got = decode_uplink("milesight-am308", 85, bytes.fromhex("01755c03673401046865056a4900"))
    assert got.frames[0].readings == {
        "battery_percent": 92,
        "temperature": 30.8,
        "relative_humidity": 50.5,
    }
    assert [(u.offset, u.hex) for u in got.unknown] == [(10, "056a4900")]


def test_am308_tvoc_is_an_iaq_index_over_100() -> None:
    """The issue's frame: channel 08 type 7D raw 7 is TVOC 0.07 (AM308 README: uint16/100, iaq)."""
    got = _decode("milesight-am308", "077de704087d070009733f270b7d20000c7d3000")
    assert got == {"co2": 1255, "tvoc": 0.07, "pressure": 1004.7, "pm2_5": 32, "pm10": 48}
    assert get_spec("milesight-am308").field_map()["tvoc"].unit == "IAQ index"


@pytest.mark.parametrize(
    ("model", "hex_", "kept", "unknown"),
    [
        ("milesight-am104", "01755c0367", {"battery_percent": 92}, (3, "0367")),
        ("milesight-am104", "01755c01", {"battery_percent": 92}, (3, "01")),
        ("milesight-am104", "01755c077da803", {"battery_percent": 92}, (3, "077da803")),
        ("milesight-vs133", "03d248000000" + "99990000", {"people_in": 72}, (6, "99990000")),
    ],
)
def test_cut_or_unknown_tail_is_reported(
    model: str, hex_: str, kept: dict[str, float], unknown: tuple[int, str]
) -> None:
    got = decode_uplink(model, 85, bytes.fromhex(hex_))
    assert got.frames[0].readings == kept
    assert [(u.offset, u.hex) for u in got.unknown] == [unknown]


def test_vs133_readme_examples() -> None:
    totals = _decode(
        "milesight-vs133",
        "03d248000000 04d2c8000000 06d200000000 07d200000000 09d200000000 0ad200000000"
        " 0cd2b4140000 0dd28d1a0000".replace(" ", ""),
    )
    assert totals["people_in"] == 72 and totals["people_out"] == 200
    assert totals["line_4_total_in"] == 5300 and totals["line_4_total_out"] == 6797
    periods = _decode("milesight-vs133", "05cc0000000008cc000000000bcc000000000ecc05000700")
    assert periods["period_in"] == 0 and periods["line_4_period_in"] == 5
    assert periods["line_4_period_out"] == 7
    regions = _decode("milesight-vs133", "0fe302100709")
    assert [regions[f"region_{n}_count"] for n in range(1, 5)] == [2, 16, 7, 9]
    dwell = _decode("milesight-vs133", "10e40109101121 10e40476001387".replace(" ", ""))
    assert dwell == {
        "region_1_dwell_avg": 4105,
        "region_1_dwell_max": 8465,
        "region_4_dwell_avg": 118,
        "region_4_dwell_max": 34579,
    }


def test_vs133_dwell_for_unknown_region_is_reported() -> None:
    got = decode_uplink("milesight-vs133", 85, bytes.fromhex("0fe30210070910e40509101121"))
    assert got.frames[0].readings["region_1_count"] == 2
    assert got.unknown == (
        UnknownPart(6, "10e40509101121", "dwell record for region 5, expected 1..4"),
    )


def test_vs121_readme_examples() -> None:
    assert _decode("milesight-vs121", "04c9030800a106cd05") == {
        "people_count": 3,
        "regions_enabled": 8,
        "people_count_max": 5,
    }
    regions = _decode("milesight-vs121", "07d5000100000000000308d50100000000000000")
    assert regions["region_2_count"] == 1 and regions["region_8_count"] == 3
    assert regions["region_9_count"] == 1 and regions["region_16_count"] == 0
    assert _decode("milesight-vs121", "05cc02000100") == {"period_in": 2, "period_out": 1}
    flows = _decode(
        "milesight-vs121",
        "09da0001000200000000 0ada0000000000000000 0bda0000000000000012 0cda0000000000000000".replace(
            " ", ""
        ),
    )
    assert flows["flow_a_to_a"] == 256 and flows["flow_a_to_b"] == 512
    assert flows["flow_c_to_d"] == 4608
    assert _decode("milesight-vs121", "0dcc10270800") == {"people_in": 10000, "people_out": 8}
    assert _decode("milesight-vs121", "ff0101ff086600b0940976ff090100ff1f1f07004b") == {}


@pytest.mark.parametrize(
    ("model", "hex_", "error"),
    [
        ("milesight-am104", "", PayloadLengthError),
        ("milesight-am104", "01", PayloadLengthError),  # header cut off
        ("milesight-am104", "0175", PayloadLengthError),  # value missing
        ("milesight-am104", "036734", PayloadLengthError),
        ("milesight-vs133", "03d2480000", PayloadLengthError),
        ("milesight-am104", "0000", IntegrityError),
        ("milesight-am104", "01765c", IntegrityError),  # right channel, wrong type
        ("milesight-am104", "077da803", IntegrityError),  # CO2 is not an AM104 channel
        ("milesight-vs121", "03d248000000", IntegrityError),
    ],
)
def test_bad_frames(model: str, hex_: str, error: type[Exception]) -> None:
    with pytest.raises(error) as caught:
        _decode(model, hex_)
    assert model in str(caught.value)


@pytest.mark.parametrize(
    ("model", "hex_", "withheld"),
    [
        ("milesight-am104", "0468ff", {"relative_humidity": 127.5}),
        ("milesight-am104", "017565", {"battery_percent": 101}),
        ("milesight-am308", "06cb06", {"light_level": 6}),  # 0-5
        ("milesight-am308", "09730000", {"pressure": 0.0}),
    ],
)
def test_out_of_range_values_are_withheld(
    model: str, hex_: str, withheld: dict[str, float]
) -> None:
    got = decode_uplink(model, 85, bytes.fromhex(hex_ + "03673401"))
    assert got.withheld == withheld
    assert got.frames[0].readings == {"temperature": 30.8}


@pytest.mark.parametrize("model", MODELS)
def test_other_ports_refused(model: str) -> None:
    with pytest.raises(UnsupportedPortError):
        decode(model, 1, bytes.fromhex("01755c"))


def _ints(low: int, high: int, divisor: int = 1) -> st.SearchStrategy[float]:
    return st.integers(low, high).map(lambda v: v / divisor)


_CLIMATE = {
    "battery_percent": _ints(0, 100),
    "temperature": _ints(-300, 700, 10),
    "relative_humidity": _ints(0, 200, 2),
}
_AM300 = {
    **_CLIMATE,
    "pir": _ints(0, 1),
    "light_level": _ints(0, 5),
    "co2": _ints(0, 10000),
    "tvoc": _ints(0, 50000, 100),
    "pressure": _ints(3000, 11000, 10),
    "pm2_5": _ints(0, 1000),
    "pm10": _ints(0, 1000),
    "buzzer": _ints(0, 1),
}
_STRATEGIES = {
    "milesight-am104": {
        **_CLIMATE,
        "activity": _ints(0, 65535),
        "illuminance": _ints(0, 65535),
        "infrared_and_visible": _ints(0, 65535),
        "infrared": _ints(0, 65535),
    },
    "milesight-am308": _AM300,
    "milesight-am319": {**_AM300, "hcho": _ints(0, 500, 100), "o3": _ints(0, 1000, 100)},
    "milesight-vs133": {
        "people_in": _ints(0, 2**32 - 1),
        "people_out": _ints(0, 2**32 - 1),
        "period_in": _ints(0, 65535),
        "period_out": _ints(0, 65535),
        **{f"line_{n}_total_{d}": _ints(0, 2**32 - 1) for n in (2, 3, 4) for d in ("in", "out")},
        **{f"line_{n}_period_{d}": _ints(0, 65535) for n in (2, 3, 4) for d in ("in", "out")},
        **{f"region_{n}_count": _ints(0, 255) for n in range(1, 5)},
    },
    "milesight-vs121": {
        "people_count": _ints(0, 255),
        "regions_enabled": _ints(0, 16),
        "people_count_max": _ints(0, 255),
        "people_in": _ints(0, 65535),
        "people_out": _ints(0, 65535),
        "period_in": _ints(0, 65535),
        "period_out": _ints(0, 65535),
        **{f"region_{n}_count": _ints(0, 255) for n in range(1, 17)},
        **{f"flow_{a}_to_{b}": _ints(0, 65535) for a in "abcd" for b in "abcd"},
    },
}


@pytest.mark.parametrize("model", MODELS)
@given(data=st.data())
def test_round_trip(model: str, data: st.DataObject) -> None:
    values = data.draw(st.fixed_dictionaries({}, optional=_STRATEGIES[model]).filter(bool))
    f_port, payload = ENCODERS[model](values)
    got = decode(model, f_port, payload)
    for key, want in values.items():
        assert math.isclose(got[key], want, abs_tol=1e-9), (key, got[key], want)


@pytest.mark.parametrize("model", MODELS)
def test_round_trip_fields_are_declared(model: str) -> None:
    """The round trip only draws fields the model declares (so the wrapper accepts them)."""
    declared = set(get_spec(model).field_map())
    assert set(_STRATEGIES[model]) <= declared


_TABLES = {
    "milesight-am104": milesight._AM104,
    "milesight-am308": milesight._AM308,
    "milesight-am319": milesight._AM319,
    "milesight-vs133": milesight._VS133,
    "milesight-vs121": milesight._VS121,
}


@pytest.mark.parametrize("model", MODELS)
@given(data=st.data())
def test_compiled_frame_equals_the_walk(model: str, data: st.DataObject) -> None:
    """The second frame of a shape takes the one-unpack path; it must give what the walk gave."""
    values = data.draw(st.fixed_dictionaries({}, optional=_STRATEGIES[model]).filter(bool))
    _, payload = ENCODERS[model](values)
    fresh = milesight._walker(_TABLES[model])
    walked = fresh(85, payload)
    compiled = fresh(85, payload)
    assert compiled == walked
    assert [type(v) for v in compiled.values()] == [type(v) for v in walked.values()]
    assert list(compiled) == list(walked)


def test_same_length_other_shape_still_walks() -> None:
    fresh = milesight._walker(milesight._AM104)
    assert fresh(85, bytes.fromhex("01755c")) == {"battery_percent": 92}
    assert fresh(85, bytes.fromhex("04686e")) == {"relative_humidity": 55.0}
    with pytest.raises(IntegrityError):
        fresh(85, bytes.fromhex("01765c"))
    with pytest.raises(PayloadLengthError):
        fresh(85, bytes.fromhex("ff0a01"))
