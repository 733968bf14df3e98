"""Cumulative people counters → per-interval counts, hourly/daily in Europe/London.

Pure numpy, following ``shared/reference/domain.md`` §3: readings are put in
event-time order (then fCnt), duplicates dropped, and each difference is
classified as an increase, a counter wrap (16- or 32-bit) or a device reset
(lower bound: the new total). A gap in fCnt means missed uplinks; the
cumulative difference still covers it and is assigned to the interval of the
reading that ends the gap (flagged). Hours are UTC-aligned (London's offsets
are whole hours); days are London calendar days, so clock-change days have
23 or 25 hours.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]
HOUR_NS = 3_600_000_000_000


@dataclass(frozen=True)
class Deltas:
    """Per-reading counts after cleaning, in event-time order."""

    time_ns: IntArray
    f_cnt: IntArray
    total: IntArray
    delta: IntArray
    wrapped: npt.NDArray[np.bool_]
    reset: npt.NDArray[np.bool_]
    gap: npt.NDArray[np.bool_]
    duplicates: int


def counter_bits(totals: npt.ArrayLike) -> int:
    """16 unless a total does not fit in 16 bits (then the counter must be 32-bit)."""
    t = np.asarray(totals)
    return 32 if t.size and int(t.max()) >= 1 << 16 else 16


def interval_counts(
    time_ns: npt.ArrayLike,
    f_cnt: npt.ArrayLike,
    totals: npt.ArrayLike,
    bits: int | None = None,
    baseline: int | None = None,
) -> Deltas:
    """Per-reading increments of a cumulative counter.

    A reading with the same fCnt and total as the one before is a redelivery,
    even with another timestamp; so two resets in a row that land on the same
    fCnt and total count once (resets are lower bounds anyway).
    ``baseline`` is the total of the reading just before the first one given
    (so a windowed run still counts its first reading); without it the first
    reading only sets the baseline. A drop is a wrap when the wrapped increase
    is under a quarter of the counter's range (the counter was close to 2^bits
    and is now small), otherwise a reset counted as the new total.
    """
    t = np.asarray(time_ns, dtype=np.int64)
    f = np.asarray(f_cnt, dtype=np.int64)
    v = np.asarray(totals, dtype=np.int64)
    order = np.lexsort((f, t))
    t, f, v = t[order], f[order], v[order]
    if t.size:
        # Same event time, or the same fCnt and total delivered twice: one reading.
        same = np.concatenate(
            ([False], (t[1:] == t[:-1]) | ((f[1:] == f[:-1]) & (v[1:] == v[:-1])))
        )
        keep = ~same
    else:
        keep = np.ones(0, dtype=bool)
    duplicates = int((~keep).sum())
    t, f, v = t[keep], f[keep], v[keep]
    modulus = 1 << (bits or counter_bits(v if baseline is None else np.append(v, baseline)))
    prev = np.concatenate(([v[0] if baseline is None else baseline], v[:-1])) if v.size else v
    diff = v - prev
    wrapped_delta = v + modulus - prev
    drop = diff < 0
    wrapped = drop & (wrapped_delta < modulus // 4)
    reset = drop & ~wrapped
    delta = np.where(wrapped, wrapped_delta, np.where(reset, v, diff))
    gap = np.concatenate(([False], np.diff(f) > 1)) if f.size else np.zeros(0, dtype=bool)
    return Deltas(t, f, v, delta.astype(np.int64), wrapped, reset, gap, duplicates)


def hourly(time_ns: IntArray, counts: IntArray, start_ns: int, end_ns: int) -> IntArray:
    """Sums per hour in [start, end) (UTC-aligned hours; start must be on the hour)."""
    n_hours = max((end_ns - start_ns) // HOUR_NS, 0)
    inside = (time_ns >= start_ns) & (time_ns < start_ns + n_hours * HOUR_NS)
    bins = (time_ns[inside] - start_ns) // HOUR_NS
    return np.bincount(bins, weights=counts[inside], minlength=n_hours).astype(np.int64)


def day_starts(first: date, last: date, tz: str) -> list[datetime]:
    """Local midnights from ``first`` to the day after ``last``, as UTC instants."""
    zone = ZoneInfo(tz)
    days = (last - first).days + 2
    return [
        datetime.combine(first + timedelta(days=i), datetime.min.time(), zone).astimezone(UTC)
        for i in range(days)
    ]


def to_ns(moment: datetime) -> int:
    return int(moment.timestamp()) * 1_000_000_000


def daily(
    time_ns: IntArray, counts: IntArray, first: date, last: date, tz: str
) -> tuple[list[date], IntArray, list[int]]:
    """Sums per local calendar day ``first``..``last``: days, counts, and each day's length in hours."""
    edges = day_starts(first, last, tz)
    edges_ns = np.array([to_ns(e) for e in edges], dtype=np.int64)
    bins = np.searchsorted(edges_ns, time_ns, side="right") - 1
    inside = (bins >= 0) & (bins < len(edges) - 1)
    sums = np.bincount(bins[inside], weights=counts[inside], minlength=len(edges) - 1)
    lengths = [int((b - a).total_seconds() // 3600) for a, b in zip(edges, edges[1:], strict=False)]
    days = [first + timedelta(days=i) for i in range(len(edges) - 1)]
    return days, sums.astype(np.int64), lengths


def week_ago_local(moment_utc: datetime, tz: str) -> datetime:
    """Same local wall-clock time on the same weekday a week earlier, as UTC.

    Across a clock change that is 167 or 169 hours back, not 168.
    """
    zone = ZoneInfo(tz)
    local = moment_utc.astimezone(zone)
    earlier = datetime.combine(local.date() - timedelta(days=7), local.time(), zone)
    return earlier.astimezone(UTC)
