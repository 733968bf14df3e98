"""Signals are deterministic, physically plausible at any instant, and counters wrap like the devices'."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from decoders import get_spec
from firmware_sim import signals
from firmware_sim.fleet import available_models, build_fleet

TIMES = st.floats(1.5e9, 1.9e9)
SEEDS = st.integers(0, 2**32 - 1)
ENVIRONMENTS = st.sampled_from(["home", "public_indoor", "outdoor"])


def _traits(seed: int, environment: str, damp: str | None = None) -> signals.Traits:
    return signals.draw_traits(np.random.default_rng(seed), environment, damp=damp)  # type: ignore[arg-type]


@settings(max_examples=150, deadline=None)
@given(seed=SEEDS, t=TIMES, environment=ENVIRONMENTS)
def test_climate_and_air_are_plausible(seed: int, t: float, environment: str) -> None:
    traits = _traits(seed, environment)
    at = np.array([t, t + 1800, t + 86_400])
    assert np.all(
        (-20 < signals.outdoor_temperature(traits, at))
        & (signals.outdoor_temperature(traits, at) < 35)
    )
    if environment != "outdoor":
        assert np.all(
            (5 < signals.temperature(traits, at)) & (signals.temperature(traits, at) < 32)
        )
    rh = signals.relative_humidity(traits, at)
    assert np.all((0 <= rh) & (rh <= 100))
    assert np.all((400 <= signals.co2(traits, at)) & (signals.co2(traits, at) < 3000))
    pm25, pm10 = signals.pm2_5(traits, at), signals.pm10(traits, at)
    assert np.all((0 < pm25) & (pm25 < pm10) & (pm10 < 150))
    assert np.all(signals.no2(traits, at) > 0) and np.all(signals.o3(traits, at) > 0)
    assert np.all((960 < signals.pressure(traits, at)) & (signals.pressure(traits, at) < 1060))
    assert np.all((0 <= signals.tvoc(traits, at)) & (signals.tvoc(traits, at) <= 1))
    volts = signals.battery_voltage(traits, at)
    assert np.all((3.0 <= volts) & (volts <= 3.6))


@settings(max_examples=50, deadline=None)
@given(seed=SEEDS, t=TIMES)
def test_damp_homes_stay_damp_for_days_and_dry_homes_do_not(seed: int, t: float) -> None:
    week = t + np.arange(0, 7 * 86_400, 1800)
    damp = signals.relative_humidity(_traits(seed, "home", "damp"), week)
    dry = signals.relative_humidity(_traits(seed, "home", "dry"), week)
    assert np.all((80 <= damp) & (damp <= 95))
    assert np.median(dry) < 55


def test_humidity_peaks_with_morning_showers() -> None:
    traits = _traits(7, "home", "normal")
    day = 1_700_000_000 - 1_700_000_000 % 86_400  # a UTC (= London, in November) midnight
    shower = day + (traits.heating_start + 0.8) * 3600
    assert (
        signals.relative_humidity(traits, np.array([shower]))[0]
        > signals.relative_humidity(traits, np.array([day + 3 * 3600]))[0] + 8
    )


def test_pm_peaks_in_the_rush_hour() -> None:
    traits = _traits(3, "outdoor")
    tuesday = 1_700_524_800  # Tue 2023-11-21 00:00 UTC
    rush, night = signals.pm2_5(traits, np.array([tuesday + 8 * 3600, tuesday + 3 * 3600]))
    assert rush > night + 5


@settings(max_examples=40, deadline=None)
@given(seed=SEEDS, t=TIMES)
def test_a_time_is_simulated_the_same_alone_or_in_a_batch(seed: int, t: float) -> None:
    traits = _traits(seed, "outdoor")
    batch = t + np.arange(0, 10 * 600, 600)
    for name, fn in signals.SIGNALS.items():
        assert fn(traits, batch)[3] == pytest.approx(fn(traits, batch[3:4])[0], abs=1e-9), name


def test_cumulative_counters_wrap_at_16_bits_and_reset_sometimes() -> None:
    traits = _traits(11, "outdoor")
    times = 1.6e9 + np.arange(0, 400 * 86_400, 900, dtype=np.float64)
    counts = signals.people_in(traits, times)
    assert counts.min() >= 0 and counts.max() < 65_536
    drops = np.flatnonzero(np.diff(counts) < 0)
    wraps = [i for i in drops if counts[i] > 60_000 and counts[i + 1] < 5_000]
    resets = [i for i in drops if i not in wraps]
    assert wraps and resets
    rises = np.diff(counts)[np.diff(counts) >= 0]
    assert rises.max() < 10_000  # 15 minutes never brings more than a busy street's hour
    outs = signals.people_out(traits, times)
    assert np.all((0 <= outs) & (outs < 65_536))


def test_counter_width_is_configurable_and_follows_the_declared_maximum() -> None:
    wide = signals.draw_traits(np.random.default_rng(11), "outdoor", counter_modulus=None)
    times = 1.6e9 + np.arange(0, 60 * 86_400, 3600, dtype=np.float64)
    assert signals.people_in(wide, times).max() >= 65_536 or np.any(
        np.diff(signals.people_in(wide, times)) < 0
    )
    models = {spec.key: spec for spec in available_models()}
    if "dingtek-dc520" in models:
        assert signals.counter_modulus(get_spec("dingtek-dc520")) == 65_536


def test_every_model_reading_is_inside_its_declared_ranges() -> None:
    devices, _ = build_fleet(seed=2, count=3 * max(len(available_models()), 1), interval=600)
    times = 1.7e9 + np.arange(0, 3 * 86_400, 3_571, dtype=np.float64)
    for device in devices:
        assert device.spec is not None
        values = signals.readings(device.traits, device.spec, times)
        assert set(values) == {f.name for f in device.spec.fields}
        for spec in device.spec.fields:
            assert np.all(
                (spec.minimum <= values[spec.name]) & (values[spec.name] <= spec.maximum)
            ), (
                device.model,
                spec.name,
            )


@settings(max_examples=60, deadline=None)
@given(seed=SEEDS, t=TIMES, data=st.data())
def test_any_device_at_any_time_reads_inside_its_model_ranges(
    seed: int, t: float, data: st.DataObject
) -> None:
    models = available_models()
    spec = data.draw(st.sampled_from(models))
    (device,), _ = build_fleet(seed=seed, count=1, models=[spec])
    values = signals.readings(device.traits, spec, np.array([t, t + 600.0]))
    for field in spec.fields:
        assert np.all(
            (field.minimum <= values[field.name]) & (values[field.name] <= field.maximum)
        ), field.name
        assert np.all(np.isfinite(values[field.name]))


def test_gases_are_at_ambient_levels_in_each_devices_unit() -> None:
    limits = {"ppm": 2.0, "ppb": 2_000.0, "mg/m3": 2.0, "ug/m3": 2_000.0}
    devices, _ = build_fleet(seed=4, count=2 * len(available_models()))
    times = 1.7e9 + np.arange(0, 2 * 86_400, 1_800, dtype=np.float64)
    checked = 0
    for device in devices:
        assert device.spec is not None
        values = signals.readings(device.traits, device.spec, times)
        for field in device.spec.fields:
            if field.name in signals.MOLAR_MASS and field.unit in limits:
                assert np.all(values[field.name] < limits[field.unit]), (device.model, field.name)
                checked += 1
    assert checked or not any(
        f.name in signals.MOLAR_MASS for s in available_models() for f in s.fields
    )
