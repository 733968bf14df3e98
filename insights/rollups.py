"""Hourly and daily rollups: statistics per device (and per site) that long-range questions read.

An aggregate over 30 days of raw points costs InfluxDB a cursor per series ×
shard and, for medians and percentiles, a sort of every value; the same
question over hourly rollups reads 720 rows per device, over daily ones 30.
Names, tags and fields are in ``storage.schema`` (``ROLLUP_*``). Rollups cover
the canonical quantities (``core.quantities``) and the uplink's link fields;
other decoder fields are aggregated from raw data by the API.

What is exact (the API relies on it, ``tests/insights/test_rollups.py`` checks
it against raw answers on InfluxDB): count, sum, min and max of any whole hours
or days merge exactly (mean = Σsum / Σcount), per device and (public devices'
readings) per site, hourly and daily; a site's hourly median or 95th
percentile is that hour's public values' ``MEDIAN``/``PERCENTILE`` as InfluxDB
defines them, so exact for that site-hour and for nothing longer (a median of
medians is not a median). The hourly rows are computed from the raw points in
numpy (``storage.stats``): InfluxDB 1.6 returns a dense day of 1,000 devices'
uplinks in 1.15 s but takes 3.2 s to aggregate them, and a site's quantiles cost it
another query (a dense day per measurement: 2.1 s against 3.2 s for uplinks, 1.3
against 2.8 for climate, 0.8 against 3.2 for air quality). Medians and percentiles per device, of a longer bucket, or
for a housing key (home devices included) are computed from raw points.
Per-device hourly quantiles were measured too costly to keep: InfluxDB 1.6
spends about 5 µs per aggregate per hourly window, and 1,000 devices × 30 days
are 720,000 windows.

Each run recomputes, per measurement, the whole hours in [since, until) and
the hours written since the last run (``DeviceState.claim_touched``: late
uplinks, history frames, a gateway's backlog, a backfill), in runs of
consecutive hours, then the days all those hours touch; points overwrite
themselves. A late point two weeks old costs its hour and its day, not the
two weeks since. ``DeviceState.record_rolled`` keeps the one contiguous span
of hours the rollups hold, so the API reads rollups only where they are
complete and raw data elsewhere: hours touched before that span are
recomputed together with the gap up to its start, so the span grows (each
gap once); a mark (``DeviceState.mark``: erasure, reclassification) means
every hour from it on, and the span ends there until the run has recomputed
them; after a pause the run starts where the span ends.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final, Protocol

import numpy as np

from core.errors import QueryError, QueryTimeoutError
from core.settings import InfluxSettings
from storage.erasure import DeviceRange, V2Deleter, databases
from storage.points import FieldValue, Point, make_point
from storage.query import DAY_NS, HOUR_NS, InfluxQL, Series, quote_ident
from storage.schema import (
    LEVEL_DEVICE,
    LEVEL_SITE,
    LEVEL_TAG,
    PRIVACY_PUBLIC,
    READING_MEASUREMENTS,
    ROLLUP_ADDITIVE,
    ROLLUP_DAILY,
    ROLLUP_HOURLY,
    ROLLUP_QUANTILES,
    ROLLUP_SOURCES,
    TAG_KEYS,
    rollup_field,
    rollup_fields,
    rollup_stats,
    site_tags,
)
from storage.state import DeviceState
from storage.stats import hourly, quantile

__all__ = ["RollupJob", "RollupReport", "drop_rollups", "forget_rollups", "forget_rollups_v2"]

log = logging.getLogger(__name__)

#: InfluxQL function computing each statistic from raw points, and merging hourly ones.
_FN: Final = {"count": "COUNT", "sum": "SUM", "min": "MIN", "max": "MAX"}
_MERGE: Final = {"count": "SUM", "sum": "SUM", "min": "MIN", "max": "MAX"}
_NUMERIC: Final = frozenset({"float", "integer"})
#: Oldest data a run recomputes, however old the late data it was told of (the API's widest
#: range: ``ApiSettings.max_range_days``' default).
MAX_LOOKBACK: Final = timedelta(days=366)
#: Queries in flight at once while rolling up.
_PARALLEL: Final = 2
#: Raw hours read by a run's first query (a day of 1,000 devices is about 24,000 hourly rows,
#: from 144,000 raw points held in memory at once); the next ones are sized to give about
#: ``_TARGET_ROWS`` (``_adaptive``): a dense fleet stays at a day, a sparse one grows.
_CHUNK_NS: Final = DAY_NS
_TARGET_ROWS: Final = 25_000
#: A public shard group: InfluxDB 1.6 pays for every series in every group a query spans, so a
#: longer chunk of a sparse backfill saves nothing more, and 32 days of uplinks (1-day home
#: groups, five fields) timed out at 10 s in ``bench.api``.
_MAX_CHUNK_NS: Final = 7 * DAY_NS


class _Runner(Protocol):
    def query(
        self, q: str, params: dict[str, Any] | None = None, *, database: str | None = None
    ) -> list[Series]: ...


@dataclass
class RollupReport:
    """What a run recomputed per measurement ([from, until) in ns) and the points written."""

    #: The run's window: [since, until) widened to the held span's end after a pause and
    #: to a mark (``DeviceState.mark``); absent when it held nothing to do.
    spans: dict[str, tuple[int, int]] = field(default_factory=dict)
    #: Other spans recomputed: runs of hours late data touched, the first of them widened
    #: to the held span's start when it lay before it (so the span grows contiguously).
    late: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    points: int = 0


@dataclass(frozen=True)
class _Plan:
    """A measurement's share of a run: spans to recompute, spans to record as held, and the
    touched hours too old to recompute (before the lookback)."""

    window: tuple[int, int] | None
    late: list[tuple[int, int]]
    record: list[tuple[int, int]]
    old: list[int]


def _floor(ns: int, step: int) -> int:
    return ns - ns % step


def _ns(moment: datetime) -> int:
    return int(moment.timestamp()) * 1_000_000_000


def _runs_of(starts: Sequence[int], step: int) -> list[tuple[int, int]]:
    """Sorted starts of ``step``-long intervals -> [from, until) of each run of adjacent ones."""
    runs: list[tuple[int, int]] = []
    for start in starts:
        if runs and runs[-1][1] == start:
            runs[-1] = (runs[-1][0], start + step)
        else:
            runs.append((start, start + step))
    return runs


def _adaptive(
    pool: ThreadPoolExecutor,
    read: Callable[[tuple[int, int]], list[Point]],
    span: tuple[int, int],
) -> Iterator[list[Point]]:
    """``read`` over ``span`` in consecutive chunks, ``_PARALLEL`` at a time, in order: a day
    first, then each chunk sized from what the last gave (about ``_TARGET_ROWS`` hourly rows,
    whole hours, one hour to ``_MAX_CHUNK_NS``). InfluxDB 1.x pays per query for every
    series and shard it opens, however few points each holds: a sparse backfill (a point per
    device per day) read a day at a time cost a query per day (``bench.api``'s year stage)."""
    start, end = span
    size = _CHUNK_NS
    pending: deque[tuple[int, Future[list[Point]]]] = deque()
    while start < end or pending:
        while start < end and len(pending) < _PARALLEL:
            stop = min(start + size, end)
            pending.append((stop - start, pool.submit(read, (start, stop))))
            start = stop
        width, future = pending.popleft()
        points = future.result()
        yield points
        wanted = width * _TARGET_ROWS // max(len(points), 1)
        size = min(max(_floor(wanted, HOUR_NS), HOUR_NS), _MAX_CHUNK_NS)


def _chunks(spans: Sequence[tuple[int, int]], size: int) -> list[tuple[int, int]]:
    """Each span cut into pieces of at most ``size``."""
    return [(a, min(a + size, end)) for start, end in spans for a in range(start, end, size)]


def _plan(
    since_ns: int,
    end_ns: int,
    complete_ns: int,
    lookback_ns: int,
    held: tuple[int, int] | None,
    marked: int | None,
    touched: frozenset[int],
) -> _Plan:
    """Which hours of one measurement a run recomputes, and which span it may then record.

    The window [since, end) starts earlier at a mark, and at the held span's end when that
    lies before it (the job was down: the span stays whole). Touched hours outside the
    window are recomputed in runs of consecutive hours; those before the held span (as the
    window's record leaves it) are recomputed from the first of them up to the span's start,
    so ``record_rolled`` extends the span (a disjoint span would replace it). Nothing before
    ``end - lookback`` is recomputed. All starts and ends are whole hours."""
    floor = end_ns - lookback_ns
    start = since_ns if marked is None else min(since_ns, marked)
    if held is not None and held[1] < start:
        start = held[1]
    start = max(start, floor)
    window = (start, end_ns) if start < end_ns else None
    record: list[tuple[int, int]] = []
    span = held
    if window is not None and start < complete_ns:
        record.append((start, complete_ns))
        if span is not None and start <= span[1] and complete_ns >= span[0]:
            span = (min(start, span[0]), max(complete_ns, span[1]))
        else:
            span = (start, complete_ns)
    outside = sorted(h for h in touched if h >= floor and not (window and start <= h < end_ns))
    late: list[tuple[int, int]] = []
    if span is not None and outside and outside[0] < span[0]:
        gap = (outside[0], span[0])
        late.append(gap)
        record.append(gap)
        outside = [h for h in outside if h >= span[0]]
    # Hours inside the span need no record; after it (a clock ahead) they may not get one.
    late += _runs_of(outside, HOUR_NS)
    return _Plan(window, late, record, sorted(h for h in touched if h < floor))


class RollupJob:
    """Computes rollups with ``query`` (reading every database: ``InfluxQL(settings)``) and hands
    the points to ``write`` (the insights writer, which routes them by ``privacy``)."""

    def __init__(
        self,
        query: _Runner,
        write: Callable[[list[Point]], None],
        state: DeviceState,
        databases: Sequence[str],
        max_lookback: timedelta = MAX_LOOKBACK,
    ) -> None:
        self.max_lookback_ns = int(max_lookback.total_seconds()) * 1_000_000_000
        self.query = query
        self.write = write
        self.state = state
        self.databases = tuple(databases)

    def run(self, since: datetime, until: datetime) -> RollupReport:
        """Roll up the hours of [since, until) (the hour ``until`` falls in too, so
        dashboards see the current hour so far), and the hours late data touched or a mark
        asked for since the last run (``DeviceState.claim_touched``), then the days all of
        them touch. What a measurement claimed is given back if its part of the run fails,
        so no hour is forgotten. Only hours that ended before the run count as held
        (``DeviceState.rolled``)."""
        since_ns = _floor(_ns(since), HOUR_NS)
        end_ns = _floor(_ns(until) - 1, HOUR_NS) + HOUR_NS
        complete_ns = _floor(min(_ns(until), time.time_ns()), HOUR_NS)
        claim = self.state.claim_touched()
        report = RollupReport()
        done: set[str] = set()
        try:
            for measurement in ROLLUP_SOURCES:
                plan = _plan(
                    since_ns,
                    end_ns,
                    complete_ns,
                    self.max_lookback_ns,
                    self.state.rolled(measurement),
                    claim.since.get(measurement),
                    claim.hours.get(measurement, frozenset()),
                )
                spans = ([plan.window] if plan.window else []) + plan.late
                fields = self._fields(measurement) if spans else []
                if fields:
                    report.points += self._measurement(measurement, fields, spans)
                for a, b in plan.record:
                    self.state.record_rolled(measurement, a, b)
                if plan.old:
                    self._too_old(measurement, plan.old)
                if plan.window:
                    report.spans[measurement] = plan.window
                if plan.late:
                    report.late[measurement] = plan.late
                done.add(measurement)
        finally:
            self.state.give_back(claim.only(m for m in ROLLUP_SOURCES if m not in done))
        return report

    def _too_old(self, measurement: str, old: list[int]) -> None:
        """Hours written before the lookback are not recomputed: say so, and let the held span
        start after them, so the API answers there from raw points, not stale rollups."""
        log.warning(
            "rollups measurement=%s hours_older_than_lookback=%d newest=%d: not recomputed,"
            " answered from raw points",
            measurement,
            len(old),
            old[-1],
        )
        self.state.trim_rolled(measurement, old[-1] + HOUR_NS)

    def _fields(self, measurement: str) -> list[str]:
        """The rolled-up fields that exist (with a numeric type) in any database."""
        wanted = set(rollup_fields(measurement))
        found: set[str] = set()
        for database in self.databases:
            try:
                keys = self.query.query(
                    f"SHOW FIELD KEYS FROM {quote_ident(measurement)}", database=database
                )
            except QueryError as exc:
                if "database not found" not in str(exc):
                    raise
                continue
            found |= {row[0] for s in keys for row in s.values if row[1] in _NUMERIC}
        return sorted(wanted & found)

    def _measurement(
        self, measurement: str, fields: list[str], spans: Sequence[tuple[int, int]]
    ) -> int:
        """Hourly rows of each span a day per query, then the days they touch (each once);
        InfluxDB answers ``_PARALLEL`` queries at once (it uses every core, the job hardly
        any)."""
        written = 0

        def hours(chunk: tuple[int, int]) -> list[Point]:
            a, b = chunk
            try:
                return self._hours(measurement, fields, a, b)
            except QueryTimeoutError:
                # A busy server (or a dense fleet) did not answer a day's rows in time:
                # the same hours in two halves, down to one hour, before giving up.
                if b - a <= HOUR_NS:
                    raise
                middle = max(_floor(a + (b - a) // 2, HOUR_NS), a + HOUR_NS)
                log.warning(
                    "rollups measurement=%s timeout: splitting %d hours",
                    measurement,
                    (b - a) // HOUR_NS,
                )
                return hours((a, middle)) + hours((middle, b))

        def days(chunk: tuple[int, int]) -> list[Point]:
            return self._daily(measurement, fields, *chunk)

        touched_days = sorted({d for a, b in spans for d in range(_floor(a, DAY_NS), b, DAY_NS)})
        with ThreadPoolExecutor(_PARALLEL) as pool:
            hourly = (points for span in spans for points in _adaptive(pool, hours, span))
            for points in hourly:
                written += self._store(points)
            # The days after every hour is written: they are read from the hourly rows.
            for points in pool.map(days, _chunks(_runs_of(touched_days, DAY_NS), 8 * DAY_NS)):
                written += self._store(points)
        return written

    def _store(self, points: list[Point]) -> int:
        if points:
            self.write(points)
        return len(points)

    def _hours(self, measurement: str, fields: list[str], a: int, b: int) -> list[Point]:
        """Hourly rows of [a, b): per device (its tag set), and per site of its public devices'
        readings, computed from the raw points (``storage.stats``: as InfluxDB's aggregates
        compute them). InfluxDB 1.6 returns a dense day of 1,000 devices' uplinks in 1.15 s
        and takes 3.7 s to aggregate them itself."""
        columns = ", ".join(quote_ident(n) for n in fields)
        group = ", ".join(quote_ident(tag) for tag in TAG_KEYS)
        series = self.query.query(
            f"SELECT {columns} FROM {quote_ident(measurement)}"
            f" WHERE time >= {a} AND time < {b} GROUP BY {group}"
        )
        target = ROLLUP_HOURLY[measurement]
        points: list[Point] = []
        sites: dict[str, list[tuple[np.ndarray, list[np.ndarray]]]] = {}
        for s in series:
            times, columns_ = _columns(s, fields)
            rows: dict[int, dict[str, FieldValue]] = {}
            for name, values in zip(fields, columns_, strict=True):
                stats = hourly(times, values)
                wanted = rollup_stats(measurement, name)
                for i, hour in enumerate(stats.hours.tolist()):
                    row = rows.setdefault(hour, {})
                    for stat, column in zip(
                        ROLLUP_ADDITIVE,
                        (stats.count, stats.total, stats.minimum, stats.maximum),
                        strict=True,
                    ):
                        if stat in wanted:
                            row[rollup_field(name, stat)] = float(column[i])
            tags = {**s.tags, LEVEL_TAG: LEVEL_DEVICE}
            points += [make_point(target, tags, row, hour) for hour, row in sorted(rows.items())]
            site = s.tags.get("site", "")
            if (
                measurement in READING_MEASUREMENTS
                and site
                and s.tags.get("privacy") == PRIVACY_PUBLIC
            ):
                sites.setdefault(site, []).append((times, columns_))
        for site, parts in sorted(sites.items()):
            points += self._site_hours(target, site, fields, parts)
        return points

    @staticmethod
    def _site_hours(
        target: str, site: str, fields: list[str], parts: list[tuple[np.ndarray, list[np.ndarray]]]
    ) -> list[Point]:
        """Hourly statistics of a site's public devices' values together: count, sum, min,
        max, median and 95th percentile (InfluxDB's definitions, ``storage.stats``)."""
        times = np.concatenate([t for t, _ in parts])
        rows: dict[int, dict[str, FieldValue]] = {}
        for index, name in enumerate(fields):
            stats = hourly(times, np.concatenate([c[index] for _, c in parts]))
            for i, hour in enumerate(stats.hours.tolist()):
                row = rows.setdefault(hour, {})
                row[rollup_field(name, "count")] = float(stats.count[i])
                row[rollup_field(name, "sum")] = float(stats.total[i])
                row[rollup_field(name, "min")] = float(stats.minimum[i])
                row[rollup_field(name, "max")] = float(stats.maximum[i])
                for fn in ROLLUP_QUANTILES:
                    value = quantile(fn, stats.segments[i])
                    if value is not None:
                        row[rollup_field(name, fn)] = value
        tags = site_tags(site, PRIVACY_PUBLIC, "")
        return [make_point(target, tags, row, hour) for hour, row in sorted(rows.items())]

    def _daily(self, measurement: str, fields: list[str], a: int, b: int) -> list[Point]:
        """Days from the hourly rows: per device, and per site (readings)."""
        columns = ", ".join(
            f"{_MERGE[stat]}({quote_ident(rollup_field(n, stat))})"
            f" AS {quote_ident(rollup_field(n, stat))}"
            for n in fields
            for stat in rollup_stats(measurement, n)
        )
        levels: list[tuple[str, tuple[str, ...]]] = [(LEVEL_DEVICE, TAG_KEYS)]
        if measurement in READING_MEASUREMENTS:
            levels.append((LEVEL_SITE, ("site", "privacy")))
        points = []
        for level, tags in levels:
            group = ", ".join(quote_ident(tag) for tag in tags)
            series = self.query.query(
                f"SELECT {columns} FROM {quote_ident(ROLLUP_HOURLY[measurement])}"
                f" WHERE \"{LEVEL_TAG}\" = '{level}' AND time >= {a} AND time < {b}"
                f" GROUP BY time(1d), {group} fill(none)"
            )
            points += [
                make_point(ROLLUP_DAILY[measurement], {**s.tags, LEVEL_TAG: level}, values, t)
                for s in series
                for t, values in _rows(s, fields)
            ]
        return points


def _columns(series: Series, fields: list[str]) -> tuple[np.ndarray, list[np.ndarray]]:
    """A raw series' times (ns) and each field's values (NaN where the point has none, or a
    value that is not a number: ``_fields`` keeps numeric fields, but a shard may disagree)."""
    rows = series.values
    times = np.fromiter((row[0] for row in rows), np.int64, len(rows))
    columns = []
    for name in fields:
        i = series.columns.index(name)
        raw = [row[i] for row in rows]
        try:
            # None becomes NaN; a string or bool cannot be trusted to convert, so it is not.
            if any(isinstance(v, str | bool) for v in raw):
                raise ValueError(name)
            columns.append(np.array(raw, dtype=np.float64))
        except (TypeError, ValueError):
            columns.append(
                np.array(
                    [
                        v if isinstance(v, int | float) and not isinstance(v, bool) else np.nan
                        for v in raw
                    ],
                    dtype=np.float64,
                )
            )
    return times, columns


def _rows(series: Series, fields: list[str]) -> list[tuple[int, dict[str, FieldValue]]]:
    """(time, rollup fields) per row; a field's statistics only where its count is positive."""
    index = {c: i for i, c in enumerate(series.columns)}
    rows = []
    for row in series.values:
        values: dict[str, FieldValue] = {}
        for name in fields:
            count = row[index[rollup_field(name, "count")]]
            if not count:
                continue
            for stat in (*ROLLUP_ADDITIVE, *ROLLUP_QUANTILES):
                column = rollup_field(name, stat)
                value = row[index[column]] if column in index else None
                if value is not None:
                    values[column] = float(value)
        if values:
            rows.append((int(row[0]), values))
    return rows


def _windows(start_ns: int, end_ns: int) -> tuple[tuple[int, int], tuple[int, int]]:
    """The whole hours and the whole days [start_ns, end_ns) touches, each as [a, b)."""
    hours = _floor(start_ns, HOUR_NS), _floor(end_ns - 1, HOUR_NS) + HOUR_NS
    days = _floor(start_ns, DAY_NS), _floor(end_ns - 1, DAY_NS) + DAY_NS
    return hours, days


def forget_rollups(
    client: _Runner, databases: Sequence[str], dev_eui: str, start_ns: int, end_ns: int
) -> None:
    """Drop the rollups that may hold ``dev_eui``'s points in [start_ns, end_ns) (erasure,
    reclassification): its own hourly and daily rows and every site's (a site's figures mix
    its devices) over the whole hours and days the range touches. The caller marks the range
    in ``DeviceState`` (``mark``), which also ends the span the API reads from rollups
    there, so answers come from raw points until the next run recomputes what remains.
    InfluxDB 1.x ``DELETE``; ``drop_rollups`` picks this or the 2.x delete API.
    ``dev_eui`` must be 16 hex digits (checked by ``storage.erasure.DeviceRange``)."""
    (hour_a, hour_b), (day_a, day_b) = _windows(start_ns, end_ns)
    for database in databases:
        for measurement in ROLLUP_SOURCES:
            hourly, daily = quote_ident(ROLLUP_HOURLY[measurement]), ROLLUP_DAILY[measurement]
            statements = [
                f"DELETE FROM {quote_ident(daily)} WHERE \"dev_eui\" = '{dev_eui}'"
                f" AND time >= {day_a} AND time < {day_b}",
                f"DELETE FROM {hourly} WHERE \"dev_eui\" = '{dev_eui}'"
                f" AND time >= {hour_a} AND time < {hour_b}",
                f"DELETE FROM {hourly} WHERE \"{LEVEL_TAG}\" = '{LEVEL_SITE}'"
                f" AND time >= {hour_a} AND time < {hour_b}",
                # A site's daily row mixes its devices too: left, a reclassified device's
                # readings stayed in a public site's daily figure (review).
                f"DELETE FROM {quote_ident(daily)} WHERE \"{LEVEL_TAG}\" = '{LEVEL_SITE}'"
                f" AND time >= {day_a} AND time < {day_b}",
            ]
            for statement in statements:
                try:
                    client.query(statement, database=database)
                except QueryError as exc:
                    if "database not found" not in str(exc):
                        raise


def forget_rollups_v2(deleter: V2Deleter, span: DeviceRange) -> None:
    """``forget_rollups`` through the 2.x delete API, on both buckets (each on its server):
    per rollup measurement, ``_measurement="<m>" AND dev_eui="<eui>"`` and
    ``_measurement="<m>" AND level="site"`` over the whole hours (hourly rows) and whole
    days (daily rows) the span touches. A delete predicate has no ``OR``, hence two
    requests where InfluxQL needs two statements as well. Schema names need no quoting
    beyond the double quotes. Raises ``DeleteUnsupportedError`` on InfluxDB 3."""
    hours, days = _windows(span.start_ns, span.end_ns)
    for measurement in ROLLUP_SOURCES:
        for name, (a, b) in (
            (ROLLUP_DAILY[measurement], days),
            (ROLLUP_HOURLY[measurement], hours),
        ):
            deleter.delete_where(f'_measurement="{name}" AND dev_eui="{span.dev_eui}"', a, b)
            deleter.delete_where(f'_measurement="{name}" AND {LEVEL_TAG}="{LEVEL_SITE}"', a, b)


def drop_rollups(
    influx: InfluxSettings, spans: Sequence[DeviceRange], *, v2: V2Deleter | None = None
) -> None:
    """Forget the rollups that may hold each span's points, the way the store allows: InfluxQL
    ``DELETE`` on 1.x (both databases, the home one on its own server when ``home_url`` is
    set), the delete API on 2.x (``v2``, or one made from ``influx`` and closed after).

    ``influx`` needs credentials that may delete in both. Raises ``QueryError``, and
    ``DeleteUnsupportedError`` on InfluxDB 3, which cannot delete by predicate."""
    if influx.api_version == 1 and v2 is None:
        with InfluxQL(influx, include_home=False) as client:
            for span in spans:
                forget_rollups(client, databases(influx), span.dev_eui, span.start_ns, span.end_ns)
        return
    deleter = v2 if v2 is not None else V2Deleter(influx)
    try:
        for span in spans:
            forget_rollups_v2(deleter, span)
    finally:
        if v2 is None:
            deleter.close()
