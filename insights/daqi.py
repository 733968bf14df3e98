"""UK Daily Air Quality Index (DEFRA/COMEAP 2013) from hourly pollutant means.

Pure numpy. Band limits are the table in ``shared/reference/domain.md`` §1
(integers, µg/m³; the concentration is rounded before the lookup). Running
means need ≥ 75 % of their hours present (our design choice), else NaN and no
index for that pollutant. Readings from low-cost sensors are *indicative*.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.float64]

#: Upper limit of indices 1–9 per pollutant; above the 9th limit is index 10.
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

MIN_COMPLETENESS: Final = 0.75

BANDS: Final = ("Low", "Moderate", "High", "Very High")


def band(index: int) -> str:
    """Low 1–3, Moderate 4–6, High 7–9, Very High 10."""
    if not 1 <= index <= 10:
        raise ValueError(f"DAQI index must be 1–10, got {index}")
    return BANDS[min((index - 1) // 3, 3)]


def round_half_up(values: npt.ArrayLike) -> Array:
    """Round x.5 up, as a person reading the table would (numpy rounds half to even)."""
    return np.floor(np.asarray(values, dtype=float) + 0.5)


def index_of(pollutant: str, concentration: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """Index 1–10 for each concentration (µg/m³); 0 where the concentration is NaN."""
    limits = np.asarray(BAND_LIMITS[pollutant], dtype=float)
    c = np.asarray(concentration, dtype=float)
    rounded = round_half_up(np.where(np.isnan(c), 0.0, np.maximum(c, 0.0)))
    idx = np.searchsorted(limits, rounded, side="left") + 1
    return np.where(np.isnan(c), 0, idx).astype(np.int64)


def running_mean(hourly: npt.ArrayLike, hours: int) -> Array:
    """Trailing mean over ``hours`` consecutive hourly means, NaN below 75 % completeness."""
    v = np.asarray(hourly, dtype=float)
    valid = ~np.isnan(v)
    total = np.concatenate(([0.0], np.cumsum(np.where(valid, v, 0.0))))
    count = np.concatenate(([0], np.cumsum(valid)))
    idx = np.arange(1, v.size + 1)
    lo = np.maximum(idx - hours, 0)
    n = count[idx] - count[lo]
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = (total[idx] - total[lo]) / n
    return np.where(n >= MIN_COMPLETENESS * hours, mean, np.nan)


def pollutant_means(hourly: dict[str, Array]) -> dict[str, Array]:
    """The DAQI averaging of every pollutant present (hourly means in µg/m³)."""
    return {
        name: running_mean(series, AVERAGING_HOURS[name])
        for name, series in hourly.items()
        if name in AVERAGING_HOURS
    }


def overall_index(indices: dict[str, npt.NDArray[np.int64]]) -> npt.NDArray[np.int64]:
    """Highest pollutant index per hour; 0 where no pollutant has an index."""
    stacked = np.vstack(list(indices.values()))
    return stacked.max(axis=0)
