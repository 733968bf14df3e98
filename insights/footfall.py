"""People counters → counts per reading, hourly and daily in Europe/London.

Pure numpy and Python, no I/O. The rules (docs/insights/footfall.md; README,
*Footfall*):

1. **Order.** Within one LoRaWAN session the uplink frame counter (fCnt) is the
   order of events (LoRaWAN 1.0.x L2 specification §4.3.1.5: FCntUp increments
   with every uplink and restarts at 0 only with a new session: an OTAA join or
   an ABP device that reboots without keeping its counters). Gateway and
   network-server clocks skew, so event times only decide which session a
   reading belongs to and, within a session, are never used to order it.
   Sessions are told apart as readings arrive in time order: a reading starts a
   new session when its fCnt repeats one the session already has with other
   values, is 0 while the session's lowest is above 0, or is more than
   ``REORDER_FRAMES`` below the session's highest. Readings whose times run
   backwards against their fCnt are counted as ``reordered``; for binning into
   hours each takes a time consistent with its neighbours (median of three,
   then never earlier than its predecessor).
2. **Duplicates.** A reading with the same fCnt and values as one already in
   its session is a redelivery, whatever its time.
3. **Counter kinds.** Each counting field declares its register width and kind
   in its decoder spec (``decoders.spec.Counter``, from the vendor's payload
   documentation, e.g. Milesight VS133: 4-byte line totals and 2-byte period
   counts, github.com/Milesight-IoT/SensorDecoders VS_Series/VS13x/README.md).
   ``per_period`` counts are summed as sent. ``cumulative`` totals are
   differenced: d = current − previous, where previous is the last accepted
   total.
4. **Increase, wrap, reset, glitch.** With ``limit`` = ``max_rate`` × elapsed
   time (at least ``MIN_ELAPSED_S``): 0 ≤ d ≤ limit is counted. A drop whose
   wrapped increase (current + 2^bits − previous) is ≤ limit and under a
   quarter of the range is a **wrap**. Within a session, a drop or an
   over-limit rise that the next reading undoes (it is back at or above the
   previous total, by no more than the limit since) is a **glitch**: the
   reading is kept out and the count resumes from the previous total. A drop
   at the first reading of a new session is never a glitch: the device
   rebooted or rejoined, which is when counters restart. Any other drop is a **reset**
   (reboot, rejoin, nightly zero) counted as the new total, a lower bound as in
   Flux ``increase()``. A rise above the limit that is not undone, or a reset
   to a total above it, is **suspicious**: not counted, and the count resumes
   from the new total.
5. **Missing values.** A reading without a value for a field is missing for
   that field (not 0): the next reading's difference covers the interval.
6. **Gaps.** An fCnt gap within a session means missed uplinks; the cumulative
   difference still covers it and is assigned to the reading that ends it
   (flagged). A per-period device loses the missed counts (flagged).

Hours are UTC-aligned (London's offsets are whole hours); days are London
calendar days, so clock-change days have 23 or 25 hours.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Final, Literal
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
HOUR_NS = 3_600_000_000_000
NS_PER_S = 1_000_000_000

#: Most people one counting line can count per second in one direction (our design
#: choice: a wide entrance at a crowded moment stays well below it; the vendors
#: publish no figure). A larger increase in the time elapsed is suspicious.
MAX_RATE_PER_S: Final = 5.0
#: Shortest time an increase is allowed, so two readings stamped close together
#: (or with skewed clocks) do not make every increase suspicious.
MIN_ELAPSED_S: Final = 60.0
#: How far below a session's highest fCnt a reading may be and still be a
#: reordered member of that session rather than the start of a new one.
REORDER_FRAMES: Final = 64

CounterKind = Literal["cumulative", "per_period"]


@dataclass(frozen=True)
class Deltas:
    """Per-reading counts after cleaning, in session then fCnt order.

    ``time_ns`` is the time used for binning (consistent with the fCnt order),
    ``raw_time_ns`` the event time as stored; ``source`` the index of each
    reading in the input. Flags are per reading.
    """

    time_ns: IntArray
    raw_time_ns: IntArray
    source: IntArray
    session: IntArray
    f_cnt: IntArray
    total: IntArray
    delta: IntArray
    wrapped: BoolArray
    reset: BoolArray
    gap: BoolArray
    glitch: BoolArray
    suspicious: BoolArray
    reordered: BoolArray
    duplicates: int
    missing: int


def _sessions(t: IntArray, f: IntArray, v: IntArray) -> tuple[list[list[int]], int]:
    """Readings grouped into sessions (each in fCnt order, sessions in time order)."""
    sessions: list[list[int]] = []
    seen: dict[int, int] = {}  # fCnt -> total, current session
    lo = hi = 0
    duplicates = 0
    for i in np.lexsort((f, t)).tolist():
        fi, vi = int(f[i]), int(v[i])
        if seen.get(fi) == vi:
            duplicates += 1
            continue
        if not sessions or fi in seen or fi + REORDER_FRAMES < hi or (fi == 0 and lo > 0):
            sessions.append([])
            seen, lo, hi = {}, fi, fi
        sessions[-1].append(i)
        seen[fi] = vi
        lo, hi = min(lo, fi), max(hi, fi)
    return [sorted(s, key=lambda i: int(f[i])) for s in sessions], duplicates


def _binning_times(raw: IntArray) -> IntArray:
    """Times that never run backwards: median of each reading and its two neighbours
    (one wild clock cannot drag the others), then a running maximum."""
    if raw.size < 3:
        return np.maximum.accumulate(raw) if raw.size else raw
    prev = np.concatenate((raw[:1], raw[:-1]))
    nxt = np.concatenate((raw[1:], raw[-1:]))
    med = np.median(np.vstack((prev, raw, nxt)), axis=0).astype(np.int64)
    return np.maximum.accumulate(med)


def interval_counts(
    time_ns: npt.ArrayLike,
    f_cnt: npt.ArrayLike,
    totals: npt.ArrayLike,
    bits: int,
    kind: CounterKind = "cumulative",
    baseline: int | None = None,
    max_rate: float = MAX_RATE_PER_S,
) -> Deltas:
    """Per-reading counts of one counting field of one device (rules in the module docstring).

    ``totals`` may hold NaN (no value in that reading: missing, skipped).
    ``bits`` and ``kind`` are the field's declared ``Counter``. ``baseline`` is
    the total just before the first reading (so a windowed run still counts
    its first reading); without it the first reading only sets the baseline.
    """
    t_all = np.asarray(time_ns, dtype=np.int64)
    f_all = np.asarray(f_cnt, dtype=np.int64)
    raw_v = np.asarray(totals, dtype=float)
    present = ~np.isnan(raw_v)
    missing = int((~present).sum())
    idx_present = np.flatnonzero(present)
    t, f = t_all[present], f_all[present]
    v = raw_v[present].astype(np.int64)
    groups, duplicates = _sessions(t, f, v)
    order = np.array([i for g in groups for i in g], dtype=np.int64)
    session = np.array([k for k, g in enumerate(groups) for _ in g], dtype=np.int64)
    t, f, v = t[order], f[order], v[order]
    n = v.size
    first_of_session = np.ones(n, dtype=bool)
    if n:
        first_of_session[1:] = session[1:] != session[:-1]
    reordered = np.zeros(n, dtype=bool)
    gap = np.zeros(n, dtype=bool)
    latest = 0  # latest raw time so far in the session
    for k in range(n):
        if first_of_session[k]:
            latest = int(t[k])
            continue
        reordered[k] = t[k] < latest
        gap[k] = f[k] - f[k - 1] > 1
        latest = max(latest, int(t[k]))
    when = _binning_times(t)
    delta = np.zeros(n, dtype=np.int64)
    wrapped = np.zeros(n, dtype=bool)
    reset = np.zeros(n, dtype=bool)
    glitch = np.zeros(n, dtype=bool)
    suspicious = np.zeros(n, dtype=bool)
    if kind == "per_period":
        delta[:] = v
    else:
        modulus = 1 << bits

        def limit(since_ns: int, until_ns: int) -> float:
            return max_rate * max((until_ns - since_ns) / NS_PER_S, MIN_ELAPSED_S)

        prev_v: int | None = baseline
        prev_t = int(when[0]) if n else 0
        for k in range(n):
            vk, tk = int(v[k]), int(when[k])
            if prev_v is None:
                prev_v, prev_t = vk, tk
                continue
            cap = limit(prev_t, tk)
            d = vk - prev_v
            if 0 <= d <= cap:
                delta[k] = d
            elif d < 0 and (w := vk + modulus - prev_v) <= cap and w < modulus // 4:
                delta[k], wrapped[k] = w, True
            elif (
                not first_of_session[k]
                and k + 1 < n
                and 0 <= int(v[k + 1]) - prev_v <= limit(prev_t, int(when[k + 1]))
            ):
                glitch[k] = True  # undone by the next reading: keep it out entirely
                continue
            elif d < 0 and vk <= cap:
                delta[k], reset[k] = vk, True
            else:
                suspicious[k] = True
            prev_v, prev_t = vk, tk
    return Deltas(
        time_ns=when,
        raw_time_ns=t,
        source=idx_present[order] if n else np.zeros(0, dtype=np.int64),
        session=session,
        f_cnt=f,
        total=v,
        delta=delta,
        wrapped=wrapped,
        reset=reset,
        gap=gap,
        glitch=glitch,
        suspicious=suspicious,
        reordered=reordered,
        duplicates=duplicates,
        missing=missing,
    )


def period_mismatches(deltas: Deltas, period: npt.ArrayLike) -> BoolArray:
    """Readings whose cumulative difference disagrees with the device's own count for the
    period (e.g. VS133 ``period_in``), where both describe the same interval: the
    reading follows its fCnt predecessor in the same session and neither is flagged."""
    p = np.asarray(period, dtype=float)
    n = deltas.delta.size
    out = np.zeros(n, dtype=bool)
    if n < 2 or p.size == 0:
        return out
    pk = p[deltas.source]
    comparable = np.zeros(n, dtype=bool)
    comparable[1:] = (
        (deltas.session[1:] == deltas.session[:-1])
        & (deltas.f_cnt[1:] - deltas.f_cnt[:-1] == 1)
        & ~(deltas.glitch[:-1] | deltas.suspicious[:-1])
    )
    comparable &= ~(deltas.glitch | deltas.suspicious | deltas.reset | np.isnan(pk))
    out[comparable] = deltas.delta[comparable] != pk[comparable]
    return out


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
