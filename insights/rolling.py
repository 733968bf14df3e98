"""Trailing-window sums that depend only on the values inside each window.

Every rolling statistic in ``insights`` (DAQI running means, damp shares of
hours) is built from these sums over exact integers (micro-units or hour
counts), never from differences of running totals over the whole series: a
window's result is then the same whatever history was loaded before it, so a
backfill and the scheduled run agree hour for hour.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

IntArray = npt.NDArray[np.int64]


def trailing_sums(values: npt.ArrayLike, window: int) -> IntArray:
    """Sum of the ``window`` entries ending at each index (entries before the first count as 0).

    ``values`` must be integers: the sum of each window is then exact.
    """
    if window < 1:
        raise ValueError(f"window must be at least 1, got {window}")
    v = np.asarray(values, dtype=np.int64)
    padded = np.concatenate((np.zeros(window - 1, dtype=np.int64), v))
    return sliding_window_view(padded, window).sum(axis=1, dtype=np.int64)
