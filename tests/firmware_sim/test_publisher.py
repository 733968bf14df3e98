"""The message stream: values survive encode -> decode, and the extra kinds are exactly as asked."""

from __future__ import annotations

import base64
import threading
from collections import Counter
from datetime import datetime

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.errors import ConfigError, DecodeError
from decoders import decode, get_spec
from firmware_sim import signals
from firmware_sim.encoders import ENCODERS
from firmware_sim.fleet import available_models, build_fleet
from firmware_sim.publisher import SimOptions, Simulator, simulate

START = 1_700_000_000.0
MODELS = [spec.key for spec in available_models()]


def _event(body: bytes) -> dict:
    return orjson.loads(body)


def _decode(event: dict) -> dict[str, float]:
    return decode(
        event["deviceInfo"]["deviceProfileName"], event["fPort"], base64.b64decode(event["data"])
    )


@pytest.mark.parametrize("model", MODELS)
def test_every_payload_decodes_to_the_simulated_values(model: str) -> None:
    spec = get_spec(model)
    options = SimOptions(devices=2 * len(MODELS), uplinks=6, seed=9, start=START, interval=3_571)
    simulator = Simulator(options)
    fleet = {d.dev_eui: d for d in simulator.devices}
    checked = 0
    for _, body, _ in simulator.messages():
        event = _event(body)
        device = fleet[event["deviceInfo"]["devEui"]]
        if device.model != model:
            continue
        expected = {
            k: float(v[0])
            for k, v in signals.readings(device.traits, spec, [_epoch(event["time"])]).items()
        }
        compared = 0
        for name, value in _decode(event).items():
            field = spec.field_map()[name]
            if not _encoder_reads(model, expected, name):
                continue  # the encoder derives this field from others (e.g. a battery status code)
            tolerance = max(0.51, 0.002 * (field.maximum - field.minimum))
            assert value == pytest.approx(expected[name], abs=tolerance), (model, name)
            compared += 1
        assert compared >= 1
        checked += 1
    assert checked == 12


def _encoder_reads(model: str, values: dict[str, float], name: str) -> bool:
    """Whether the model's encoder uses this field: changing it changes the payload."""
    field = get_spec(model).field_map()[name]
    other = (
        field.maximum
        if values[name] - field.minimum < (field.maximum - field.minimum) / 2
        else field.minimum
    )
    return ENCODERS[model](values) != ENCODERS[model](values | {name: other})


def _epoch(rfc3339: str) -> float:
    whole, _, rest = rfc3339.partition(".")
    nanos = int(rest[:9])
    return datetime.fromisoformat(whole + "+00:00").timestamp() + nanos / 1e9


@settings(max_examples=25, deadline=None)
@given(
    devices=st.integers(1, 12),
    uplinks=st.integers(1, 8),
    duplicates=st.floats(0, 1),
    corrupt=st.floats(0, 1),
    unknown=st.integers(0, 3),
)
def test_kind_counts_are_exact(
    devices: int, uplinks: int, duplicates: float, corrupt: float, unknown: int
) -> None:
    options = SimOptions(
        devices=devices,
        uplinks=uplinks,
        seed=1,
        duplicates=duplicates,
        corrupt=corrupt,
        unknown=unknown,
        start=START,
    )
    kinds = Counter(kind for *_, kind in simulate(options))
    total = devices * uplinks
    assert kinds["uplink"] == total
    assert kinds["duplicate"] == round(duplicates * total)
    assert kinds["corrupt"] == round(corrupt * total)
    assert kinds["unknown"] == unknown * uplinks


def test_duplicates_repeat_an_uplink_and_corrupt_and_unknown_fail_to_decode() -> None:
    options = SimOptions(
        devices=len(MODELS), uplinks=5, seed=4, duplicates=0.3, corrupt=0.3, unknown=2, start=START
    )
    previous: bytes | None = None
    uplink_ids: set[str] = set()
    for _, body, kind in simulate(options):
        event = _event(body)
        if kind == "duplicate":
            assert body == previous
            continue
        assert event["deduplicationId"] not in uplink_ids
        uplink_ids.add(event["deduplicationId"])
        if kind == "uplink":
            _decode(event)
            previous = body
        else:
            with pytest.raises(DecodeError):
                _decode(event)
            if kind == "unknown":
                assert event["deviceInfo"]["tags"]["model"] not in MODELS


def test_uplink_times_are_on_the_device_grid_and_unique() -> None:
    options = SimOptions(devices=5, uplinks=20, seed=2, start=START, interval=900)
    by_device: dict[str, list[str]] = {}
    for _, body, _ in simulate(options):
        event = _event(body)
        by_device.setdefault(event["deviceInfo"]["devEui"], []).append(event["time"])
    for times in by_device.values():
        seconds = [_epoch(t) for t in times]
        assert len(set(times)) == 20
        assert all(round(b - a, 3) == 900 for a, b in zip(seconds, seconds[1:], strict=False))
        assert START <= seconds[0] < START + 900


def test_growing_the_fleet_keeps_existing_devices() -> None:
    small, _ = build_fleet(seed=3, count=5)
    large, _ = build_fleet(seed=3, count=50)
    assert small == large[:5]
    assert len({d.dev_eui for d in large}) == 50


def test_damp_models_are_mostly_in_homes_and_the_rest_public() -> None:
    devices, _ = build_fleet(seed=8, count=40 * max(len(MODELS), 1))
    damp = [d for d in devices if d.spec and d.spec.need == "damp"]
    others = [d for d in devices if d.spec and d.spec.need != "damp"]
    home_share = sum(d.privacy == "home" for d in damp) / max(len(damp), 1)
    assert 0.7 < home_share < 0.9
    assert all(d.privacy == "public" and not d.site.startswith("home-") for d in others)
    assert all(
        d.registry_row().keys().isdisjoint({"lat", "lon"}) for d in damp if d.privacy == "home"
    )


def test_live_mode_stamps_now_and_endless_runs_stop_on_request() -> None:
    now = [1_800_000_000 * 10**9]

    def clock() -> int:
        now[0] += 10**6
        return now[0]

    stop = threading.Event()
    messages = simulate(SimOptions(devices=3, uplinks=0, seed=1, live=True), stop=stop, clock=clock)
    seen = []
    for _, body, _ in messages:
        seen.append(_epoch(_event(body)["time"]))
        if len(seen) == 50:
            stop.set()
    assert len(seen) == 50
    assert all(abs(t - 1_800_000_000) < 10 for t in seen)


def test_bad_options_are_config_errors() -> None:
    with pytest.raises(ConfigError):
        SimOptions(duplicates=1.5)
    with pytest.raises(ConfigError):
        SimOptions(interval=0)
