"""Damp and mould risk of a home from hourly room temperature and humidity.

Pure numpy, no I/O (docs/insights/damp.md). Magnus dew point (Sonntag/WMO
constants), surface RH at a cold spot via the temperature factor fRsi (BRE
IP1/06, ISO 13788), and the VTT mould index on an hourly step:

- Hukka, A. & Viitanen, H. (1999), "A mathematical model of mould growth on
  wooden material", Wood Science and Technology 33, 475–485,
  doi:10.1007/s002260050131: the critical RH (eq. 3), the growth rate (eq. 4
  with the wood-species and surface-quality terms at pine/resawn, W = SQ = 0),
  the maximum level and the decline (eqs. 5–8).
- Ojanen, T., Viitanen, H., Peuhkuri, R., Lähdesmäki, K., Vinha, J. &
  Salminen, K. (2010), "Mould growth modeling of building structures using
  sensitivity classes of materials", Thermal Performance of the Exterior
  Envelopes of Whole Buildings XI (ASHRAE/BEST): the sensitivity classes (k1,
  A, B, C, RHmin, Table 1–2) and the decline factor Cmat.

The room sensor sits in free air, but mould grows on the coldest surface, so
every mould criterion is evaluated at the estimated cold-spot conditions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import IntEnum
from typing import Final

import numpy as np
import numpy.typing as npt

from insights.rolling import trailing_sums

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

    NaN hours (no reading) are left out of both counts: a missing hour is
    missing, never a dry one. A window with fewer than ``min_coverage`` of its
    hours valid gives NaN: a new or silent sensor is neither damp nor dry on a
    handful of hours. Both counts are exact integer sums over the window only,
    so the share is the same whatever history precedes the window.
    """
    v = np.asarray(values, dtype=float)
    valid = ~np.isnan(v)
    above = valid & (np.where(valid, v, -np.inf) >= threshold)
    n_valid = trailing_sums(valid, window)
    n_above = trailing_sums(above, window)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = n_above / n_valid.astype(float)
    return np.where(n_valid >= max(min_coverage * window, 1), share, np.nan)


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


#: Above this temperature the critical RH is the class's RHmin (Hukka & Viitanen 1999, eq. 3).
RH_CRIT_POLYNOMIAL_MAX_C: Final = 20.0


def critical_rh(temperature: float, rh_min: float) -> float:
    """Critical RH (%) for mould growth at ``temperature`` (°C).

    Hukka & Viitanen (1999), eq. 3, with the class minimum of Ojanen et al. (2010):

    - T ≤ 20 °C: RHcrit = max(−0.00267T³ + 0.160T² − 3.13T + 100.0, RHmin);
    - T > 20 °C: RHcrit = RHmin (80 % for the sensitive classes).

    The polynomial is a fit to the measured limit below 20 °C only; carried
    past 20 °C it rises again (80.03 % at 21 °C, 80.16 % at 25 °C), which
    would hide growth that the model predicts between RHmin and that value.
    """
    t = temperature
    if t > RH_CRIT_POLYNOMIAL_MAX_C:
        return rh_min
    return max(-0.00267 * t**3 + 0.160 * t**2 - 3.13 * t + 100.0, rh_min)


@dataclass(frozen=True)
class _Hour:
    """One hour's conditions as the VTT model sees them (the same for every state M)."""

    growing: bool
    m_max: float = 0.0
    #: dM/dt per hour for k1 = 1 and k2 = 1 (Hukka & Viitanen 1999, eq. 4 over 24).
    base_rate: float = 0.0


def _hour(t: float, rh: float, s: Sensitivity) -> _Hour | None:
    """None for a missing hour; else whether mould grows and, if so, how fast and how far."""
    if math.isnan(t) or math.isnan(rh):
        return None
    rh = min(rh, 100.0)
    if not (0.0 < t < 50.0) or rh < critical_rh(t, s.rh_min):
        return _Hour(growing=False)
    rh_crit = critical_rh(t, s.rh_min)
    # Mmax = A + B·x − C·x², x = (RHcrit − RH)/(RHcrit − 100) (Ojanen et al. 2010, eq. 7).
    x = (rh_crit - rh) / (rh_crit - 100.0) if rh_crit < 100.0 else 1.0
    m_max = s.a + s.b * x - s.c * x * x
    # dM/dt = k1·k2 / (7·exp(−0.68 ln T − 13.9 ln RH + 66.02)) per day (eq. 4, W = SQ = 0).
    per_day = 1.0 / (7.0 * math.exp(-0.68 * math.log(t) - 13.9 * math.log(rh) + 66.02))
    return _Hour(growing=True, m_max=m_max, base_rate=per_day / 24.0)


def _decline(dry_hours: npt.NDArray[np.int64]) -> Array:
    """Hourly decline after ``dry_hours`` unfavourable hours (eq. 8): 0.032/day for the first
    6 h, nothing for hours 6–24, 0.016/day after that."""
    return np.where(dry_hours <= 6, 0.032, np.where(dry_hours <= 24, 0.0, 0.016)) / 24.0


def _step(
    m: Array, dry: npt.NDArray[np.int64], hour: _Hour | None, s: Sensitivity, c_mat: float
) -> None:
    """Advance states ``m`` (and their dry-spell lengths) by one hour, in place."""
    if hour is None:
        return  # no data is no evidence either way: M and the dry spell hold
    if hour.growing:
        dry[:] = 0
        k1 = np.where(m < 1.0, s.k1_below_1, s.k1_from_1)
        k2 = np.maximum(1.0 - np.exp(2.3 * (m - hour.m_max)), 0.0)
        m += k1 * k2 * hour.base_rate
    else:
        dry += 1
        np.maximum(m - c_mat * _decline(dry), 0.0, out=m)


def mould_index(
    temperature: npt.ArrayLike,
    relative_humidity: npt.ArrayLike,
    sensitivity: Sensitivity = DEFAULT_SENSITIVITY,
    c_mat: float = 1.0,
    m0: float = 0.0,
) -> Array:
    """VTT mould index M after each hourly step of surface temperature (°C) and RH (%).

    Growth when 0 < T < 50 °C and RH ≥ RHcrit, otherwise decline: −0.032/day
    for the first 6 h of unfavourable conditions, nothing for hours 6–24,
    −0.016/day after that, scaled by ``c_mat``. A missing hour (NaN) holds M
    and does not extend the dry spell: no data is no evidence either way.
    """
    t_arr = np.asarray(temperature, dtype=float)
    rh_arr = np.asarray(relative_humidity, dtype=float)
    out = np.empty(t_arr.size)
    m = np.array([m0])
    dry = np.zeros(1, dtype=np.int64)
    for i, (t, rh) in enumerate(zip(t_arr.tolist(), rh_arr.tolist(), strict=True)):
        _step(m, dry, _hour(t, rh, sensitivity), sensitivity, c_mat)
        out[i] = m[0]
    return out


def windowed_mould_index(
    temperature: npt.ArrayLike,
    relative_humidity: npt.ArrayLike,
    window: int,
    first: int = 0,
    sensitivity: Sensitivity = DEFAULT_SENSITIVITY,
    c_mat: float = 1.0,
) -> Array:
    """M at each hour ``i ≥ first`` from M = 0 at the start of the ``window`` hours ending at i.

    The mould index is a rolling statistic like the others: the value of an
    hour depends on its own window of surface conditions only, so a backfill
    and the scheduled run (which load different amounts of history) agree.
    Hours before ``first`` are NaN; a window reaching before the series start
    is shortened. All windows are advanced together, one hour at a time.
    """
    t_arr = np.asarray(temperature, dtype=float)
    rh_arr = np.asarray(relative_humidity, dtype=float)
    n = t_arr.size
    out = np.full(n, np.nan)
    if first >= n:
        return out
    outputs = np.arange(first, n)
    starts = np.maximum(outputs - window + 1, 0)
    m = np.zeros(outputs.size)
    dry = np.zeros(outputs.size, dtype=np.int64)
    for h in range(int(starts[0]), n):
        # Windows active at hour h: started at or before h, not yet ended (contiguous).
        lo = max(h - first, 0)
        hi = int(np.searchsorted(starts, h, side="right"))
        if lo < hi:
            sl = slice(lo, hi)
            m_view, dry_view = m[sl], dry[sl]
            _step(m_view, dry_view, _hour(t_arr[h], rh_arr[h], sensitivity), sensitivity, c_mat)
        if h >= first:
            out[h] = m[h - first]
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
    mould_window: int | None = None,
    first: int = 0,
) -> DampSeries:
    """All damp series for consecutive hourly means (NaN where an hour has no reading).

    With ``mould_window`` (hours), M at each hour from ``first`` on is the
    index over that hour's own trailing window (``windowed_mould_index``);
    without it, M runs from the first hour given.
    """
    t = np.asarray(temperature, dtype=float)
    rh = np.asarray(relative_humidity, dtype=float)
    te = np.broadcast_to(np.asarray(outdoor_temperature, dtype=float), t.shape).copy()
    ts = surface_temperature(t, te, f_rsi)
    rhs = surface_rh(t, rh, te, f_rsi)
    if mould_window is None:
        mould = mould_index(ts, rhs, sensitivity)
    else:
        mould = windowed_mould_index(ts, rhs, mould_window, first, sensitivity)
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
