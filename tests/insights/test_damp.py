"""Damp formulas against published reference values (docs/insights/damp.md)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from insights import damp
from insights.damp import RiskLevel


def test_saturation_vapour_pressure_at_zero_is_the_magnus_constant() -> None:
    assert damp.saturation_vapour_pressure(0.0) == pytest.approx(6.112)


@pytest.mark.parametrize(
    ("t", "rh", "td"),
    [(20.0, 100.0, 20.0), (20.0, 50.0, 9.26), (25.0, 60.0, 16.69), (0.0, 100.0, 0.0)],
)
def test_magnus_dew_point(t: float, rh: float, td: float) -> None:
    assert damp.dew_point(t, rh) == pytest.approx(td, abs=0.01)


def test_dew_point_of_dry_air_is_nan_not_minus_infinity() -> None:
    assert math.isnan(float(damp.dew_point(20.0, 0.0)))


@given(
    st.floats(min_value=-20, max_value=45),
    st.floats(min_value=1, max_value=100),
)
def test_dew_point_never_above_air_temperature(t: float, rh: float) -> None:
    assert float(damp.dew_point(t, rh)) <= t + 1e-9


@pytest.mark.parametrize(("outdoor", "room_rh"), [(0.0, 58.0), (5.0, 63.0), (-3.0, 56.0)])
def test_cold_spot_reaches_80_percent_at_the_worked_example_limits(
    outdoor: float, room_rh: float
) -> None:
    # domain.md: 20 °C room, fRsi 0.75 -> cold spot at 80 % RH from 58 % (0 °C outside),
    # 63 % (+5 °C) and 56 % (−3 °C) room RH.
    assert float(damp.surface_rh(20.0, room_rh, outdoor, 0.75)) == pytest.approx(80.0, abs=1.0)
    assert float(damp.surface_temperature(20.0, 0.0, 0.75)) == 15.0


@pytest.mark.parametrize(
    ("rh", "very_sensitive_days", "sensitive_days"),
    [(95.0, 13.9, 24.0), (90.0, 29.5, 51.1), (85.0, 65.8, 121.9)],
)
def test_vtt_days_until_m1_match_reference(
    rh: float, very_sensitive_days: float, sensitive_days: float
) -> None:
    hours = 24 * 130
    for cls, expected in (
        (damp.VERY_SENSITIVE, very_sensitive_days),
        (damp.SENSITIVE, sensitive_days),
    ):
        m = damp.mould_index(np.full(hours, 20.0), np.full(hours, rh), cls)
        days = (int(np.argmax(m >= 1.0)) + 1) / 24
        assert days == pytest.approx(expected, abs=0.1), cls.name


def test_vtt_very_sensitive_reaches_m3_at_27_8_days() -> None:
    m = damp.mould_index(np.full(24 * 40, 20.0), np.full(24 * 40, 95.0), damp.VERY_SENSITIVE)
    assert (int(np.argmax(m >= 3.0)) + 1) / 24 == pytest.approx(27.8, abs=0.1)


def test_vtt_declines_in_three_phases_and_never_below_zero() -> None:
    wet = np.full(24 * 30, 95.0)
    dry = np.full(48, 50.0)
    m = damp.mould_index(np.full(wet.size + dry.size, 20.0), np.concatenate([wet, dry]))
    peak = m[wet.size - 1]
    assert m[wet.size + 5] == pytest.approx(peak - 6 * 0.032 / 24)
    assert m[wet.size + 23] == pytest.approx(m[wet.size + 5])
    assert m[wet.size + 24] == pytest.approx(m[wet.size + 23] - 0.016 / 24)
    assert damp.mould_index(np.full(100, 20.0), np.full(100, 40.0)).min() == 0.0


def test_vtt_holds_through_missing_hours() -> None:
    t = np.array([20.0] * 48 + [np.nan] * 10)
    m = damp.mould_index(t, np.full(58, 95.0))
    assert m[-1] == m[47] > 0


def test_trailing_share_ignores_missing_hours() -> None:
    values = np.array([75.0, np.nan, 65.0, 90.0])
    share = damp.trailing_share(values, 70.0, 3, min_coverage=0.0)
    assert share.tolist() == [1.0, 1.0, 0.5, 0.5]
    assert math.isnan(damp.trailing_share(np.array([np.nan]), 70.0, 3)[0])


def test_trailing_share_needs_half_the_window() -> None:
    share = damp.trailing_share(np.full(6, 90.0), 80.0, 4)
    assert np.isnan(share[:1]).all() and share[1:].tolist() == [1.0] * 5


@pytest.mark.parametrize(
    ("mould", "s80_7", "s80_28", "rh70_7", "level"),
    [
        (3.0, 0.0, 0.0, 0.0, RiskLevel.SEVERE),
        (1.0, 0.5, 0.5, 1.0, RiskLevel.SEVERE),
        (1.0, 0.0, 0.0, 0.0, RiskLevel.HIGH),
        (0.2, 0.5, 0.2, 0.0, RiskLevel.HIGH),
        (0.0, 0.1, 0.0, 0.0, RiskLevel.MEDIUM),
        (0.0, 0.0, 0.25, 0.0, RiskLevel.MEDIUM),
        (0.0, 0.0, 0.0, 0.25, RiskLevel.MEDIUM),
        (0.0, 0.09, 0.24, 0.24, RiskLevel.LOW),
        (math.nan, math.nan, math.nan, math.nan, RiskLevel.LOW),
    ],
)
def test_risk_rule(
    mould: float, s80_7: float, s80_28: float, rh70_7: float, level: RiskLevel
) -> None:
    assert damp.risk_level(mould, s80_7, s80_28, rh70_7) is level


def test_assess_damp_week_is_high_and_dry_week_is_low() -> None:
    hours = 24 * 8
    damp_home = damp.assess(np.full(hours, 19.0), np.full(hours, 78.0), 5.0, 0.75)
    dry_home = damp.assess(np.full(hours, 20.0), np.full(hours, 45.0), 5.0, 0.75)
    assert damp_home.risk[-1] == RiskLevel.HIGH
    assert dry_home.risk.max() == RiskLevel.LOW
    assert dry_home.mould_index.max() == 0.0
    assert not dry_home.cold_home.any()


@pytest.mark.parametrize(
    ("t", "rh_min", "expected"),
    [
        (0.0, 80.0, 100.0),
        (10.0, 80.0, 82.03),  # polynomial branch: −2.67 + 16 − 31.3 + 100
        (19.9, 80.0, 80.0334),
        (20.0, 80.0, 80.04),  # last temperature of the polynomial branch
        (20.0001, 80.0, 80.0),  # above 20 °C: RHmin
        (21.0, 80.0, 80.0),  # the extended polynomial would give 80.03
        (25.0, 80.0, 80.0),  # ... and 80.16
        (20.0, 85.0, 85.0),  # medium resistant: max(polynomial, 85)
        (22.0, 85.0, 85.0),
    ],
)
def test_critical_rh_branches(t: float, rh_min: float, expected: float) -> None:
    """Hukka & Viitanen (1999) eq. 3: the polynomial up to 20 °C, RHmin above it."""
    assert damp.critical_rh(t, rh_min) == pytest.approx(expected, abs=1e-4)


def test_sensitive_surface_at_22c_80_1_percent_grows_mould_in_120_days() -> None:
    """Issue 17.2: 22 °C, 80.1 % RH, sensitive class, 120 days. RHcrit = 80 %, so
    x = 0.005, Mmax = 0.3 + 6x − x² = 0.329975, and dM/dt = 0.578·k2/(7·exp(−0.68 ln 22
    − 13.9 ln 80.1 + 66.02)) = 0.578·0.0071799·k2 per day. With k2 = 1 − e^{2.3(M−Mmax)}
    the equation integrates to M(t) = −ln(c + (1−c)·e^{−2.3·a·t})/2.3, c = e^{−2.3·Mmax},
    a = 0.578·0.0071799: M(120 d) = 0.19585. The hourly steps give 0.19587; the
    extended polynomial (RHcrit 80.11 % at 22 °C) gave 0."""
    hours = 24 * 120
    m = damp.mould_index(np.full(hours, 22.0), np.full(hours, 80.1), damp.SENSITIVE)
    assert m[-1] == pytest.approx(0.19585, abs=2e-4)


def test_windowed_mould_index_is_the_index_of_each_hours_own_window() -> None:
    rng = np.random.default_rng(5)
    t = rng.uniform(5, 25, 400)
    rh = rng.uniform(70, 100, 400)
    rh[::13] = np.nan
    windowed = damp.windowed_mould_index(t, rh, 96, first=150)
    assert np.isnan(windowed[:150]).all()
    for i in (150, 151, 260, 399):
        assert windowed[i] == damp.mould_index(t[i - 95 : i + 1], rh[i - 95 : i + 1])[-1]


_rh_hours = st.lists(
    st.one_of(st.just(math.nan), st.floats(min_value=40, max_value=100)), min_size=0, max_size=80
)


@given(_rh_hours, st.lists(st.floats(min_value=40, max_value=100), min_size=30, max_size=60))
def test_damp_shares_and_mould_are_invariant_to_history_outside_their_windows(
    history: list[float], hours: list[float]
) -> None:
    """Issue 17.1 property for the damp statistics: any prefix of history, same answer."""
    window = 24
    n = len(hours)
    alone_share = damp.trailing_share(hours, 80.0, window)
    with_share = damp.trailing_share(history + hours, 80.0, window)
    np.testing.assert_array_equal(with_share[-n:][window - 1 :], alone_share[window - 1 :])
    temps = [18.0] * (len(history) + n)
    alone_m = damp.windowed_mould_index(temps[:n], hours, window, first=window - 1)
    with_m = damp.windowed_mould_index(
        temps, history + hours, window, first=len(history) + window - 1
    )
    np.testing.assert_array_equal(with_m[-n:][window - 1 :], alone_m[window - 1 :])
