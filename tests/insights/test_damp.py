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
