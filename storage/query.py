"""InfluxQL over ``/query``: the one query path that works on InfluxDB 1.x, 2.x (v1 compat) and 3.x.

User input never goes into query text. Values (tag values, time bounds,
numbers) are bound parameters: ``/query`` takes a ``params`` JSON object whose
members replace ``$name`` placeholders, and the server treats them as data
(checked on 1.6.7 for tag values in WHERE, integer-ns and RFC 3339 time bounds,
and SHOW TAG VALUES). What cannot be a parameter is checked instead:
identifiers come from the schema and go through ``quote_ident``, durations
through ``duration_literal``.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Literal

import httpx
import orjson

from core.errors import QueryError, QueryTimeoutError
from core.settings import InfluxSettings
from storage.http import InfluxHttp
from storage.schema import PRIVACY_PUBLIC

__all__ = [
    "DAY_NS",
    "HOUR_NS",
    "InfluxQL",
    "Series",
    "duration_literal",
    "duration_ns",
    "quote_ident",
    "spanning",
    "time_literal",
    "time_ns",
]

ParamValue = str | int | float

#: An hour and a day in ns: the steps of ``GROUP BY time(1h)``/``time(1d)`` buckets and rollups.
HOUR_NS: Final = 3_600_000_000_000
DAY_NS: Final = 24 * HOUR_NS

_READ_STATEMENTS = ("SELECT", "SHOW")
_DURATION = re.compile(r"[1-9][0-9]{0,8}(ms|s|m|h|d|w)")
_DURATION_NS = {
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
    "d": 86_400_000_000_000,
    "w": 604_800_000_000_000,
}
_PARAM_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True, slots=True)
class Series:
    """One series of a result: InfluxDB's ``{name, tags, columns, values}`` (time in epoch ns)."""

    name: str
    tags: dict[str, str]
    columns: list[str]
    values: list[list[Any]]

    def records(self) -> Iterator[dict[str, Any]]:
        """Rows as column -> value dicts (the tags are not repeated in them)."""
        columns = self.columns
        for row in self.values:
            yield dict(zip(columns, row, strict=True))


def quote_ident(name: str) -> str:
    """A double-quoted InfluxQL identifier (as influxql.QuoteIdent does).

    Quoting makes any name syntactically safe, but callers still pass only
    names they checked against storage/schema.py: which measurement or field
    is read is an authorisation question, not just a syntax one.
    """
    if not name:
        raise ValueError("empty InfluxQL identifier")
    escaped = name.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def duration_literal(text: str) -> str:
    """``text`` if it is a plain InfluxQL duration like ``15m``, ``1h``, ``7d``; else ValueError.

    Durations (GROUP BY time(…), ``now() - …``) cannot be bound parameters,
    so this strict whitelist is what stands between user text and the query.
    """
    if not isinstance(text, str) or not _DURATION.fullmatch(text):
        raise ValueError(
            f"not a duration: {text!r} (want a whole number and one of ms, s, m, h, d, w: 15m, 1h)"
        )
    return text


def duration_ns(text: str) -> int:
    """Nanoseconds in a duration accepted by ``duration_literal``."""
    unit = "ms" if duration_literal(text).endswith("ms") else text[-1]
    return int(text[: -len(unit)]) * _DURATION_NS[unit]


def time_ns(moment: datetime) -> int:
    """Epoch ns of an aware datetime: the form to bind a time bound as a parameter."""
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment.isoformat()}: give a timezone")
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000


def time_literal(moment: datetime) -> str:
    """A quoted RFC 3339 UTC time literal (``'2026-11-23T21:00:00.5Z'``) for query text.

    Safe to inline (built from a datetime, never from text); prefer binding
    ``time_ns(moment)`` as a parameter where the query is built at runtime.
    """
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment.isoformat()}: give a timezone")
    utc = moment.astimezone(UTC)
    text = utc.strftime("%Y-%m-%dT%H:%M:%S")
    if utc.microsecond:
        text += f".{utc.microsecond:06d}".rstrip("0")
    return f"'{text}Z'"


_SELECT_FROM = re.compile(
    r'\bFROM\s+(?:"((?:[^"\\]|\\.)+)"|([A-Za-z_][A-Za-z0-9_]*))(?![\w"]|\s*\.)', re.IGNORECASE
)


def _qualified(database: str, retention_policy: str | None, measurement: str) -> str:
    rp = quote_ident(retention_policy) if retention_policy else ""
    return f'{quote_ident(database)}.{rp}."{measurement}"'


def spanning(q: str, *databases: tuple[str, str | None]) -> str:
    """Each unqualified ``FROM "m"`` -> ``FROM "db1"."rp1"."m", "db2".."m"`` for (db, rp) given."""

    def every(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        return "FROM " + ", ".join(_qualified(db, rp, name) for db, rp in databases)

    return _SELECT_FROM.sub(every, q)


class InfluxQL(InfluxHttp):
    """A keep-alive client for ``/query`` (GET for SELECT/SHOW, POST for the rest).

    With ``include_home`` (the default) every ``SELECT … FROM "m"`` reads
    ``m`` from both the public and the home database: InfluxQL accepts fully
    qualified ``"db"."rp"."m"`` sources and merges same-named series across
    them (checked on 1.6.7: a mean over two databases is the mean of all their
    points), so callers write queries as if there were one database. Such a
    client needs credentials that can read both; public-facing readers use
    ``InfluxQL(settings.public(), include_home=False)``.

    When the home database has a server of its own (``home_url``), statements
    given ``database=<home database>`` go to that server, and an including
    ``SELECT`` runs on both servers and their series are put together
    (``merge_series``). The role accounts have the same names and passwords on
    both servers (``storage.provision``).
    """

    def __init__(self, settings: InfluxSettings, *, include_home: bool = True) -> None:
        super().__init__(settings, {"Accept": "application/json"})
        self._base: dict[str, str] = {"db": settings.database, "epoch": "ns", **self._auth}
        if settings.retention_policy:
            self._base["rp"] = settings.retention_policy
        self._include_home = include_home
        self._home: InfluxQL | None = None
        if settings.home_separate:
            self._home = InfluxQL(settings.home(), include_home=False)
        self._public_tags = PublicTags()

    def _spanning(self, q: str) -> str:
        settings = self.settings
        return spanning(
            q,
            (settings.database, settings.retention_policy),
            (settings.home_db, settings.home_retention_policy),
        )

    def query(
        self,
        q: str,
        params: Mapping[str, ParamValue] | None = None,
        *,
        database: str | None = None,
    ) -> list[Series]:
        """Every series of every statement in ``q``, ``$name`` placeholders bound from ``params``."""
        home_db = self.settings.home_db
        if self._home is not None and database == home_db:
            return self._home.query(q, params)
        if (
            self._include_home
            and database is None
            and q.lstrip()[:6].upper() == "SELECT"
            and _SELECT_FROM.search(q)
        ):
            if self._home is not None:
                concerns = self._concerns(q, params)
                if concerns == "home":
                    return self._home.query(q, params)
                if concerns == "public":
                    return self._run(q, params, None)
                public = self._run(q, params, None)
                try:
                    home = self._home.query(q, params)
                except QueryError as exc:
                    if f"database not found: {home_db}" not in str(exc):
                        raise
                    return public
                return merge_series(public, home, q)
            try:
                return self._run(self._spanning(q), params, None)
            except QueryError as exc:
                # No home data written yet (the writer creates the database on first use).
                if f"database not found: {home_db}" not in str(exc):
                    raise
        return self._run(q, params, database)

    def _concerns(
        self, q: str, params: Mapping[str, ParamValue] | None
    ) -> Literal["public", "home"] | None:
        """Which server alone a statement is about, from the tags it compares with values.

        ``"privacy" = 'public'`` or ``'home'`` decides it; a DevEUI or site the public
        database does not hold (asked with a statement naming none) is the home
        server's; otherwise None: both. So a housing question about one home or one
        home site never reaches the public server, where any user reads running queries.
        """
        bound = params or {}
        for tag, name, literal in _TAG_VALUE.findall(q):
            value = bound.get(name) if name else literal
            if not isinstance(value, str):
                continue
            if tag == "privacy":
                return "public" if value == PRIVACY_PUBLIC else "home"
            held = self._public_tags.get(
                lambda: self._run(PUBLIC_TAGS, None, None), want=(tag, value)
            )
            if value not in held.get(tag, ()):
                return "home"
        return None

    def ping(self) -> bool:
        return super().ping() and (self._home is None or self._home.ping())

    def close(self) -> None:
        super().close()
        if self._home is not None:
            self._home.close()

    def _run(
        self, q: str, params: Mapping[str, ParamValue] | None, database: str | None
    ) -> list[Series]:
        request = dict(self._base, q=q)
        if database is not None:
            request["db"] = database
        if params:
            request["params"] = _encode_params(q, params)
        read_only = q.lstrip().split(None, 1)[0].upper() in _READ_STATEMENTS if q.strip() else True
        try:
            if read_only:
                response = self._client.get("/query", params=request)
            else:
                response = self._client.post("/query", data=request)
        except httpx.TimeoutException as exc:
            raise QueryTimeoutError(f"{_short(q)}: {type(exc).__name__}: {exc}") from exc
        except httpx.HTTPError as exc:
            raise QueryError(f"{_short(q)}: {type(exc).__name__}: {exc}") from exc
        try:
            body = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            body = None
        if not isinstance(body, dict):
            raise QueryError(
                f"{_short(q)}: HTTP {response.status_code}: {response.text.strip()[:500]}"
            )
        if response.status_code >= 400 or "error" in body:
            raise QueryError(
                f"{_short(q)}: HTTP {response.status_code}: {body.get('error', response.text)}"
            )
        series: list[Series] = []
        for result in body.get("results", []):
            if "error" in result:
                statement = result.get("statement_id", 0)
                raise QueryError(f"{_short(q)} (statement {statement}): {result['error']}")
            if result.get("partial") or any(raw.get("partial") for raw in result.get("series", [])):
                raise QueryError(f"{_short(q)}: result cut short by the server's max-row-limit")
            for raw in result.get("series", []):
                series.append(
                    Series(
                        name=raw.get("name", ""),
                        tags=raw.get("tags") or {},
                        columns=raw.get("columns", []),
                        values=raw.get("values", []),
                    )
                )
        return series

    def __enter__(self) -> InfluxQL:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


#: A tag compared with a bound ``$param`` or a literal: what tells which server a statement is about.
_TAG_VALUE = re.compile(r"\"(dev_eui|site|privacy)\"\s*=\s*(?:\$(\w+)|'((?:[^'\\]|\\.)*)')")
#: The DevEUIs and sites with public points (InfluxDB's index; the text names neither).
PUBLIC_TAGS: Final = (
    f'SHOW TAG VALUES WITH KEY IN ("dev_eui", "site") WHERE "privacy" = \'{PRIVACY_PUBLIC}\''
)


class PublicTags:
    """The DevEUIs and sites with public points in the public database (``PUBLIC_TAGS``),
    asked again after ``ttl`` seconds, or after a second while a value asked for is missing
    (a device or site new to it). Used by the readers that must never name a home to the
    public server (``InfluxQL``) and by the API's public path (``api.scoped.PublicDevices``)."""

    def __init__(self, ttl: float = 5.0) -> None:
        self._ttl = ttl
        self._lock = threading.Lock()
        self._at = -math.inf
        self._values: dict[str, frozenset[str]] = {}

    def get(
        self, ask: Callable[[], list[Series]], *, want: tuple[str, str] | None = None
    ) -> dict[str, frozenset[str]]:
        """Tag key -> values; ``ask`` runs ``PUBLIC_TAGS``; ``want``: (key, value) looked for."""
        with self._lock:
            age = time.monotonic() - self._at
            missing = want is not None and want[1] not in self._values.get(want[0], ())
            if age >= self._ttl or (missing and age >= 1.0):
                found: dict[str, set[str]] = {}
                for series in ask():
                    for record in series.records():
                        key, value = record.get("key"), record.get("value")
                        if isinstance(key, str) and isinstance(value, str):
                            found.setdefault(key, set()).add(value)
                self._values = {key: frozenset(values) for key, values in found.items()}
                self._at = time.monotonic()
            return self._values


#: How two servers' values of one aggregate at one time combine into the value over both.
_COMBINE: dict[str, Callable[[Any, Any], Any]] = {
    "count": lambda a, b: (a or 0) + (b or 0),
    "sum": lambda a, b: (a or 0) + (b or 0),
    "min": lambda a, b: b if a is None else a if b is None else min(a, b),
    "max": lambda a, b: b if a is None else a if b is None else max(a, b),
}
_CALL = re.compile(r'(\w+)\(\s*(?:"[^"]*"|\*|\w+)\s*\)(?:\s+AS\s+(?:"([^"]+)"|(\w+)))?', re.I)


def _column_functions(q: str) -> dict[str, str]:
    """Output column -> aggregate function of a one-statement ``SELECT`` (``count("x") AS n``:
    ``n`` -> ``count``; unnamed ``count(...)``: ``count``, ``count(*)``: ``count_<field>``)."""
    head = re.split(r"\bFROM\b", q, maxsplit=1, flags=re.IGNORECASE)[0]
    found = {}
    for fn, quoted, bare in _CALL.findall(head):
        found[quoted or bare or fn.lower()] = fn.lower()
    return found


def _combine(q: str, columns: list[str], a: list[Any], b: list[Any]) -> list[Any]:
    functions = _column_functions(q)
    row = [a[0]]
    for column, x, y in zip(columns[1:], a[1:], b[1:], strict=True):
        fn = functions.get(column) or functions.get(column.split("_", 1)[0]) or column.split("_")[0]
        combine = _COMBINE.get(fn)
        if combine is None:
            raise QueryError(
                f"{_short(q)}: one group spans the public and the home server and its {column}"
                " cannot be combined from two answers; ask per device"
            )
        row.append(combine(x, y))
    return row


def merge_series(public: list[Series], home: list[Series], q: str) -> list[Series]:
    """The series of one statement run on the public and on the home server, as one answer.

    Series with the same name and tags appear once, their rows merged by time. Two
    rows of one series at the same time (one group with points on both servers) are
    combined where the aggregate allows it (``count``, ``sum``, ``min``, ``max``);
    any other (a mean of means is not a mean) raises ``QueryError``, which the
    registry's separate home sites never produce. One statement only (what an
    including ``SELECT`` is).
    """
    merged: dict[tuple[str, tuple[tuple[str, str], ...]], Series] = {}
    for one in (*public, *home):
        key = (one.name, tuple(sorted(one.tags.items())))
        seen = merged.get(key)
        if seen is None:
            merged[key] = Series(one.name, dict(one.tags), list(one.columns), list(one.values))
            continue
        if seen.columns != one.columns:
            raise QueryError(f"{_short(q)}: the two servers answered different columns")
        at = {row[0]: i for i, row in enumerate(seen.values)}
        for row in one.values:
            i = at.get(row[0])
            if i is None:
                seen.values.append(row)
            else:
                seen.values[i] = _combine(q, seen.columns, seen.values[i], row)
        seen.values.sort(key=lambda row: row[0])
    return [merged[key] for key in sorted(merged)]


def _encode_params(q: str, params: Mapping[str, ParamValue]) -> str:
    for name, value in params.items():
        if not _PARAM_NAME.fullmatch(name):
            raise QueryError(f"{_short(q)}: bad parameter name {name!r}")
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise QueryError(
                f"{_short(q)}: parameter {name} must be str, int or float, got {type(value).__name__}"
            )
        if isinstance(value, float) and not math.isfinite(value):
            raise QueryError(f"{_short(q)}: parameter {name} is not finite")
    return orjson.dumps(dict(params)).decode()


def _short(q: str) -> str:
    q = " ".join(q.split())
    return q if len(q) <= 300 else q[:297] + "..."
