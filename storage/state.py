"""Device state: each device's newest value per measurement field, kept as the bridge writes.

"Which devices exist, when were they last heard, what did they last say" is
asked on every ``/v1/devices`` and ``/v1/latest``. Answered from InfluxDB it
costs one cursor per series × field × shard of the lookback (InfluxDB 1.x), so
it grows with retention, not with the question. Here it is a table in the
SQLite registry (``device_state``, migration step 2 of ``storage.registry``),
with the device's tags at the time of each row:

- per DevEUI × reading measurement, the newest point's numeric fields (what
  ``SELECT * … ORDER BY time DESC LIMIT 1`` gives: ``/v1/latest``);
- per DevEUI, the newest uplink point that has ``f_cnt`` (a live uplink: its time
  is "last seen", with its ``rssi``/``snr``), and per battery field its newest
  value (``last()``: a device may report its battery only now and then, or in a
  history frame).

One row per point, not per field, keeps ``commit`` cheap on the bridge's path.
Home devices' rows are personal data; only the housing-scoped API paths read
them, exactly like the raw series.

The bridge calls ``observe`` for the points of every batch InfluxDB accepted,
``commit`` at least once a second, and ``commit(rows=False)`` (the touched hours)
before the acknowledgements of a batch holding late points
(``gateway_bridge.service.StateKeeper``): a state row
never describes a point InfluxDB does not hold, and a crash before a commit
leaves state up to a second behind, which the next uplink of each device mends
(``leedswin migrate device-state`` re-derives it from the raw data at any time).
Several bridge workers may commit concurrently: the upsert keeps the newest
time in SQL (``WHERE excluded.time_ns >= time_ns``, fields of points at the
same time merged as InfluxDB merges them), so the order of commits does not
matter, and a replayed or late point never overwrites newer state.

What the rollup job (``insights.rollups``) must recompute is kept here too:

- ``rollup_touched`` (migration step 3): per measurement, the hours (``t - t % 1 h``)
  of the points written since the job last claimed them. ``observe`` collects them
  and ``commit`` folds them in; live data touch the current hour or two, a late
  history frame or a gateway's backlog the hours it holds, and only those are
  recomputed (a two-week-old point costs its hour and its day, not two weeks).
- ``rollup_watermark``: per measurement, a time from which every hour is to be
  recomputed (``mark``: erasure, reclassification), which also ends the span the
  rollups hold (``rollup_progress``) there, so the API answers from raw points
  until the job has recomputed them.

``claim_touched`` takes both at once; ``give_back`` returns them when a run fails.
"""

from __future__ import annotations

import math
import re
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import groupby
from typing import Any, Final, Protocol

import orjson

from core.errors import QueryError
from storage.points import Point
from storage.query import HOUR_NS, Series, quote_ident
from storage.registry import Registry
from storage.schema import PRIVACY_PUBLIC, READING_MEASUREMENTS, TAG_KEYS, UPLINK

__all__ = [
    "HOUR_NS",
    "LAST_SEEN_FIELD",
    "POINT",
    "STATE_MEASUREMENTS",
    "DeviceState",
    "FieldState",
    "StateRow",
    "Touched",
    "rows_from_raw",
]

#: The measurements state follows: readings (``/v1/latest``) and uplinks (last seen, link).
STATE_MEASUREMENTS: Final = (*READING_MEASUREMENTS, UPLINK)
#: The uplink field that makes a point a live uplink, whose time is "last seen": history-frame
#: battery points carry no ``f_cnt``, so they do not count as being heard.
LAST_SEEN_FIELD: Final = "f_cnt"
#: ``field`` of the row holding a measurement's newest point (all its numeric fields).
POINT: Final = ""
#: Uplink fields kept one by one (newest value each), besides the newest live uplink.
BATTERY_FIELDS: Final = ("battery_percent", "battery_voltage")

_TAG_CACHE: Final = 1 << 16
_UPSERT: Final = (
    "INSERT INTO device_state"
    " (dev_eui, measurement, field, time_ns, fields, model, site, privacy, need)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (dev_eui, measurement, field) DO UPDATE SET"
    " fields = CASE WHEN excluded.time_ns = device_state.time_ns"
    " THEN json_patch(device_state.fields, excluded.fields) ELSE excluded.fields END,"
    " time_ns = excluded.time_ns, model = excluded.model, site = excluded.site,"
    " privacy = excluded.privacy, need = excluded.need"
    " WHERE excluded.time_ns >= device_state.time_ns"
)
_WATERMARK: Final = (
    "INSERT INTO rollup_watermark (measurement, earliest_ns) VALUES (?, ?)"
    " ON CONFLICT (measurement) DO UPDATE SET"
    " earliest_ns = min(earliest_ns, excluded.earliest_ns)"
)
_TOUCH: Final = "INSERT OR IGNORE INTO rollup_touched (measurement, hour_ns) VALUES (?, ?)"


@dataclass(frozen=True, slots=True)
class Touched:
    """What the rollup job claimed (``DeviceState.claim_touched``), per measurement."""

    #: Start (ns, whole hours) of each hour written since the last claim.
    hours: dict[str, frozenset[int]]
    #: The hour (ns) from which on everything is to be recomputed (``DeviceState.mark``).
    since: dict[str, int]

    def only(self, measurements: Iterable[str]) -> Touched:
        """The part of the claim about ``measurements``."""
        keep = frozenset(measurements)
        return Touched(
            {m: h for m, h in self.hours.items() if m in keep},
            {m: t for m, t in self.since.items() if m in keep},
        )


@dataclass(frozen=True, slots=True)
class FieldState:
    """One stored row: the newest point (``field`` = ``POINT``) or battery field of a device in
    a measurement, its numeric values, and the tags of the point it came from."""

    dev_eui: str
    measurement: str
    field: str
    time_ns: int
    values: tuple[tuple[str, float], ...]
    model: str
    site: str
    privacy: str
    need: str


@dataclass(frozen=True, slots=True)
class StateRow:
    """One device's state in one measurement (tags of its newest row)."""

    dev_eui: str
    model: str
    site: str
    privacy: str
    need: str
    #: The newest point: (time_ns, its numeric fields); None when there is none (an uplink
    #: measurement with only history-frame battery points).
    point: tuple[int, dict[str, float]] | None
    #: Per battery field: (time_ns, value) of its newest value.
    fields: dict[str, tuple[int, float]]


def _number(value: object) -> float | None:
    """A field value as a float (bools and ints too), None for strings and non-finite ones."""
    if isinstance(value, int | float):
        number = float(value)
        return number if math.isfinite(number) else None
    return None


def _numeric(fields: dict[str, Any]) -> dict[str, float]:
    out = {}
    for name, raw in fields.items():
        value = _number(raw)
        if value is not None:
            out[name] = value
    return out


#: A line-protocol line's measurement: ours are plain names (no escapes).
_LINE_MEASUREMENT: Final = re.compile(rb"[A-Za-z0-9_]+(?=[, ])")


class DeviceState:
    """The ``device_state`` table of one registry, and the observations not yet committed.

    ``observe`` and ``commit`` may be called from any thread (a lock guards the
    pending observations); ``commit`` writes in one transaction on the calling
    thread's connection (``Registry``'s rule). One object per process is enough.
    """

    def __init__(self, registry: Registry) -> None:
        self._registry = registry
        self._lock = threading.Lock()
        self._thread = threading.local()
        #: (dev_eui, measurement, field) -> [time_ns, fields, (model, site, privacy, need)].
        self._pending: dict[tuple[str, str, str], list[Any]] = {}
        #: measurement -> [start, end of the hour last added, starts of the hours observed
        #: since the last commit]: most points fall in the hour before them, a range check.
        self._hours: dict[str, list[Any]] = {}
        self._tags: dict[tuple[tuple[str, str], ...], tuple[str, tuple[str, ...]] | None] = {}

    # -- writing -------------------------------------------------------------------------

    def _device(self, tags: tuple[tuple[str, str], ...]) -> tuple[str, tuple[str, ...]] | None:
        """(dev_eui, (model, site, privacy, need)) of a tag set, remembered: a fleet repeats a
        few thousand tag sets, and this is on the bridge's path."""
        known = self._tags.get(tags, False)
        if known is not False:
            return known  # type: ignore[return-value]
        named = dict(tags)
        dev_eui = named.get("dev_eui")
        found = (
            (dev_eui, tuple(named.get(k, "") for k in ("model", "site", "privacy", "need")))
            if dev_eui
            else None
        )
        if len(self._tags) > _TAG_CACHE:
            self._tags.clear()
        self._tags[tags] = found
        return found

    def observe(self, points: Iterable[Point]) -> None:
        """Remember, per device, the newest point of each state measurement (of ``uplink``:
        the newest with ``f_cnt``) and the newest value of each battery field, and per
        measurement the hours written. Points without a ``dev_eui`` are skipped. In
        memory, about a microsecond a point; values are checked at ``commit``."""
        with self._lock:
            pending = self._pending
            hours = self._hours
            known_tags = self._tags
            # Inlined ``_keep`` and ``_device`` lookups: this loop runs for every point the
            # bridge stores (py-spy: the function calls were half of its cost).
            for measurement, tags, fields, t in points:
                if measurement not in STATE_MEASUREMENTS:
                    continue
                device = known_tags.get(tags, False)
                if device is False:
                    device = self._device(tags)
                if device is None:
                    continue
                dev_eui, meta = device  # type: ignore[misc]
                seen = hours.get(measurement)
                if seen is None or not seen[0] <= t < seen[1]:
                    hour = t - t % HOUR_NS
                    if seen is None:
                        hours[measurement] = [hour, hour + HOUR_NS, {hour}]
                    else:
                        seen[0], seen[1] = hour, hour + HOUR_NS
                        seen[2].add(hour)
                if measurement == UPLINK:
                    for name in BATTERY_FIELDS:
                        if name in fields:
                            _keep(
                                pending, (dev_eui, measurement, name), t, {name: fields[name]}, meta
                            )
                    if LAST_SEEN_FIELD not in fields:
                        continue
                key = (dev_eui, measurement, POINT)
                held = pending.get(key)
                if held is None or t > held[0]:
                    pending[key] = [t, fields, meta]
                elif t == held[0]:  # points of one series at one time are one row in InfluxDB
                    held[1] = {**held[1], **fields}

    def commit(self, *, rows: bool = True) -> None:
        """Upsert everything observed since the last commit (newest time wins, in SQL too) and
        add the hours written to ``rollup_touched``, in one transaction. On failure the
        observations stay pending for the next commit. ``rows=False``: the hours only
        (a few rows), the devices' rows left for the next full commit."""
        with self._lock:
            pending: dict[tuple[str, str, str], list[Any]] = {}
            if rows:
                pending, self._pending = self._pending, {}
            hours = {m: seen[2] for m, seen in self._hours.items()}
            self._hours = {}
        if not pending and not hours:
            return
        if not getattr(self._thread, "tuned", False):
            # This thread's connection: no fsync per commit. WAL stays consistent on a crash;
            # a power cut may lose the last commits, which state can afford (the next uplink,
            # or ``leedswin migrate device-state``, mends it). FULL cost the bridge's writer
            # thread a disk flush per commit (measured when it committed every batch: 14 % fewer
            # uplinks/s in bench.e2e).
            self._registry.execute("PRAGMA synchronous=NORMAL")
            self._thread.tuned = True
        upserts = []
        for (dev_eui, measurement, name), (t, fields, meta) in pending.items():
            values = _numeric(fields)
            if values:
                upserts.append(
                    (dev_eui, measurement, name, t, orjson.dumps(values).decode(), *meta)
                )
        try:
            with self._registry.transaction() as conn:
                conn.executemany(_UPSERT, upserts)
                conn.executemany(_TOUCH, [(m, h) for m, hs in hours.items() for h in hs])
        except BaseException:
            with self._lock:
                for key, (t, fields, meta) in pending.items():
                    _keep(self._pending, key, t, fields, meta)
                for measurement, hs in hours.items():
                    seen = self._hours.setdefault(measurement, [0, 0, set()])
                    seen[2].update(hs)
            raise

    def forget(self, dev_eui: str, start_ns: int | None = None, end_ns: int | None = None) -> int:
        """Drop ``dev_eui``'s rows (only those whose time is in [start_ns, end_ns) when given):
        erasure of personal data. Returns how many rows went."""
        sql = "DELETE FROM device_state WHERE dev_eui = ?"
        args: list[object] = [dev_eui]
        if start_ns is not None:
            sql += " AND time_ns >= ?"
            args.append(start_ns)
        if end_ns is not None:
            sql += " AND time_ns < ?"
            args.append(end_ns)
        return int(self._registry.execute(sql, args).rowcount)

    def reclassify(self, dev_eui: str, privacy: str) -> int:
        """Give ``dev_eui``'s rows the new ``privacy`` (its history moved database). Rows."""
        return int(
            self._registry.execute(
                "UPDATE device_state SET privacy = ? WHERE dev_eui = ?", (privacy, dev_eui)
            ).rowcount
        )

    def mark(self, measurement: str, earliest_ns: int) -> None:
        """Tell the rollup job that ``measurement`` changed from ``earliest_ns`` on (erasure,
        reclassification): every hour from there is recomputed on its next run, and until
        then the span the rollups hold ends at that hour, so the API answers from raw points
        there instead of from stale (or deleted) rollups. Kept as one "from here on" time
        (``rollup_watermark``), not as every hour up to now: a year back would be 8,760 rows,
        and hours written after the mark are the run's own window anyway."""
        hour = earliest_ns - earliest_ns % HOUR_NS
        with self._registry.transaction() as conn:
            conn.execute(_WATERMARK, (measurement, earliest_ns))
            conn.execute(
                "INSERT INTO rollup_marks VALUES (?, 1)"
                " ON CONFLICT (measurement) DO UPDATE SET marks = marks + 1",
                (measurement,),
            )
            conn.execute(
                "UPDATE rollup_progress SET until_ns = ? WHERE measurement = ? AND until_ns > ?",
                (hour, measurement, hour),
            )
            conn.execute(
                "DELETE FROM rollup_progress WHERE measurement = ? AND until_ns <= from_ns",
                (measurement,),
            )

    def mark_replayed(self, body: bytes) -> None:
        """Line protocol that reached InfluxDB from the bridge's spool, long after it was
        observed: the rollup job may have computed those hours meanwhile without its points,
        so the hours of its lines are touched again. The held span stays: until the next run
        those hours answer as any hour with late points does (from rollups a run old)."""
        hours: set[tuple[str, int]] = set()
        for line in body.split(b"\n"):
            measurement = _LINE_MEASUREMENT.match(line)
            stamp = line.rpartition(b" ")[2]
            if measurement is None or not stamp.isdigit():
                continue
            name = measurement.group().decode()
            if name in STATE_MEASUREMENTS:
                t = int(stamp)
                hours.add((name, t - t % HOUR_NS))
        if hours:
            with self._registry.transaction() as conn:
                conn.executemany(_TOUCH, sorted(hours))

    def replace(self, rows: Iterable[FieldState], dev_euis: Iterable[str] | None = None) -> int:
        """Replace the state of ``dev_euis`` (every device when None) by ``rows`` in one
        transaction: the rebuild from raw data. Returns the rows written."""
        rows = list(rows)
        with self._registry.transaction() as conn:
            if dev_euis is None:
                conn.execute("DELETE FROM device_state")
            else:
                conn.executemany(
                    "DELETE FROM device_state WHERE dev_eui = ?", [(d,) for d in dev_euis]
                )
            conn.executemany(
                _UPSERT,
                [
                    (
                        f.dev_eui,
                        f.measurement,
                        f.field,
                        f.time_ns,
                        orjson.dumps(dict(f.values)).decode(),
                        f.model,
                        f.site,
                        f.privacy,
                        f.need,
                    )
                    for f in rows
                ],
            )
        return len(rows)

    # -- for the rollup job ----------------------------------------------------------------

    def claim_touched(self) -> Touched:
        """Take (read and clear, atomically) the hours written per measurement since the last
        claim, and the times marked (``mark``, floored to the hour). Hours committed
        afterwards are kept for the next claim, so nothing is missed between the claim and
        the job's reads; hand the claim to ``give_back`` if the job fails."""
        with self._registry.transaction() as conn:
            touched = conn.execute("SELECT measurement, hour_ns FROM rollup_touched").fetchall()
            marked = conn.execute(
                "SELECT measurement, earliest_ns FROM rollup_watermark"
            ).fetchall()
            conn.execute("DELETE FROM rollup_touched")
            conn.execute("DELETE FROM rollup_watermark")
        hours: dict[str, set[int]] = {}
        for measurement, hour in touched:
            hours.setdefault(measurement, set()).add(int(hour))
        return Touched(
            {m: frozenset(h) for m, h in hours.items()},
            {m: int(t) - int(t) % HOUR_NS for m, t in marked},
        )

    def give_back(self, claim: Touched) -> None:
        """Return a claim the rollup job could not finish, merged with what arrived since.
        The held span is left as it is: the run recorded nothing for these measurements."""
        if not claim.hours and not claim.since:
            return
        with self._registry.transaction() as conn:
            conn.executemany(_WATERMARK, list(claim.since.items()))
            conn.executemany(_TOUCH, [(m, h) for m, hs in claim.hours.items() for h in hs])

    def held(self, measurement: str) -> tuple[tuple[int, int] | None, int]:
        """``rolled`` and how many marks ``measurement`` has had (erasure, reclassification),
        in one read: a reader that keeps rollups or raw points keys them by both, so nothing
        it read before a mark is served after it (the span alone may grow back the same)."""
        row = self._registry.execute(
            "SELECT p.from_ns, p.until_ns, m.marks FROM (SELECT ? AS measurement) AS q"
            " LEFT JOIN rollup_progress AS p ON p.measurement = q.measurement"
            " LEFT JOIN rollup_marks AS m ON m.measurement = q.measurement",
            (measurement,),
        ).fetchone()
        span = (int(row[0]), int(row[1])) if row[0] is not None else None
        return span, int(row[2] or 0)

    def rolled(self, measurement: str) -> tuple[int, int] | None:
        """[from_ns, until_ns): the whole hours the rollups of ``measurement`` hold, or None."""
        return self.held(measurement)[0]

    def trim_rolled(self, measurement: str, from_ns: int) -> None:
        """The held span of ``measurement`` starts no earlier than ``from_ns``: the hours before
        it changed and will not be recomputed (older than the rollup job's lookback), so the
        API answers there from raw points."""
        with self._registry.transaction() as conn:
            conn.execute(
                "UPDATE rollup_progress SET from_ns = ? WHERE measurement = ? AND from_ns < ?",
                (from_ns, measurement, from_ns),
            )
            conn.execute(
                "DELETE FROM rollup_progress WHERE measurement = ? AND until_ns <= from_ns",
                (measurement,),
            )

    def record_rolled(self, measurement: str, from_ns: int, until_ns: int) -> None:
        """The rollup job computed [from_ns, until_ns): extend the span it holds when the two
        touch or overlap; otherwise the new span replaces it (rollups must be contiguous).
        Not past a mark made since the job's claim (an erasure or reclassification while it
        ran: it may have read the points being deleted); the next run recomputes from there."""
        with self._registry.transaction() as conn:
            marked = conn.execute(
                "SELECT earliest_ns FROM rollup_watermark WHERE measurement = ?", (measurement,)
            ).fetchone()
            if marked is not None:
                until_ns = min(until_ns, marked[0] - marked[0] % HOUR_NS)
                if until_ns <= from_ns:
                    return
            row = conn.execute(
                "SELECT from_ns, until_ns FROM rollup_progress WHERE measurement = ?",
                (measurement,),
            ).fetchone()
            if row is not None and from_ns <= row[1] and until_ns >= row[0]:
                from_ns, until_ns = min(from_ns, row[0]), max(until_ns, row[1])
            conn.execute(
                "INSERT OR REPLACE INTO rollup_progress VALUES (?, ?, ?)",
                (measurement, from_ns, until_ns),
            )

    # -- reading -------------------------------------------------------------------------

    def rows(
        self,
        measurement: str,
        *,
        sees_home: bool,
        filters: dict[str, str | None] | None = None,
        hidden: Iterable[str] = (),
    ) -> list[StateRow]:
        """Each device's state in ``measurement``, sorted by DevEUI, filtered by tag values
        (``dev_eui``, ``model``, ``site``, ``need``; None = any). Without ``sees_home`` only
        rows tagged public whose DevEUI is not in ``hidden`` (the registry says home)."""
        sql = "SELECT * FROM device_state WHERE measurement = ?"
        args: list[object] = [measurement]
        for tag, value in (filters or {}).items():
            if value is not None:
                if tag not in TAG_KEYS:
                    raise ValueError(f"not a tag: {tag}")
                sql += f" AND {tag} = ?"
                args.append(value)
        if not sees_home:
            sql += " AND privacy = ?"
            args.append(PRIVACY_PUBLIC)
        sql += " ORDER BY dev_eui"
        hidden = frozenset(hidden)
        return [
            row
            for row in _grouped(self._registry.execute(sql, args))
            if sees_home or row.dev_eui not in hidden
        ]

    def fields(self) -> list[FieldState]:
        """Every stored row (for comparisons and the rebuild's report)."""
        return [
            _field_state(r)
            for r in self._registry.execute(
                "SELECT * FROM device_state ORDER BY dev_eui, measurement, field"
            )
        ]


def _keep(
    pending: dict[tuple[str, str, str], list[Any]],
    key: tuple[str, str, str],
    t: int,
    fields: dict[str, Any],
    meta: tuple[str, ...],
) -> None:
    known = pending.get(key)
    if known is None or t > known[0]:
        pending[key] = [t, fields, meta]
    elif t == known[0]:  # points of one series at one time are one row in InfluxDB
        known[1] = {**known[1], **fields}


def _field_state(row: sqlite3.Row) -> FieldState:
    values = orjson.loads(row["fields"])
    return FieldState(
        row["dev_eui"],
        row["measurement"],
        row["field"],
        int(row["time_ns"]),
        tuple(sorted((k, float(v)) for k, v in values.items())),
        row["model"],
        row["site"],
        row["privacy"],
        row["need"],
    )


def _grouped(cursor: Iterable[sqlite3.Row]) -> Iterator[StateRow]:
    """Rows ordered by DevEUI -> one ``StateRow`` per device, with the tags of its newest row."""
    for dev_eui, group in groupby(cursor, key=lambda row: row["dev_eui"]):
        rows = [_field_state(row) for row in group]
        newest = max(rows, key=lambda row: row.time_ns)
        point = next((r for r in rows if r.field == POINT), None)
        yield StateRow(
            dev_eui,
            newest.model,
            newest.site,
            newest.privacy,
            newest.need,
            (point.time_ns, dict(point.values)) if point is not None else None,
            {r.field: (r.time_ns, r.values[0][1]) for r in rows if r.field != POINT and r.values},
        )


class _Runner(Protocol):
    def query(
        self, q: str, params: dict[str, Any] | None = None, *, database: str | None = None
    ) -> list[Series]: ...


def rows_from_raw(
    runner: _Runner, databases: Iterable[str], since_ns: int, dev_eui: str | None = None
) -> list[FieldState]:
    """State as the raw data give it since ``since_ns``: per device and measurement the newest
    row (of ``uplink``, the newest with ``f_cnt``) and ``last()`` of each battery field.
    ``runner``'s SELECTs read every database the state covers (``InfluxQL(settings)`` with
    ``include_home``); ``databases`` are asked whether the battery fields exist. For the
    rebuild and to prove agreement."""
    found: dict[tuple[str, str, str], FieldState] = {}
    where = "time >= $since" + (' AND "dev_eui" = $dev_eui' if dev_eui else "")
    params: dict[str, Any] = {"since": since_ns}
    if dev_eui:
        params["dev_eui"] = dev_eui
    group = ", ".join(quote_ident(tag) for tag in TAG_KEYS)

    def keep(measurement: str, name: str, s: Series, t: int, values: dict[str, float]) -> None:
        eui = s.tags.get("dev_eui")
        if not eui or not values:
            return
        key = (eui, measurement, name)
        if key not in found or t > found[key].time_ns:
            found[key] = FieldState(
                eui,
                measurement,
                name,
                t,
                tuple(sorted(values.items())),
                s.tags.get("model", ""),
                s.tags.get("site", ""),
                s.tags.get("privacy", ""),
                s.tags.get("need", ""),
            )

    for measurement in STATE_MEASUREMENTS:
        live = f' AND "{LAST_SEEN_FIELD}" >= 0' if measurement == UPLINK else ""
        for s in runner.query(
            f"SELECT * FROM {quote_ident(measurement)} WHERE {where}{live}"
            f" GROUP BY {group} ORDER BY time DESC LIMIT 1",
            params,
        ):
            row = dict(zip(s.columns, s.values[0], strict=True))
            t = int(row.pop("time"))
            keep(measurement, POINT, s, t, _numeric(row))
    present = _present(runner, UPLINK, databases)
    for name in BATTERY_FIELDS:
        if name not in present:
            continue
        for s in runner.query(
            f"SELECT last({quote_ident(name)}) FROM {quote_ident(UPLINK)}"
            f" WHERE {where} GROUP BY {group}",
            params,
        ):
            value = _number(s.values[0][1])
            if value is not None:
                keep(UPLINK, name, s, int(s.values[0][0]), {name: value})
    return sorted(found.values(), key=lambda f: (f.dev_eui, f.measurement, f.field))


def _present(runner: _Runner, measurement: str, databases: Iterable[str]) -> set[str]:
    """Field keys of ``measurement`` in any of ``databases``."""
    names: set[str] = set()
    for database in databases:
        try:
            keys = runner.query(
                f"SHOW FIELD KEYS FROM {quote_ident(measurement)}", database=database
            )
        except QueryError as exc:
            if "database not found" not in str(exc):
                raise
            continue
        names |= {row[0] for s in keys for row in s.values}
    return names
