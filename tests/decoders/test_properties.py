"""No input can crash a decoder: arbitrary bytes on any fPort give a sane ``DecodedUplink`` or a
``DecodeError``, nothing else; ``decode`` is the at-uplink view of the same result."""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from decoders import DecodedUplink, DecodeError, decode, decode_uplink, get_spec, supported_models

MODELS = [m["model"] for m in supported_models()]


def _assert_sane(model: str, f_port: int, payload: bytes) -> None:
    try:
        got = decode_uplink(model, f_port, payload)
    except DecodeError as exc:
        assert model in str(exc) and f"fPort {f_port}" in str(exc)
        with pytest.raises(DecodeError):
            decode(model, f_port, payload)
        return
    assert type(got) is DecodedUplink
    spec = get_spec(model)
    fields = spec.field_map()
    at_uplink: dict[str, float] = {}
    for frame in got.frames:
        assert frame.time_ns is None or frame.age_s is None
        if frame.time_ns is None and frame.age_s is None:
            at_uplink.update(frame.readings)
        else:
            assert "history" in spec.frame_kinds
        for name, value in frame.readings.items():
            assert name in fields
            assert math.isfinite(value)
            assert fields[name].minimum <= value <= fields[name].maximum
        for name, value in frame.withheld.items():
            assert name in fields
            assert not fields[name].minimum <= value <= fields[name].maximum or not math.isfinite(
                value
            )
    if got.status:
        assert "status" in spec.frame_kinds
        assert all(isinstance(v, str | int | float | bool) for v in got.status.values())
    for part in got.unknown:
        assert (
            part.hex and payload[part.offset : part.offset + len(part.hex) // 2].hex() == part.hex
        )
    assert decode(model, f_port, payload) == at_uplink


@pytest.mark.parametrize("model", MODELS)
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(f_port=st.integers(0, 255), payload=st.binary(max_size=64))
def test_arbitrary_bytes_any_port(model: str, f_port: int, payload: bytes) -> None:
    _assert_sane(model, f_port, payload)


@pytest.mark.parametrize("model", MODELS)
@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_arbitrary_bytes_on_the_models_own_ports(model: str, data: st.DataObject) -> None:
    f_port = data.draw(st.sampled_from(sorted(get_spec(model).f_ports)))
    _assert_sane(model, f_port, data.draw(st.binary(max_size=64)))


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("fill", [0x00, 0xFF])
def test_all_zero_and_all_ff(model: str, fill: int) -> None:
    for f_port in sorted(get_spec(model).f_ports):
        for length in range(0, 65):
            _assert_sane(model, f_port, bytes([fill]) * length)


def test_unknown_model_is_a_decode_error() -> None:
    with pytest.raises(DecodeError, match="no-such-model fPort 1 payload 00ff"):
        decode("no-such-model", 1, b"\x00\xff")
