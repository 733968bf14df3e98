"""DAQI bands and running means against the DEFRA table in shared/reference/domain.md §1."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from insights import daqi


@pytest.mark.parametrize("pollutant", sorted(daqi.BAND_LIMITS))
def test_every_band_boundary(pollutant: str) -> None:
    limits = daqi.BAND_LIMITS[pollutant]
    for index, upper in enumerate(limits, start=1):
        assert daqi.index_of(pollutant, [upper]).tolist() == [index]
        assert daqi.index_of(pollutant, [upper + 1]).tolist() == [index + 1]
    assert daqi.index_of(pollutant, [0.0]).tolist() == [1]
    assert daqi.index_of(pollutant, [limits[-1] * 10]).tolist() == [10]


@pytest.mark.parametrize(
    ("pollutant", "value", "index"),
    [
        ("pm2_5", 11.4, 1),
        ("pm2_5", 11.5, 2),  # rounded to 12 before the lookup
        ("pm2_5", 70.49, 9),
        ("pm2_5", 70.5, 10),
        ("pm10", 50.0, 3),
        ("pm10", 51.0, 4),
        ("no2", 601.0, 10),
        ("o3", 100.4, 3),
    ],
)
def test_rounding_before_lookup(pollutant: str, value: float, index: int) -> None:
    assert daqi.index_of(pollutant, [value]).tolist() == [index]


def test_missing_concentration_has_no_index() -> None:
    assert daqi.index_of("pm10", [math.nan]).tolist() == [0]


@pytest.mark.parametrize(
    ("index", "name"),
    [
        (1, "Low"),
        (3, "Low"),
        (4, "Moderate"),
        (6, "Moderate"),
        (7, "High"),
        (9, "High"),
        (10, "Very High"),
    ],
)
def test_band_names(index: int, name: str) -> None:
    assert daqi.band(index) == name


def test_band_rejects_out_of_range() -> None:
    with pytest.raises(ValueError):
        daqi.band(0)


def test_running_mean_needs_75_percent_of_hours() -> None:
    hourly = np.full(24, 10.0)
    hourly[:6] = np.nan  # 18/24 = 75 %: enough
    assert daqi.running_mean(hourly, 24)[-1] == pytest.approx(10.0)
    hourly[6] = np.nan  # 17/24: not enough
    assert math.isnan(daqi.running_mean(hourly, 24)[-1])


def test_running_mean_is_trailing() -> None:
    hourly = np.array([0.0] * 8 + [80.0] * 8)
    means = daqi.running_mean(hourly, 8)
    assert means[7] == 0.0 and means[11] == 40.0 and means[15] == 80.0


@given(st.floats(min_value=0, max_value=2000), st.floats(min_value=0, max_value=2000))
def test_index_is_monotonic(a: float, b: float) -> None:
    lo, hi = sorted((a, b))
    for pollutant in daqi.BAND_LIMITS:
        assert daqi.index_of(pollutant, [lo])[0] <= daqi.index_of(pollutant, [hi])[0]


def test_overall_is_the_highest_pollutant_index() -> None:
    overall = daqi.overall_index({"pm2_5": np.array([2, 0]), "no2": np.array([5, 0])})
    assert overall.tolist() == [5, 0]
