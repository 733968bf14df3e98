"""Device state: each device's newest value per measurement field, kept as the bridge writes.

"Which devices exist, when were they last heard, what did they last say" is
asked on every ``/v1/devices`` and ``/v1/latest``. Answered from InfluxDB it
costs one cursor per series × field × shard of the lookback (InfluxDB 1.x), so
it grows with retention, not with the question. Here it is a table in the
SQLite registry (``device_state``, migration step 2 of ``storage.registry``),
one row per DevEUI × measurement × numeric field: the value at the newest time
written, with the device's tags at that time. Home devices' rows are personal
data; only the housing-scoped API paths read them, exactly like the raw series.

The bridge calls ``observe`` for the points of every batch InfluxDB accepted
and ``commit`` before the batch's MQTT acknowledgements: a state row never
describes a point InfluxDB does not hold, and a crash between the write and the
commit leaves state one batch behind, which the next uplink of each device
mends (``leedswin state rebuild`` re-derives it from the raw data at any time).
Several bridge workers may commit concurrently: the upsert keeps the newest
time in SQL (``WHERE excluded.time_ns > time_ns``), so the order of commits
does not matter, and a replayed or late point never overwrites newer state.

``observe`` also keeps, per measurement, the earliest point time written since
the last commit; ``commit`` folds it into ``rollup_watermark`` so the rollup
job (``insights.rollups``) knows which hours late or history data touched.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import groupby
from typing import Any, Final, Protocol

from core.errors import QueryError
from storage.points import Point
from storage.query import Series, quote_ident
from storage.registry import Registry
from storage.schema import PRIVACY_PUBLIC, READING_MEASUREMENTS, TAG_KEYS, UPLINK

__all__ = ["STATE_MEASUREMENTS", "DeviceState", "FieldState", "StateRow", "rows_from_raw"]

#: The measurements state follows: readings (``/v1/latest``) and uplinks (last seen, link).
STATE_MEASUREMENTS: Final = (*READING_MEASUREMENTS, UPLINK)
#: The uplink field whose time is a device's "last seen": history-frame battery points
#: carry no ``f_cnt``, so they do not count as being heard (as ``count("f_cnt")``).
LAST_SEEN_FIELD: Final = "f_cnt"

_UPSERT: Final = (
    "INSERT INTO device_state"
    " (dev_eui, measurement, field, time_ns, value, model, site, privacy, need)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (dev_eui, measurement, field) DO UPDATE SET"
    " time_ns = excluded.time_ns, value = excluded.value, model = excluded.model,"
    " site = excluded.site, privacy = excluded.privacy, need = excluded.need"
    " WHERE excluded.time_ns > device_state.time_ns"
)
_WATERMARK: Final = (
    "INSERT INTO rollup_watermark (measurement, earliest_ns) VALUES (?, ?)"
    " ON CONFLICT (measurement) DO UPDATE SET"
    " earliest_ns = min(earliest_ns, excluded.earliest_ns)"
)


@dataclass(frozen=True, slots=True)
class FieldState:
    """One stored row: a field's newest value and the tags of the point it came from."""

    dev_eui: str
    measurement: str
    field: str
    time_ns: int
    value: float
    model: str
    site: str
    privacy: str
    need: str


@dataclass(frozen=True, slots=True)
class StateRow:
    """One device's state in one measurement: the tags and the newest time and value per field."""

    dev_eui: str
    model: str
    site: str
    privacy: str
    need: str
    fields: dict[str, tuple[int, float]]

    @property
    def time_ns(self) -> int:
        """The newest time of any field."""
        return max(t for t, _ in self.fields.values())

    def newest(self) -> dict[str, float]:
        """The values of the newest point: fields written at the newest time (``SELECT *``'s
        newest row, since same-time points of one series are one row in InfluxDB)."""
        newest = self.time_ns
        return {name: v for name, (t, v) in self.fields.items() if t == newest}


def _number(value: object) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        number = float(value)
        return number if number == number and abs(number) != float("inf") else None
    return None


class DeviceState:
    """The ``device_state`` table of one registry, and the observations not yet committed.

    ``observe`` and ``commit`` may be called from any thread (a lock guards the
    pending observations); ``commit`` writes in one transaction on the calling
    thread's connection (``Registry``'s rule). One object per process is enough.
    """

    def __init__(self, registry: Registry) -> None:
        self._registry = registry
        self._lock = threading.Lock()
        self._pending: dict[tuple[str, str, str], FieldState] = {}
        self._earliest: dict[str, int] = {}

    # -- writing -------------------------------------------------------------------------

    def observe(self, points: Iterable[Point]) -> None:
        """Remember the newest value per DevEUI × measurement × numeric field of ``points``
        (points without a ``dev_eui`` tag or outside ``STATE_MEASUREMENTS`` are skipped, and
        so are string fields), and per measurement the earliest time seen. Cheap: a dict."""
        with self._lock:
            pending = self._pending
            earliest = self._earliest
            for point in points:
                measurement = point.measurement
                if measurement not in STATE_MEASUREMENTS:
                    continue
                tags = dict(point.tags)
                dev_eui = tags.get("dev_eui")
                if not dev_eui:
                    continue
                t = point.time_ns
                if t < earliest.get(measurement, t + 1):
                    earliest[measurement] = t
                for name, raw in point.fields.items():
                    value = _number(raw)
                    if value is None:
                        continue
                    key = (dev_eui, measurement, name)
                    known = pending.get(key)
                    if known is None or t > known.time_ns:
                        pending[key] = FieldState(
                            dev_eui,
                            measurement,
                            name,
                            t,
                            value,
                            tags.get("model", ""),
                            tags.get("site", ""),
                            tags.get("privacy", ""),
                            tags.get("need", ""),
                        )

    def commit(self) -> None:
        """Upsert everything observed since the last commit (newest time wins, in SQL too) and
        fold the earliest times into ``rollup_watermark``, in one transaction. On failure the
        observations stay pending for the next commit."""
        with self._lock:
            pending, self._pending = self._pending, {}
            earliest, self._earliest = self._earliest, {}
        if not pending and not earliest:
            return
        try:
            with self._registry.transaction() as conn:
                conn.executemany(
                    _UPSERT,
                    [
                        (
                            f.dev_eui,
                            f.measurement,
                            f.field,
                            f.time_ns,
                            f.value,
                            f.model,
                            f.site,
                            f.privacy,
                            f.need,
                        )
                        for f in pending.values()
                    ],
                )
                conn.executemany(_WATERMARK, list(earliest.items()))
        except BaseException:
            with self._lock:
                for key, state in pending.items():
                    known = self._pending.get(key)
                    if known is None or state.time_ns > known.time_ns:
                        self._pending[key] = state
                for measurement, t in earliest.items():
                    self._earliest[measurement] = min(t, self._earliest.get(measurement, t))
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
        reclassification, a rebuild): the hours from there are recomputed on its next run."""
        self._registry.execute(_WATERMARK, (measurement, earliest_ns))

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
                        f.value,
                        f.model,
                        f.site,
                        f.privacy,
                        f.need,
                    )
                    for f in rows
                ],
            )
        return len(rows)

    # -- rollup watermark ----------------------------------------------------------------

    def claim_watermark(self) -> dict[str, int]:
        """Take (read and clear, atomically) the earliest time written per measurement since
        the last claim. Writes committed afterwards start a new watermark, so nothing is
        missed between the claim and the job's reads; give it back with ``mark`` on failure."""
        with self._registry.transaction() as conn:
            rows = conn.execute("SELECT measurement, earliest_ns FROM rollup_watermark").fetchall()
            conn.execute("DELETE FROM rollup_watermark")
        return {row[0]: int(row[1]) for row in rows}

    def rolled(self, measurement: str) -> tuple[int, int] | None:
        """[from_ns, until_ns): the whole hours the rollups of ``measurement`` hold, or None."""
        row = self._registry.execute(
            "SELECT from_ns, until_ns FROM rollup_progress WHERE measurement = ?", (measurement,)
        ).fetchone()
        return (int(row[0]), int(row[1])) if row else None

    def record_rolled(self, measurement: str, from_ns: int, until_ns: int) -> None:
        """The rollup job computed [from_ns, until_ns): extend the span it holds when the two
        touch or overlap; otherwise the new span replaces it (rollups must be contiguous)."""
        with self._registry.transaction() as conn:
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
            FieldState(
                r["dev_eui"],
                r["measurement"],
                r["field"],
                int(r["time_ns"]),
                float(r["value"]),
                r["model"],
                r["site"],
                r["privacy"],
                r["need"],
            )
            for r in self._registry.execute(
                "SELECT * FROM device_state ORDER BY dev_eui, measurement, field"
            )
        ]


def _grouped(cursor: Iterable[sqlite3.Row]) -> Iterator[StateRow]:
    """Rows ordered by DevEUI -> one ``StateRow`` per device, with the tags of its newest row."""
    for dev_eui, group in groupby(cursor, key=lambda row: row["dev_eui"]):
        rows = list(group)
        newest = max(rows, key=lambda row: row["time_ns"])
        yield StateRow(
            dev_eui,
            newest["model"],
            newest["site"],
            newest["privacy"],
            newest["need"],
            {row["field"]: (int(row["time_ns"]), float(row["value"])) for row in rows},
        )


_NUMERIC_TYPES: Final = frozenset({"float", "integer", "boolean"})


class _Runner(Protocol):
    def query(
        self, q: str, params: dict[str, Any] | None = None, *, database: str | None = None
    ) -> list[Series]: ...


def _numeric_fields(runner: _Runner, measurement: str, databases: Iterable[str]) -> list[str]:
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
        names |= {row[0] for s in keys for row in s.values if row[1] in _NUMERIC_TYPES}
    return sorted(names)


def rows_from_raw(
    runner: _Runner, databases: Iterable[str], since_ns: int, dev_eui: str | None = None
) -> list[FieldState]:
    """State as the raw data give it: per measurement and numeric field, InfluxDB's ``last()``
    per device since ``since_ns``. ``runner``'s SELECTs read every database the state covers
    (``InfluxQL(settings)`` with ``include_home``); ``databases`` are asked for field keys
    (``settings.database`` and ``settings.home_db``). For the rebuild and to prove agreement."""
    databases = list(databases)
    found: dict[tuple[str, str, str], FieldState] = {}
    where = "time >= $since" + (' AND "dev_eui" = $dev_eui' if dev_eui else "")
    params: dict[str, Any] = {"since": since_ns}
    if dev_eui:
        params["dev_eui"] = dev_eui
    group = ", ".join(quote_ident(tag) for tag in TAG_KEYS)
    for measurement in STATE_MEASUREMENTS:
        for name in _numeric_fields(runner, measurement, databases):
            series = runner.query(
                f"SELECT last({quote_ident(name)}) FROM {quote_ident(measurement)}"
                f" WHERE {where} GROUP BY {group}",
                params,
            )
            for s in series:
                value = _number(s.values[0][1]) if s.values else None
                eui = s.tags.get("dev_eui")
                if value is None or not eui:
                    continue
                t = int(s.values[0][0])
                key = (eui, measurement, name)
                if key not in found or t > found[key].time_ns:
                    found[key] = FieldState(
                        eui,
                        measurement,
                        name,
                        t,
                        value,
                        s.tags.get("model", ""),
                        s.tags.get("site", ""),
                        s.tags.get("privacy", ""),
                        s.tags.get("need", ""),
                    )
    return sorted(found.values(), key=lambda f: (f.dev_eui, f.measurement, f.field))
