"""UK Daily Air Quality Index (DEFRA/COMEAP 2013) from hourly pollutant means.

Sources: DEFRA UK-AIR, "Daily Air Quality Index"
(https://uk-air.defra.gov.uk/air-pollution/daqi?view=more-info) and COMEAP's
"Update on implementation of the Daily Air Quality Index" (DEFRA, April 2013,
https://uk-air.defra.gov.uk/assets/documents/reports/cat14/1304251155_Update_on_Implementation_of_the_DAQI_April_2013_Final.pdf):
the band limits below (integers, µg/m³), the averaging period of each
pollutant, and the overall index as the highest pollutant index. The limits
are integers, so a concentration is rounded to a whole µg/m³ before the
lookup; we round half up (200.5 → 201), as a person reading the table would.

Exactness (docs/insights/daqi.md): concentrations are taken at a resolution
of 10⁻⁶ µg/m³ (far below any sensor's) as integers, so the sum of a window
and the rounding of its mean are exact integer arithmetic. A window's mean
depends only on the hours inside it, never on how much history came before,
and a mean of exactly x.5 is never computed as x.4999…

Running means need ≥ 75 % of their hours present (our design choice), else no
index for that pollutant and hour. A missing hour is missing, never a zero.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from insights.rolling import trailing_sums

Array = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

#: Upper limit of indices 1–9 per pollutant; above the 9th limit is index 10 (DEFRA table).
BAND_LIMITS: Final[dict[str, tuple[int, ...]]] = {
    "pm2_5": (11, 23, 35, 41, 47, 53, 58, 64, 70),
    "pm10": (16, 33, 50, 58, 66, 75, 83, 91, 100),
    "no2": (67, 134, 200, 267, 334, 400, 467, 534, 600),
    "o3": (33, 66, 100, 120, 140, 160, 187, 213, 240),
    "so2": (88, 177, 266, 354, 443, 532, 710, 887, 1064),
}

#: Averaging period of each pollutant's index, in hours (SO2's is 15 min: not measured here).
AVERAGING_HOURS: Final[dict[str, int]] = {"pm2_5": 24, "pm10": 24, "no2": 1, "o3": 8}

#: ppb → µg/m³ at 20 °C (12.187·M/(273.15+T)).
PPB_TO_UGM3: Final[dict[str, float]] = {"no2": 1.91, "o3": 2.00, "so2": 2.66}

#: Share of a window's hours that must be present (our design choice), as a fraction 3/4.
MIN_COMPLETENESS: Final = 0.75
_COMPLETE_NUM, _COMPLETE_DEN = 3, 4

#: Concentrations are exact integers in this many units per µg/m³.
MICRO: Final = 1_000_000

BANDS: Final = ("Low", "Moderate", "High", "Very High")


def band(index: int) -> str:
    """Low 1–3, Moderate 4–6, High 7–9, Very High 10."""
    if not 1 <= index <= 10:
        raise ValueError(f"DAQI index must be 1–10, got {index}")
    return BANDS[min((index - 1) // 3, 3)]


def to_micro(values: npt.ArrayLike) -> tuple[IntArray, npt.NDArray[np.bool_]]:
    """Concentrations (µg/m³) as integer micro-units, and which are present (not NaN).

    Negative readings (sensor offset) count as 0. Missing values are 0 in the
    integer array but ``False`` in the mask, so they never enter a sum.
    """
    c = np.asarray(values, dtype=float)
    valid = ~np.isnan(c)
    micro = np.rint(np.where(valid, np.maximum(c, 0.0), 0.0) * MICRO).astype(np.int64)
    return micro, valid


def _round_half_up(total: IntArray, count: IntArray) -> IntArray:
    """round_half_up(total / (count · MICRO)) in exact integer arithmetic (count > 0)."""
    return (2 * total + count * MICRO) // (2 * count * MICRO)


def _lookup(pollutant: str, rounded: IntArray) -> IntArray:
    limits = np.asarray(BAND_LIMITS[pollutant], dtype=np.int64)
    return (np.searchsorted(limits, rounded, side="left") + 1).astype(np.int64)


def index_of(pollutant: str, concentration: npt.ArrayLike) -> IntArray:
    """Index 1–10 for each concentration (µg/m³); 0 where the concentration is NaN."""
    micro, valid = to_micro(concentration)
    idx = _lookup(pollutant, _round_half_up(micro, np.ones_like(micro)))
    return np.where(valid, idx, 0).astype(np.int64)


@dataclass(frozen=True)
class WindowMean:
    """Trailing means of hourly values: exact window sums (micro-units) and hour counts.

    ``total[i]`` and ``count[i]`` cover the ``hours`` hours ending at hour ``i``
    and nothing else.
    """

    total: IntArray
    count: IntArray
    hours: int

    @property
    def complete(self) -> npt.NDArray[np.bool_]:
        """At least 75 % of the window's hours are present."""
        return _COMPLETE_DEN * self.count >= _COMPLETE_NUM * self.hours

    @property
    def mean(self) -> Array:
        """The mean in µg/m³, NaN where the window is incomplete."""
        with np.errstate(divide="ignore", invalid="ignore"):
            mean = self.total / (self.count * float(MICRO))
        return np.where(self.complete & (self.count > 0), mean, np.nan)

    def index(self, pollutant: str) -> IntArray:
        """Index 1–10 of each complete window's mean, rounded half up exactly; 0 elsewhere."""
        ok = self.complete & (self.count > 0)
        safe = np.where(ok, self.count, 1)
        idx = _lookup(pollutant, _round_half_up(self.total, safe))
        return np.where(ok, idx, 0).astype(np.int64)


def window_mean(hourly: npt.ArrayLike, hours: int) -> WindowMean:
    """Trailing ``hours``-hour means of hourly means (µg/m³, NaN = no data that hour)."""
    micro, valid = to_micro(hourly)
    return WindowMean(trailing_sums(micro, hours), trailing_sums(valid, hours), hours)


def running_mean(hourly: npt.ArrayLike, hours: int) -> Array:
    """Trailing mean over ``hours`` consecutive hourly means, NaN below 75 % completeness."""
    return window_mean(hourly, hours).mean


def pollutant_means(hourly: dict[str, Array]) -> dict[str, WindowMean]:
    """The DAQI averaging of every pollutant present (hourly means in µg/m³)."""
    return {
        name: window_mean(series, AVERAGING_HOURS[name])
        for name, series in hourly.items()
        if name in AVERAGING_HOURS
    }


def overall_index(indices: dict[str, IntArray]) -> IntArray:
    """Highest pollutant index per hour; 0 where no pollutant has an index."""
    stacked = np.vstack(list(indices.values()))
    return stacked.max(axis=0)
