"""The only way request handlers reach InfluxDB: queries scoped to what a principal may see.

Every statement must carry the ``{privacy}`` marker in its WHERE clause; for a
public key it becomes ``"privacy" = $scope_privacy`` (bound to ``public``) and,
when some device the registry marks home has public points, an inclusion regex
listing only the other public devices, so a device reclassified as home (or
labelled public by another bridge's registry) is in no public answer, site
aggregates included. Public-path query texts never name a home device: any
InfluxDB 1.x user can read every running query with ``SHOW QUERIES``, so an
exclusion list would hand the public account every home DevEUI. A statement
without the marker is
refused. Public keys' queries also run on a client whose credentials cannot
read the home database at all (``api.deps``). Handlers get a
``ScopedReadings``, never the client, so forgetting the privacy filter in a
new handler is not possible. Identifiers (measurement, field, tag names) come
only from fixed whitelists; every user-supplied value is a bound ``$param``.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal, Protocol

import numpy as np

from api.cache import Coalescer
from decoders.registry import SPECS
from storage.query import (
    DAY_NS,
    HOUR_NS,
    PUBLIC_TAGS,
    PublicTags,
    Series,
    duration_literal,
    duration_ns,
    quote_ident,
    time_ns,
)
from storage.registry import Scope
from storage.schema import (
    LEVEL_DEVICE,
    LEVEL_SITE,
    LEVEL_TAG,
    NEED_MEASUREMENT,
    QUANTITY_MEASUREMENT,
    ROLLUP_ADDITIVE,
    ROLLUP_DAILY,
    ROLLUP_HOURLY,
    TAG_KEYS,
    UPLINK,
    measurement_of,
    rollup_field,
    rollup_fields,
)
from storage.state import DeviceState, StateRow
from storage.stats import quantile

PRIVACY_MARKER: Final = "{privacy}"

#: Every field a native decoder emits -> the measurement the bridge stores it in; the
#: quantities the readings and aggregates routes accept.
FIELD_MEASUREMENT: Final[dict[str, str]] = {
    **QUANTITY_MEASUREMENT,
    **{f.name: measurement_of(f.name, spec.need) for spec in SPECS for f in spec.fields},
}

AggregateFn = Literal["mean", "min", "max", "count", "median", "p95"]
GroupBy = Literal["device", "site"]

_FN_SQL: Final[dict[str, str]] = {
    "mean": 'MEAN("{f}")',
    "min": 'MIN("{f}")',
    "max": 'MAX("{f}")',
    "count": 'COUNT("{f}")',
    "median": 'MEDIAN("{f}")',
    "p95": 'PERCENTILE("{f}", 95)',
}
_GROUP_TAG: Final[dict[str, str]] = {"device": "dev_eui", "site": "site"}
#: The hourly rollup statistic that is each quantile function.
_QUANTILE_STAT: Final[dict[str, str]] = {"median": "median", "p95": "p95"}
#: The statistics each function needs from rollups or raw points (count first: it says
#: whether a bucket has any value), how rollup rows merge them, and how raw points give them.
_NEEDED: Final[dict[str, tuple[str, ...]]] = {
    "mean": ("count", "sum"),
    "count": ("count",),
    "min": ("count", "min"),
    "max": ("count", "max"),
}
_MERGE: Final = {"count": "SUM", "sum": "SUM", "min": "MIN", "max": "MAX"}
_MERGE_RAW: Final = {"count": "COUNT", "sum": "SUM", "min": "MIN", "max": "MAX"}
_DEVICE_TAGS: Final = TAG_KEYS
_HEX_EUI: Final = re.compile(r"[0-9a-f]{16}")
#: Per group, per bucket time (ns): [count, sum, min, max].
_Partials = dict[str, dict[int, list[float]]]
#: How long after its end an hour's raw points may still change (uplinks a network server
#: delivers late), so are kept only as long as answers (``_hour_points``).
_SETTLED_NS: Final = 5 * 60 * 1_000_000_000
#: Per group, an hour's raw values: (times in ns, sorted; values).
_HourPoints = dict[str, tuple[np.ndarray, np.ndarray]]


def _inclusion(dev_euis: Collection[str]) -> str:
    """`` AND "dev_eui" =~ /^(?:…)$/`` for DevEUIs (16 hex digits, so safe in a regex literal)."""
    return f' AND "dev_eui" =~ /^(?:{"|".join(sorted(dev_euis))})$/'


class QueryRunner(Protocol):
    def query(self, q: str, params: dict[str, Any] | None = None) -> list[Series]: ...


class PublicDevices:
    """The DevEUIs with public points in the public database (``storage.query.PublicTags``:
    InfluxDB's index, asked at most once per ``ttl`` seconds; only 16-hex-digit values kept)."""

    def __init__(self, ttl: float = 5.0) -> None:
        self._tags = PublicTags(ttl)
        self._seen: tuple[dict[str, frozenset[str]], frozenset[str]] | None = None

    def get(self, runner: QueryRunner) -> frozenset[str]:
        values = self._tags.get(lambda: runner.query(PUBLIC_TAGS))
        seen = self._seen
        if seen is None or seen[0] is not values:
            dev_euis = frozenset(v for v in values.get("dev_eui", ()) if _HEX_EUI.fullmatch(v))
            self._seen = seen = (values, dev_euis)
        return seen[1]


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is asking: the key's id, name and scope."""

    key_id: str
    name: str
    scope: Scope

    @property
    def sees_home(self) -> bool:
        return self.scope.includes(Scope.HOUSING)


def parse_duration(text: str) -> timedelta:
    """``15m``/``1h``/``1d`` -> timedelta; anything else is a ValueError (never reaches InfluxQL),
    and a duration longer than ``timedelta.max`` (``999999999w``) an OverflowError."""
    return timedelta(microseconds=duration_ns(text) // 1000)


def ns_to_datetime(ns: int) -> datetime:
    return datetime.fromtimestamp(ns / 1e9, tz=UTC)


@dataclass(frozen=True, slots=True)
class DeviceRow:
    dev_eui: str
    model: str
    site: str
    privacy: str
    need: str
    last_seen: datetime
    rssi: float | None
    snr: float | None
    battery_percent: float | None
    battery_voltage: float | None


@dataclass(frozen=True, slots=True)
class LatestRow:
    dev_eui: str
    model: str
    site: str
    privacy: str
    time: datetime
    values: dict[str, float]


@dataclass(frozen=True, slots=True)
class AggregateRow:
    group: str
    points: list[tuple[datetime, float]]


def _filters(filters: dict[str, str | None]) -> tuple[str, dict[str, str | int]]:
    """`` AND "tag" = $tag`` for each given filter; tag names are our own constants."""
    clause = ""
    params: dict[str, str | int] = {}
    for tag, value in filters.items():
        if value is not None:
            assert tag in _DEVICE_TAGS
            clause += f' AND "{tag}" = ${tag}'
            params[tag] = value
    return clause, params


class ScopedReadings:
    """Read queries that can only return what ``principal`` may see."""

    def __init__(
        self,
        runner: QueryRunner,
        principal: Principal,
        max_range: timedelta,
        restricted: Callable[[str], bool] = lambda dev_eui: False,
        hidden: Collection[str] = (),
        public: Callable[[], Collection[str]] = frozenset,
        state: DeviceState | None = None,
        cache: Coalescer | None = None,
        spans: Coalescer | None = None,
    ) -> None:
        """``restricted(dev_eui)``: the device registry says home (or unknown) for this device;
        ``hidden``: every DevEUI the registry marks home; ``public()``: the DevEUIs with
        public points in the public database (``PublicDevices.get``).

        The registry beats a ``public`` tag on stored data (say, written before the
        device was reclassified): for public keys, when a ``hidden`` device has public
        points, the query names only the *other* public devices (never a hidden one),
        so site aggregates never include it; series of a ``restricted`` device are
        dropped from results as well. ``state``: device state for ``devices``/``latest``
        (none: they find nothing); ``cache``: where identical reads are coalesced, keyed by
        the principal's scope and the public filter in force as well as the arguments;
        ``spans``: where rollup rows read for whole hours are kept (``api.cache.SPAN_TTL``),
        keyed the same way and by the span the rollups hold.
        """
        self._cache = cache
        self._spans = spans
        self._runner = runner
        self._state = state
        self._hidden = frozenset(hidden) if not principal.sees_home else frozenset()
        self.principal = principal
        self._max_range = max_range
        self._restricted = restricted
        self._inclusion = ""
        self._nothing = False
        if not principal.sees_home and hidden:
            seen = frozenset(public())
            if seen & frozenset(hidden):
                shown = seen - frozenset(hidden)
                self._nothing = not shown
                self._inclusion = _inclusion(shown) if shown else ""

    def query(self, statement: str, params: dict[str, Any] | None = None) -> list[Series]:
        """Run one statement whose WHERE clause holds ``{privacy}``; refuse it otherwise."""
        if statement.count(PRIVACY_MARKER) != 1:
            raise ValueError("scoped statements must contain exactly one {privacy} marker")
        bound = dict(params or {})
        if self._nothing:
            return []  # every device with public points is home in the registry
        if self.principal.sees_home:
            clause = '"privacy" =~ /.*/'
        else:
            clause = f'("privacy" = $scope_privacy{self._inclusion})'
            bound["scope_privacy"] = "public"
        series = self._runner.query(statement.replace(PRIVACY_MARKER, clause), bound)
        if not self.principal.sees_home:
            # Belt and braces: a series tagged with any other privacy never leaves, nor one of
            # a device the registry marks home.
            series = [
                s
                for s in series
                if s.tags.get("privacy", "public") == "public"
                and not self._restricted(s.tags.get("dev_eui", ""))
            ]
        return series

    def cached(
        self, name: str, args: tuple[Any, ...], compute: Callable[[], Any], *, span: bool = False
    ) -> Any:
        """``compute()``, coalesced with identical asks (``api.cache``): ``name`` and ``args``
        must say everything the answer depends on besides who asks (which this adds: the
        principal's scope and the public filter in force). ``span``: kept in the span cache
        (rollup rows: ``args`` must hold the rolled span they were read from)."""
        store = self._spans if span else self._cache
        if store is None:
            return compute()
        key = (
            name,
            args,
            self.principal.scope.value,
            self.principal.sees_home,
            self._inclusion,
            self._nothing,
            self._hidden,
        )
        return store.get(key, compute)

    def devices(
        self,
        need: str | None = None,
        site: str | None = None,
        model: str | None = None,
        dev_eui: str | None = None,
    ) -> list[DeviceRow]:
        """``_devices``, coalesced with identical asks (``api.cache``)."""
        args = (need, site, model, dev_eui)
        return list(self.cached("devices", args, lambda: self._devices(*args)))

    def _devices(
        self,
        need: str | None = None,
        site: str | None = None,
        model: str | None = None,
        dev_eui: str | None = None,
    ) -> list[DeviceRow]:
        """Devices heard within the widest allowed range, with their newest link state, from
        device state (``storage.state``): the cost does not grow with retention."""
        since = time_ns(datetime.now(UTC) - self._max_range)
        rows = []
        for state in self._state_rows(
            UPLINK, {"need": need, "site": site, "model": model, "dev_eui": dev_eui}
        ):
            if state.point is None or state.point[0] < since:
                continue
            seen, link = state.point

            def battery(
                name: str, fields: dict[str, tuple[int, float]] = state.fields
            ) -> float | None:
                known = fields.get(name)
                return known[1] if known is not None and known[0] >= since else None

            rows.append(
                DeviceRow(
                    dev_eui=state.dev_eui,
                    model=state.model,
                    site=state.site,
                    privacy=state.privacy,
                    need=state.need,
                    last_seen=ns_to_datetime(seen),
                    rssi=link.get("rssi"),
                    snr=link.get("snr"),
                    battery_percent=battery("battery_percent"),
                    battery_voltage=battery("battery_voltage"),
                )
            )
        return rows

    def _state_rows(self, measurement: str, filters: dict[str, str | None]) -> list[StateRow]:
        """State rows this principal may see (the same rules as ``query``: a public key sees
        rows tagged public of devices the registry does not mark home)."""
        if self._state is None:
            return []
        rows = self._state.rows(
            measurement, sees_home=self.principal.sees_home, filters=filters, hidden=self._hidden
        )
        if not self.principal.sees_home:
            rows = [row for row in rows if not self._restricted(row.dev_eui)]
        return rows

    def device(self, dev_eui: str) -> DeviceRow | None:
        """One device, or None when it does not exist *or* the principal may not see it."""
        rows = self.devices(dev_eui=dev_eui)
        return rows[0] if rows else None

    def readings(
        self,
        dev_eui: str,
        quantity: str,
        start: datetime,
        end: datetime,
        limit: int,
        offset: int,
    ) -> list[tuple[datetime, float]]:
        """Raw values of one quantity, oldest first, one page."""
        measurement = FIELD_MEASUREMENT[quantity]
        series = self.query(
            f'SELECT "{quantity}" FROM "{measurement}" WHERE {PRIVACY_MARKER}'
            ' AND "dev_eui" = $dev_eui AND time >= $start AND time < $end'
            " ORDER BY time ASC LIMIT $limit OFFSET $offset",
            {
                "dev_eui": dev_eui,
                "start": time_ns(start),
                "end": time_ns(end),
                "limit": limit,
                "offset": offset,
            },
        )
        return [(ns_to_datetime(t), v) for s in series for t, v in s.values if v is not None]

    def latest(self, need: str, site: str | None = None) -> list[LatestRow]:
        """``_latest``, coalesced with identical asks (``api.cache``)."""
        return list(self.cached("latest", (need, site), lambda: self._latest(need, site)))

    def _latest(self, need: str, site: str | None = None) -> list[LatestRow]:
        """The newest reading of each device serving ``need`` (from device state): the fields
        of its newest point in the need's measurement."""
        since = time_ns(datetime.now(UTC) - self._max_range)
        rows = []
        for state in self._state_rows(NEED_MEASUREMENT[need], {"need": need, "site": site}):
            if state.point is None or state.point[0] < since:
                continue
            rows.append(
                LatestRow(
                    dev_eui=state.dev_eui,
                    model=state.model,
                    site=state.site,
                    privacy=state.privacy,
                    time=ns_to_datetime(state.point[0]),
                    values=state.point[1],
                )
            )
        return rows

    def aggregate(
        self,
        quantity: str,
        fn: AggregateFn,
        every: str,
        start: datetime,
        end: datetime,
        group_by: GroupBy,
        filters: dict[str, str | None],
    ) -> list[AggregateRow]:
        """``_aggregate``, coalesced with identical asks (``api.cache``)."""
        args = (quantity, fn, every, start, end, group_by, tuple(sorted(filters.items())))
        return list(
            self.cached(
                "aggregate",
                args,
                lambda: self._aggregate(quantity, fn, every, start, end, group_by, filters),
            )
        )

    def _aggregate(
        self,
        quantity: str,
        fn: AggregateFn,
        every: str,
        start: datetime,
        end: datetime,
        group_by: GroupBy,
        filters: dict[str, str | None],
    ) -> list[AggregateRow]:
        """``fn`` per ``every`` (re-checked by ``duration_literal``) and group, computed by
        InfluxDB: from rollups (``insights.rollups``) for the whole hours or days they hold
        and answer exactly, from raw points for the rest (``every`` not whole hours, quantiles
        other than public sites' hourly ones, the partial hours at either end). Results equal the
        raw answer (means within floating-point rounding: Σsum / Σcount)."""
        width = duration_ns(duration_literal(every))
        measurement = FIELD_MEASUREMENT[quantity]
        span = self._rolled_span(measurement, quantity, width, start, end)
        if span is None:
            return self._raw_aggregate(quantity, fn, every, start, end, group_by, filters)
        lo, hi, marks = span
        tag = _GROUP_TAG[group_by]
        if fn in _QUANTILE_STAT:
            level = self._quantile_level(group_by, filters, width)
            if level is None:
                return self._raw_aggregate(quantity, fn, every, start, end, group_by, filters)
            found = self._quantiles(measurement, quantity, fn, level, (lo, hi), tag, filters, marks)
            for a, b in ((time_ns(start), lo), (hi, time_ns(end))):
                if a < b:
                    self._quantile_edge(
                        measurement, quantity, fn, (a, b), group_by, filters, found, marks
                    )
            return [AggregateRow(group, sorted(points)) for group, points in sorted(found.items())]
        level = self._additive_level(group_by, filters, width)
        if level is None:
            return self._raw_aggregate(quantity, fn, every, start, end, group_by, filters)
        stats = _NEEDED[fn]
        middle = self._rolled_partials(
            measurement, quantity, every, (lo, hi), tag, filters, stats, level, marks
        )
        edges: _Partials = {}
        for edge_start, edge_end in ((time_ns(start), lo), (hi, time_ns(end))):
            if edge_start < edge_end:
                edge = (edge_start, edge_end)
                self._edge(measurement, quantity, every, edge, tag, filters, stats, edges, marks)
        moments: dict[int, datetime] = {}  # groups share their bucket times

        def moment(t: int) -> datetime:
            known = moments.get(t)
            if known is None:
                known = moments[t] = ns_to_datetime(t)
            return known

        rows = []
        for group in sorted(middle.keys() | edges.keys()):
            buckets = middle.get(group, {})
            extra = edges.get(group)
            if extra:
                # The cached rows are shared: merge the edges into a copy of those they touch.
                buckets = dict(buckets)
                for t, stat in extra.items():
                    held = buckets.get(t)
                    buckets[t] = stat if held is None else _combined(held, stat)
            rows.append(
                AggregateRow(
                    group,
                    [
                        (moment(t), _final(fn, merged))
                        for t, merged in sorted(buckets.items())
                        if merged[0] > 0
                    ],
                )
            )
        return rows

    def _quantiles(
        self,
        measurement: str,
        quantity: str,
        fn: AggregateFn,
        level: str,
        span: tuple[int, int],
        tag: str,
        filters: dict[str, str | None],
        marks: int,
    ) -> dict[str, list[tuple[datetime, float]]]:
        """``_rollup_quantiles`` over the whole hours ``span``, kept in the span cache (keyed by
        ``marks`` too: ``DeviceState.held``); a copy the caller may extend."""
        given = tuple(sorted(filters.items()))
        rolled: dict[str, list[tuple[datetime, float]]] = self.cached(
            "rollup quantiles",
            (measurement, quantity, fn, level, span, tag, given, marks),
            lambda: self._rollup_quantiles(
                measurement, quantity, fn, level, span[0], span[1], tag, filters
            ),
            span=True,
        )
        return {group: list(points) for group, points in rolled.items()}

    def _rolled_partials(
        self,
        measurement: str,
        quantity: str,
        every: str,
        span: tuple[int, int],
        tag: str,
        filters: dict[str, str | None],
        stats: tuple[str, ...],
        level: str,
        marks: int,
    ) -> _Partials:
        """``stats`` per bucket and group over the whole hours ``span`` the rollups hold: daily
        rows for the whole days of day-wide buckets, hourly rows for the rest. Kept in the
        span cache (keyed by ``marks`` too: ``DeviceState.held``) and shared: never modified."""
        given = tuple(sorted(filters.items()))
        partials: _Partials = self.cached(
            "rollup rows",
            (measurement, quantity, every, span, tag, given, stats, level, marks),
            lambda: self._read_rolled(
                measurement, quantity, every, span, tag, filters, stats, level
            ),
            span=True,
        )
        return partials

    def _read_rolled(
        self,
        measurement: str,
        quantity: str,
        every: str,
        span: tuple[int, int],
        tag: str,
        filters: dict[str, str | None],
        stats: tuple[str, ...],
        level: str,
    ) -> _Partials:
        lo, hi = span
        width = duration_ns(duration_literal(every))
        day_lo, day_hi = -(-lo // DAY_NS) * DAY_NS, hi // DAY_NS * DAY_NS
        spans: list[tuple[int, int, dict[str, str]]] = [(lo, hi, ROLLUP_HOURLY)]
        if width % DAY_NS == 0 and day_lo < day_hi:
            spans = [
                (lo, day_lo, ROLLUP_HOURLY),
                (day_lo, day_hi, ROLLUP_DAILY),
                (day_hi, hi, ROLLUP_HOURLY),
            ]
        partials: _Partials = {}
        for span_start, span_end, table in spans:
            if span_start < span_end:
                # Buckets as wide as the rollup's rows: read the rows, nothing to aggregate.
                rows = width == (DAY_NS if table is ROLLUP_DAILY else HOUR_NS)
                self._partials(
                    table[measurement],
                    quantity,
                    every,
                    (span_start, span_end),
                    tag,
                    filters,
                    stats,
                    partials,
                    level,
                    rows,
                )
        return partials

    def _hour_points(
        self,
        measurement: str,
        quantity: str,
        hour: int,
        tag: str,
        filters: dict[str, str | None],
        marks: int,
    ) -> _HourPoints:
        """``quantity``'s raw values per group in the hour from ``hour`` (ns). The partial
        hours at an aggregate's ends are cut from these, so requests whose ranges differ by
        less than an hour share one read: InfluxDB 1.x's cost is opening a cursor per series,
        however few points each holds. Kept like answers (2 s) while the hour is still
        being written or may still get late uplinks, like rollup rows (``SPAN_TTL``, keyed by
        ``marks`` too: an erasure's points are not served after it) once it is over."""

        def read() -> _HourPoints:
            where, params = _filters(filters)
            params.update(a=hour, b=hour + HOUR_NS)
            series = self.query(
                f"SELECT {quote_ident(quantity)} FROM {quote_ident(measurement)}"
                f' WHERE {PRIVACY_MARKER} AND time >= $a AND time < $b{where} GROUP BY "{tag}"',
                params,
            )
            found: _HourPoints = {}
            for s in series:
                pairs = [
                    (t, v)
                    for t, v in s.values
                    if isinstance(v, int | float) and not isinstance(v, bool)
                ]
                if pairs:
                    times = np.fromiter((t for t, _ in pairs), np.int64, len(pairs))
                    values = np.fromiter((v for _, v in pairs), np.float64, len(pairs))
                    order = np.argsort(times, kind="stable")
                    found[s.tags.get(tag, "")] = (times[order], values[order])
            return found

        args = (measurement, quantity, hour, tag, tuple(sorted(filters.items())), marks)
        over = hour + HOUR_NS + _SETTLED_NS <= time.time_ns()
        points: _HourPoints = self.cached("hour points", args, read, span=over)
        return points

    def _cuts(
        self,
        measurement: str,
        quantity: str,
        partial: list[tuple[int, int]],
        tag: str,
        filters: dict[str, str | None],
        marks: int,
    ) -> Iterator[tuple[int, str, np.ndarray]]:
        """(hour, group, its values in [a, b)) of each partial hour [a, b), from
        ``_hour_points``."""
        for a, b in partial:
            hour = a - a % HOUR_NS
            for group, (times, values) in self._hour_points(
                measurement, quantity, hour, tag, filters, marks
            ).items():
                yield hour, group, values[np.searchsorted(times, a) : np.searchsorted(times, b)]

    @staticmethod
    def _edge_parts(span: tuple[int, int]) -> tuple[list[tuple[int, int]], tuple[int, int] | None]:
        """[a, b) as the partial hours at its ends (each within one hour) and the whole hours
        between them (None if there are none)."""
        a, b = span
        first, last = -(-a // HOUR_NS) * HOUR_NS, b // HOUR_NS * HOUR_NS
        if first > last:  # within one hour
            return [(a, b)], None
        partial = [(x, y) for x, y in ((a, first), (last, b)) if x < y]
        return partial, ((first, last) if first < last else None)

    def _edge(
        self,
        measurement: str,
        quantity: str,
        every: str,
        span: tuple[int, int],
        tag: str,
        filters: dict[str, str | None],
        stats: tuple[str, ...],
        into: _Partials,
        marks: int,
    ) -> None:
        """``_partials`` of raw points over ``span``: the partial hours from ``_hour_points``,
        whole hours (the rollups not there yet) from InfluxDB."""
        width = duration_ns(duration_literal(every))
        partial, whole = self._edge_parts(span)
        if whole is not None:
            self._partials(measurement, quantity, every, whole, tag, filters, stats, into)
        for hour, group, cut in self._cuts(measurement, quantity, partial, tag, filters, marks):
            if not len(cut):
                continue
            bucket = hour - hour % width  # buckets are whole hours: the hour is in one
            stat = [float(len(cut)), float(cut.sum()), float(cut.min()), float(cut.max())]
            buckets = into.setdefault(group, {})
            held = buckets.get(bucket)
            buckets[bucket] = stat if held is None else _combined(held, stat)

    def _quantile_edge(
        self,
        measurement: str,
        quantity: str,
        fn: AggregateFn,
        span: tuple[int, int],
        group_by: GroupBy,
        filters: dict[str, str | None],
        into: dict[str, list[tuple[datetime, float]]],
        marks: int,
    ) -> None:
        """Hourly ``fn`` of raw points over ``span``: partial hours from ``_hour_points``
        (InfluxDB's own definitions, ``storage.stats.quantile``), whole hours from InfluxDB."""
        tag = _GROUP_TAG[group_by]
        partial, whole = self._edge_parts(span)
        if whole is not None:
            first, last = (ns_to_datetime(t) for t in whole)
            for row in self._raw_aggregate(quantity, fn, "1h", first, last, group_by, filters):
                into.setdefault(row.group, []).extend(row.points)
        for hour, group, cut in self._cuts(measurement, quantity, partial, tag, filters, marks):
            value = quantile(fn, cut)
            if value is not None:
                into.setdefault(group, []).append((ns_to_datetime(hour), value))

    def _additive_level(
        self, group_by: GroupBy, filters: dict[str, str | None], width: int
    ) -> str | None:
        """The rollup level that answers a count, sum, min or max cheaper than raw points, or
        None. InfluxDB 1.x's cost is per series and bucket more than per point: a site's rows
        (one series per site) beat raw points for any whole-hour buckets; devices' rows when
        they are read as they are (hourly buckets by device) or merged into whole days."""
        if (
            group_by == "site"
            and not self.principal.sees_home
            and not (self._inclusion or self._nothing)
            and all(filters.get(tag) is None for tag in filters if tag != "site")
        ):
            return LEVEL_SITE  # public devices only, as the rollups at this level
        if width % DAY_NS == 0 or (group_by == "device" and width == HOUR_NS):
            return LEVEL_DEVICE
        return None

    def _rolled_span(
        self, measurement: str, quantity: str, width: int, start: datetime, end: datetime
    ) -> tuple[int, int, int] | None:
        """(lo, hi, marks): [lo, hi) the whole hours of [start, end) the rollups hold, when
        rollups can answer, and the measurement's marks so far (``DeviceState.held``)."""
        if self._state is None or width % HOUR_NS or quantity not in rollup_fields(measurement):
            return None
        rolled, marks = self._state.held(measurement)
        if rolled is None:
            return None
        lo = max(-(-time_ns(start) // HOUR_NS) * HOUR_NS, rolled[0])
        hi = min(time_ns(end) // HOUR_NS * HOUR_NS, rolled[1])
        return (lo, hi, marks) if lo < hi else None

    def _quantile_level(
        self, group_by: GroupBy, filters: dict[str, str | None], width: int
    ) -> str | None:
        """The rollup level whose hourly quantiles are exactly the answer, or None (raw)."""
        if width != HOUR_NS or group_by != "site" or self.principal.sees_home:
            return None  # only public sites' hourly quantiles are kept
        if any(filters.get(tag) is not None for tag in filters if tag != "site"):
            return None  # site rollups are of all a site's devices
        if self._inclusion or self._nothing:
            return None  # a device the registry marks home is in the public site rollups
        return LEVEL_SITE

    def _rollup_quantiles(
        self,
        measurement: str,
        quantity: str,
        fn: AggregateFn,
        level: str,
        lo: int,
        hi: int,
        tag: str,
        filters: dict[str, str | None],
    ) -> dict[str, list[tuple[datetime, float]]]:
        where, params = _filters(filters)
        params.update(lo=lo, hi=hi, level=level)
        column = quote_ident(rollup_field(quantity, _QUANTILE_STAT[fn]))
        series = self.query(
            f"SELECT {column} AS value FROM {quote_ident(ROLLUP_HOURLY[measurement])}"
            f' WHERE {PRIVACY_MARKER} AND "{LEVEL_TAG}" = $level AND time >= $lo AND time < $hi'
            f'{where} GROUP BY "{tag}"',
            params,
        )
        found: dict[str, list[tuple[datetime, float]]] = {}
        for s in series:
            found.setdefault(s.tags.get(tag, ""), []).extend(
                (ns_to_datetime(t), float(v)) for t, v in s.values if v is not None
            )
        return found

    def _partials(
        self,
        measurement: str,
        quantity: str,
        every: str,
        span: tuple[int, int],
        tag: str,
        filters: dict[str, str | None],
        stats: tuple[str, ...],
        into: _Partials,
        level: str | None = None,
        rows: bool = False,
    ) -> None:
        """``stats`` (count first) per bucket and group over ``span`` [a, b) in ns, of raw
        points (``level`` None) or of rollups at ``level`` (``rows``: each rollup row is a
        bucket, read as is: InfluxDB 1.x costs per series and window, so aggregating rows
        one per window costs more than reading them), merged into ``into`` as
        [count, sum, min, max]."""
        where, params = _filters(filters)
        params.update(a=span[0], b=span[1])
        grouping = f'GROUP BY time({duration_literal(every)}), "{tag}" fill(none)'
        if level is not None:
            params["level"] = level
            where += f' AND "{LEVEL_TAG}" = $level'
            names = [quote_ident(rollup_field(quantity, stat)) for stat in stats]
            if rows:
                columns = ", ".join(names)
                grouping = f'GROUP BY "{tag}"'
            else:
                columns = ", ".join(
                    f"{_MERGE[stat]}({name})" for stat, name in zip(stats, names, strict=True)
                )
        else:
            columns = ", ".join(f"{_MERGE_RAW[stat]}({quote_ident(quantity)})" for stat in stats)
        series = self.query(
            f"SELECT {columns} FROM {quote_ident(measurement)} WHERE {PRIVACY_MARKER}"
            f" AND time >= $a AND time < $b{where} {grouping}",
            params,
        )
        slots = [ROLLUP_ADDITIVE.index(stat) for stat in stats]
        for s in series:
            buckets = into.setdefault(s.tags.get(tag, ""), {})
            for row in s.values:
                if not row[1]:
                    continue
                known = buckets.get(row[0])
                if known is None:
                    known = buckets[row[0]] = [0.0, 0.0, math.inf, -math.inf]
                for slot, value in zip(slots, row[1:], strict=True):
                    if value is None:
                        continue
                    if slot < 2:
                        known[slot] += value
                    elif slot == 2:
                        known[2] = min(known[2], value)
                    else:
                        known[3] = max(known[3], value)

    def _raw_aggregate(
        self,
        quantity: str,
        fn: AggregateFn,
        every: str,
        start: datetime,
        end: datetime,
        group_by: GroupBy,
        filters: dict[str, str | None],
    ) -> list[AggregateRow]:
        measurement = FIELD_MEASUREMENT[quantity]
        where, params = _filters(filters)
        params.update(start=time_ns(start), end=time_ns(end))
        tag = _GROUP_TAG[group_by]
        series = self.query(
            f'SELECT {_FN_SQL[fn].format(f=quantity)} AS value FROM "{measurement}"'
            f" WHERE {PRIVACY_MARKER} AND time >= $start AND time < $end{where}"
            f' GROUP BY time({duration_literal(every)}), "{tag}" fill(none)',
            params,
        )
        return sorted(
            (
                AggregateRow(
                    group=s.tags.get(tag, ""),
                    points=[(ns_to_datetime(t), float(v)) for t, v in s.values if v is not None],
                )
                for s in series
            ),
            key=lambda row: row.group,
        )


def span_size(value: Any) -> int:
    """Buckets (rollup rows, quantiles) or raw points a span-cache answer holds: its cost in
    ``api.cache.Coalescer`` (``SPAN_BUCKETS``)."""
    return sum(len(item[0]) if isinstance(item, tuple) else len(item) for item in value.values())


def _combined(a: list[float], b: list[float]) -> list[float]:
    """Two buckets' [count, sum, min, max] as one."""
    return [a[0] + b[0], a[1] + b[1], min(a[2], b[2]), max(a[3], b[3])]


def _final(fn: AggregateFn, stats: list[float]) -> float:
    count, total, low, high = stats
    if fn == "mean":
        return total / count
    if fn == "count":
        return count
    return low if fn == "min" else high


__all__: Sequence[str] = [
    "AggregateFn",
    "GroupBy",
    "Principal",
    "PublicDevices",
    "ScopedReadings",
    "parse_duration",
    "span_size",
]
