"""Damp and mould risk of a home from hourly room temperature and humidity.

Pure numpy, no I/O. Formulas and constants are the ones in
``shared/reference/domain.md`` §2: Magnus dew point (Sonntag/WMO constants),
surface RH at a cold spot via the temperature factor fRsi, and the VTT
(Hukka–Viitanen, Ojanen 2010 classes) mould index on an hourly step. The room
sensor sits in free air, but mould grows on the coldest surface, so every
mould criterion is evaluated at the estimated cold-spot conditions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import IntEnum
from typing import Final

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.float64]

MAGNUS_A: Final = 17.62
MAGNUS_B: Final = 243.12  # °C
COLD_HOME_C: Final = 18.0  # WHO cold-season minimum indoor temperature


def saturation_vapour_pressure(temperature: npt.ArrayLike) -> Array:
    """e_s(T) in hPa over water (Magnus, a = 17.62, b = 243.12 °C)."""
    t = np.asarray(temperature, dtype=float)
    return 6.112 * np.exp(MAGNUS_A * t / (MAGNUS_B + t))


def dew_point(temperature: npt.ArrayLike, relative_humidity: npt.ArrayLike) -> Array:
    """Td = bγ/(a−γ), γ = ln(RH/100) + aT/(b+T); RH 0 gives NaN rather than −∞."""
    t = np.asarray(temperature, dtype=float)
    rh = np.asarray(relative_humidity, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        gamma = np.log(np.where(rh > 0, rh, np.nan) / 100.0) + MAGNUS_A * t / (MAGNUS_B + t)
        return MAGNUS_B * gamma / (MAGNUS_A - gamma)


def surface_temperature(indoor: npt.ArrayLike, outdoor: npt.ArrayLike, f_rsi: float) -> Array:
    """θsi = θe + fRsi·(θi − θe): fRsi places the cold spot between outdoors (0) and room (1)."""
    ti = np.asarray(indoor, dtype=float)
    te = np.asarray(outdoor, dtype=float)
    return te + f_rsi * (ti - te)


def surface_rh(
    indoor: npt.ArrayLike,
    relative_humidity: npt.ArrayLike,
    outdoor: npt.ArrayLike,
    f_rsi: float,
) -> Array:
    """RH at the cold spot: same vapour pressure as the room, lower saturation; capped at 100 %."""
    ts = surface_temperature(indoor, outdoor, f_rsi)
    rh = np.asarray(relative_humidity, dtype=float)
    return np.minimum(
        rh * saturation_vapour_pressure(indoor) / saturation_vapour_pressure(ts), 100.0
    )


def trailing_share(
    values: npt.ArrayLike, threshold: float, window: int, min_coverage: float = 0.5
) -> Array:
    """Share of valid hours with value ≥ threshold over the trailing ``window`` hours.

    NaN hours (no reading) are left out of both counts. A window with fewer
    than ``min_coverage`` of its hours valid gives NaN: a new or silent sensor
    is neither damp nor dry on a handful of hours.
    """
    v = np.asarray(values, dtype=float)
    valid = ~np.isnan(v)
    above = valid & (np.where(valid, v, -np.inf) >= threshold)
    n_valid = np.concatenate(([0], np.cumsum(valid)))
    n_above = np.concatenate(([0], np.cumsum(above)))
    idx = np.arange(1, v.size + 1)
    lo = np.maximum(idx - window, 0)
    denominator = (n_valid[idx] - n_valid[lo]).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = (n_above[idx] - n_above[lo]) / denominator
    return np.where(denominator >= max(min_coverage * window, 1), share, np.nan)


@dataclass(frozen=True)
class Sensitivity:
    """A VTT sensitivity class (Ojanen et al. 2010): growth and maximum-level constants."""

    name: str
    k1_below_1: float
    k1_from_1: float
    a: float
    b: float
    c: float
    rh_min: float


VERY_SENSITIVE: Final = Sensitivity("very_sensitive", 1.0, 2.0, 1.0, 7.0, 2.0, 80.0)
SENSITIVE: Final = Sensitivity("sensitive", 0.578, 0.386, 0.3, 6.0, 1.0, 80.0)
MEDIUM_RESISTANT: Final = Sensitivity("medium_resistant", 0.072, 0.097, 0.0, 5.0, 1.5, 85.0)
RESISTANT: Final = Sensitivity("resistant", 0.033, 0.014, 0.0, 3.0, 1.0, 85.0)
#: Plasterboard and wallpaper (paper-faced) are the usual UK interior finish.
DEFAULT_SENSITIVITY: Final = SENSITIVE


def critical_rh(temperature: float, rh_min: float) -> float:
    """RHcrit = max(−0.00267T³ + 0.160T² − 3.13T + 100, RHmin)."""
    t = temperature
    return max(-0.00267 * t**3 + 0.160 * t**2 - 3.13 * t + 100.0, rh_min)


def mould_index(
    temperature: npt.ArrayLike,
    relative_humidity: npt.ArrayLike,
    sensitivity: Sensitivity = DEFAULT_SENSITIVITY,
    c_mat: float = 1.0,
    m0: float = 0.0,
) -> Array:
    """VTT mould index M after each hourly step of surface temperature and RH.

    Growth when 0 < T < 50 °C and RH ≥ RHcrit, otherwise decline: −0.032/day
    for the first 6 h of unfavourable conditions, nothing for hours 6–24,
    −0.016/day after that, scaled by ``c_mat``. A missing hour (NaN) holds M
    and does not extend the dry spell: no data is no evidence either way.
    The recursion is inherently sequential, so this is a plain loop (a year is
    8,760 steps).
    """
    t_arr = np.asarray(temperature, dtype=float)
    rh_arr = np.asarray(relative_humidity, dtype=float)
    out = np.empty(t_arr.size)
    m = m0
    dry_hours = 0
    s = sensitivity
    for i, (t, rh) in enumerate(zip(t_arr.tolist(), rh_arr.tolist(), strict=True)):
        if math.isnan(t) or math.isnan(rh):
            out[i] = m
            continue
        rh = min(rh, 100.0)
        rh_crit = critical_rh(t, s.rh_min) if t > 0 else math.inf
        if 0.0 < t < 50.0 and rh >= rh_crit:
            dry_hours = 0
            x = (rh_crit - rh) / (rh_crit - 100.0) if rh_crit < 100.0 else 1.0
            m_max = s.a + s.b * x - s.c * x * x
            k1 = s.k1_below_1 if m < 1.0 else s.k1_from_1
            k2 = max(1.0 - math.exp(2.3 * (m - m_max)), 0.0)
            rate_per_day = (
                k1 * k2 / (7.0 * math.exp(-0.68 * math.log(t) - 13.9 * math.log(rh) + 66.02))
            )
            m += rate_per_day / 24.0
        else:
            dry_hours += 1
            if dry_hours <= 6:
                decline = 0.032
            elif dry_hours <= 24:
                decline = 0.0
            else:
                decline = 0.016
            m = max(m - c_mat * decline / 24.0, 0.0)
        out[i] = m
    return out


class RiskLevel(IntEnum):
    """Risk levels, ordered; ``HIGH`` and above open an Awaab's Law alert."""

    LOW = 0
    MEDIUM = 1
    HIGH = 2
    SEVERE = 3

    @property
    def label(self) -> str:
        return self.name.lower()


def risk_level(
    mould: float,
    surface80_7d: float,
    surface80_28d: float,
    rh70_7d: float,
) -> RiskLevel:
    """The documented rule (README, *Damp and mould risk*), first match wins.

    - severe: M ≥ 3 (mould visible to the eye), or M ≥ 1 with the cold spot at
      ≥ 80 % RH for at least half of the last 7 days' hours;
    - high: M ≥ 1 (microscopic growth), or cold spot ≥ 80 % RH for at least
      half of the last 7 days' hours (BS 5250: "several days" above 80 %);
    - medium: cold spot ≥ 80 % RH for ≥ 10 % of the last 7 days or ≥ 25 % of
      the last 28 days, or room RH ≥ 70 % for ≥ 25 % of the last 7 days;
    - low: otherwise. NaN inputs (no data) count as not meeting a criterion.
    """

    def at_least(value: float, limit: float) -> bool:
        return not math.isnan(value) and value >= limit

    wet_week = at_least(surface80_7d, 0.5)
    if at_least(mould, 3.0) or (at_least(mould, 1.0) and wet_week):
        return RiskLevel.SEVERE
    if at_least(mould, 1.0) or wet_week:
        return RiskLevel.HIGH
    if at_least(surface80_7d, 0.1) or at_least(surface80_28d, 0.25) or at_least(rh70_7d, 0.25):
        return RiskLevel.MEDIUM
    return RiskLevel.LOW


HOURS_7D: Final = 7 * 24
HOURS_28D: Final = 28 * 24


@dataclass(frozen=True)
class DampSeries:
    """Per-hour derived series of one home, aligned with the input hours."""

    temperature: Array
    relative_humidity: Array
    outdoor_temperature: Array
    dew_point: Array
    surface_temperature: Array
    surface_rh: Array
    rh70_7d: Array
    rh80_7d: Array
    rh70_28d: Array
    rh80_28d: Array
    surface80_7d: Array
    surface80_28d: Array
    mould_index: Array
    risk: npt.NDArray[np.int64]
    cold_home: npt.NDArray[np.bool_]


def assess(
    temperature: npt.ArrayLike,
    relative_humidity: npt.ArrayLike,
    outdoor_temperature: npt.ArrayLike,
    f_rsi: float,
    sensitivity: Sensitivity = DEFAULT_SENSITIVITY,
) -> DampSeries:
    """All damp series for consecutive hourly means (NaN where an hour has no reading)."""
    t = np.asarray(temperature, dtype=float)
    rh = np.asarray(relative_humidity, dtype=float)
    te = np.broadcast_to(np.asarray(outdoor_temperature, dtype=float), t.shape).copy()
    ts = surface_temperature(t, te, f_rsi)
    rhs = surface_rh(t, rh, te, f_rsi)
    mould = mould_index(ts, rhs, sensitivity)
    s80_7 = trailing_share(rhs, 80.0, HOURS_7D)
    s80_28 = trailing_share(rhs, 80.0, HOURS_28D)
    rh70_7 = trailing_share(rh, 70.0, HOURS_7D)
    risk = np.array(
        [
            int(risk_level(m, a, b, c))
            for m, a, b, c in zip(
                mould.tolist(), s80_7.tolist(), s80_28.tolist(), rh70_7.tolist(), strict=True
            )
        ],
        dtype=np.int64,
    )
    return DampSeries(
        temperature=t,
        relative_humidity=rh,
        outdoor_temperature=te,
        dew_point=dew_point(t, rh),
        surface_temperature=ts,
        surface_rh=rhs,
        rh70_7d=rh70_7,
        rh80_7d=trailing_share(rh, 80.0, HOURS_7D),
        rh70_28d=trailing_share(rh, 70.0, HOURS_28D),
        rh80_28d=trailing_share(rh, 80.0, HOURS_28D),
        surface80_7d=s80_7,
        surface80_28d=s80_28,
        mould_index=mould,
        risk=risk,
        cold_home=t < COLD_HOME_C,
    )
