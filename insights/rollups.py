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
percentile is InfluxDB's own ``MEDIAN``/``PERCENTILE`` of that hour's public
values, so exact for that site-hour and for nothing longer (a median of medians
is not a median). Medians and percentiles per device, of a longer bucket, or
for a housing key (home devices included) are computed from raw points.
Per-device hourly quantiles were measured too costly to keep: InfluxDB 1.6
spends about 5 µs per aggregate per hourly window, and 1,000 devices × 30 days
are 720,000 windows.

Each run recomputes the whole hours in [since, until) and, per measurement,
from the earliest time written since the last run (``DeviceState``'s
watermark: late uplinks and history frames), then the days those hours touch;
points overwrite themselves. ``DeviceState.record_rolled`` keeps which span of
hours the rollups hold, so the API reads rollups only where they are complete
and raw data elsewhere.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final, Protocol

from core.errors import QueryError
from core.settings import InfluxSettings
from storage.erasure import DeviceRange, V2Deleter, databases
from storage.points import FieldValue, Point, make_point
from storage.query import InfluxQL, Series, quote_ident
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

__all__ = ["RollupJob", "RollupReport", "drop_rollups", "forget_rollups", "forget_rollups_v2"]

log = logging.getLogger(__name__)

HOUR_NS: Final = 3_600_000_000_000
DAY_NS: Final = 24 * HOUR_NS
#: InfluxQL function computing each statistic from raw points, and merging hourly ones.
_FN: Final = {"count": "COUNT", "sum": "SUM", "min": "MIN", "max": "MAX"}
_MERGE: Final = {"count": "SUM", "sum": "SUM", "min": "MIN", "max": "MAX"}
_NUMERIC: Final = frozenset({"float", "integer"})
#: Oldest data a run recomputes, however old the late data it was told of (the API's widest
#: range: ``ApiSettings.max_range_days``' default).
MAX_LOOKBACK: Final = timedelta(days=366)
#: Queries in flight at once while rolling up.
_PARALLEL: Final = 2
#: Raw hours read per query (a day of 1,000 devices is about 24,000 rows).
_CHUNK_NS: Final = DAY_NS


class _Runner(Protocol):
    def query(
        self, q: str, params: dict[str, Any] | None = None, *, database: str | None = None
    ) -> list[Series]: ...


@dataclass
class RollupReport:
    """Hours recomputed per measurement ([from, until) in ns) and points written."""

    spans: dict[str, tuple[int, int]] = field(default_factory=dict)
    points: int = 0


def _floor(ns: int, step: int) -> int:
    return ns - ns % step


def _ns(moment: datetime) -> int:
    return int(moment.timestamp()) * 1_000_000_000


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
        dashboards see the current hour so far) and those late data touched since the last
        run; the watermark is given back if the run fails, so no hour is forgotten. Only
        hours that ended before the run count as held (``DeviceState.rolled``)."""
        since_ns = _floor(_ns(since), HOUR_NS)
        end_ns = _floor(_ns(until) - 1, HOUR_NS) + HOUR_NS
        complete_ns = _floor(min(_ns(until), time.time_ns()), HOUR_NS)
        marks = self.state.claim_watermark()
        report = RollupReport()
        done: set[str] = set()
        try:
            for measurement in ROLLUP_SOURCES:
                start = since_ns
                if measurement in marks:
                    start = min(start, _floor(marks[measurement], HOUR_NS))
                rolled = self.state.rolled(measurement)
                if rolled is not None and rolled[1] < start:
                    start = rolled[1]  # catch up after the job was down, keep the span whole
                start = max(start, end_ns - self.max_lookback_ns)
                if start >= end_ns:
                    done.add(measurement)
                    continue
                fields = self._fields(measurement)
                if fields:
                    report.points += self._measurement(measurement, fields, start, end_ns)
                if start < complete_ns:
                    self.state.record_rolled(measurement, start, complete_ns)
                report.spans[measurement] = (start, end_ns)
                done.add(measurement)
        finally:
            for measurement, earliest in marks.items():
                if measurement not in done:
                    self.state.mark(measurement, earliest)
        return report

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

    def _measurement(self, measurement: str, fields: list[str], start: int, until: int) -> int:
        """Hourly rows a day per query, then the days they touch; InfluxDB answers
        ``_PARALLEL`` queries at once (it uses every core, the job hardly any)."""
        written = 0

        def hours(a: int) -> list[Point]:
            b = min(a + _CHUNK_NS, until)
            return self._hourly(measurement, fields, a, b) + self._sites(measurement, fields, a, b)

        day_start, day_end = _floor(start, DAY_NS), _floor(until - 1, DAY_NS) + DAY_NS

        def days(a: int) -> list[Point]:
            return self._daily(measurement, fields, a, min(a + 8 * DAY_NS, day_end))

        with ThreadPoolExecutor(_PARALLEL) as pool:
            for step, chunks in (
                (hours, range(start, until, _CHUNK_NS)),
                (days, range(day_start, day_end, 8 * DAY_NS)),
            ):
                for points in pool.map(step, chunks):
                    if points:
                        self.write(points)
                        written += len(points)
        return written

    def _hourly(self, measurement: str, fields: list[str], a: int, b: int) -> list[Point]:
        columns = ", ".join(
            f"{_FN[stat]}({quote_ident(n)}) AS {quote_ident(rollup_field(n, stat))}"
            for n in fields
            for stat in rollup_stats(measurement, n)
        )
        group = ", ".join(quote_ident(tag) for tag in TAG_KEYS)
        series = self.query.query(
            f"SELECT {columns} FROM {quote_ident(measurement)}"
            f" WHERE time >= {a} AND time < {b} GROUP BY time(1h), {group} fill(none)"
        )
        target = ROLLUP_HOURLY[measurement]
        return [
            make_point(target, {**s.tags, LEVEL_TAG: LEVEL_DEVICE}, values, t)
            for s in series
            for t, values in _rows(s, fields)
        ]

    def _sites(self, measurement: str, fields: list[str], a: int, b: int) -> list[Point]:
        """Hourly statistics per site of its public devices' readings."""
        if measurement not in READING_MEASUREMENTS:
            return []
        columns = ", ".join(
            f"COUNT({f}) AS {quote_ident(rollup_field(n, 'count'))},"
            f" SUM({f}) AS {quote_ident(rollup_field(n, 'sum'))},"
            f" MIN({f}) AS {quote_ident(rollup_field(n, 'min'))},"
            f" MAX({f}) AS {quote_ident(rollup_field(n, 'max'))},"
            f" MEDIAN({f}) AS {quote_ident(rollup_field(n, 'median'))},"
            f" PERCENTILE({f}, 95) AS {quote_ident(rollup_field(n, 'p95'))}"
            for n, f in ((n, quote_ident(n)) for n in fields)
        )
        series = self.query.query(
            f"SELECT {columns} FROM {quote_ident(measurement)}"
            f" WHERE \"privacy\" = '{PRIVACY_PUBLIC}' AND time >= {a} AND time < {b}"
            ' GROUP BY time(1h), "site" fill(none)'
        )
        target = ROLLUP_HOURLY[measurement]
        points: list[Point] = []
        for s in series:
            site = s.tags.get("site", "")
            if site:
                tags = site_tags(site, PRIVACY_PUBLIC, "")
                points.extend(make_point(target, tags, values, t) for t, values in _rows(s, fields))
        return points

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
