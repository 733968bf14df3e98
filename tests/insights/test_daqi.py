"""DAQI bands and running means against the DEFRA/COMEAP 2013 band table (docs/insights/daqi.md)."""

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


def test_no2_half_at_the_band_edge_after_other_hours_is_index_4() -> None:
    """Issue 17.1: NO2 45.6 ×4 then 200.5. A difference of running totals gave
    200.49999999999997 → 200 → index 3; the hour on its own is 200.5 → 201 → index 4."""
    window = daqi.window_mean([45.6, 45.6, 45.6, 45.6, 200.5], daqi.AVERAGING_HOURS["no2"])
    assert window.mean[-1] == 200.5
    assert window.index("no2").tolist() == [1, 1, 1, 1, 4]
    assert daqi.window_mean([200.5], 1).index("no2").tolist() == [4]


@pytest.mark.parametrize(
    ("pollutant", "upper"), [(p, u) for p, limits in daqi.BAND_LIMITS.items() for u in limits]
)
def test_window_mean_of_exactly_half_above_a_limit_rounds_up(pollutant: str, upper: int) -> None:
    """24 hours whose mean is exactly limit + 0.5 (as decimals) take the next index, after
    any amount of unrelated history."""
    history = [0.1, 33.3, 45.6, 7.7] * 5
    hourly = [upper + 0.4, upper + 0.6] * 12  # mean exactly upper + 0.5
    index = daqi.window_mean(history + hourly, 24).index(pollutant)[-1]
    assert index == daqi.index_of(pollutant, [upper + 1])[0]


def test_incomplete_window_has_no_index_and_missing_is_not_zero() -> None:
    hourly = np.full(8, 90.0)
    hourly[:2] = np.nan  # 6/8: complete, mean of the 6 present hours
    window = daqi.window_mean(hourly, 8)
    assert window.mean[-1] == 90.0 and window.index("o3")[-1] == 3
    hourly[2] = np.nan  # 5/8: not enough
    assert daqi.window_mean(hourly, 8).index("o3")[-1] == 0


_concentration = st.one_of(
    st.just(math.nan),
    st.floats(min_value=0, max_value=700, allow_nan=False).map(lambda x: round(x, 1)),
    st.sampled_from([45.6, 200.5, 35.5, 70.5, 100.5, 0.1, 0.2, 0.3]),
)


@given(
    st.lists(_concentration, min_size=0, max_size=60),
    st.lists(_concentration, min_size=24, max_size=48),
    st.sampled_from(sorted(daqi.AVERAGING_HOURS)),
)
def test_index_is_invariant_to_history_outside_its_window(
    history: list[float], hours: list[float], pollutant: str
) -> None:
    """Issue 17.1 property: any prefix of extra history gives the same means and indices."""
    span = daqi.AVERAGING_HOURS[pollutant]
    alone = daqi.window_mean(hours, span)
    with_history = daqi.window_mean(history + hours, span)
    n = len(hours)
    keep = slice(span - 1, None)  # hours whose whole window lies in ``hours``
    assert (
        with_history.index(pollutant)[-n:][keep].tolist() == alone.index(pollutant)[keep].tolist()
    )
    np.testing.assert_array_equal(with_history.mean[-n:][keep], alone.mean[keep])
