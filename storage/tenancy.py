"""Properties, the home devices placed in them, and their tenancy periods (SQLite registry).

A home device belongs to a property for a period (``device_assignments``); a
property has tenancy periods (``tenancies``), each with a pseudonymous
reference, never a name. A reading, derived point or alert at time ``t`` of
device ``d`` belongs to the tenancy whose period contains ``t`` at the property
``d`` was in at ``t``. Periods are half-open ``[start, end)``, UTC; an open
period has no end. Periods of one device, and tenancies of one property, never
overlap: every instant has at most one attribution, which is what lets the
evidence and risk series be cut at tenancy boundaries (``segments``).
"""

from __future__ import annotations

import re
import secrets
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Final

from core.errors import PlatformError

if TYPE_CHECKING:  # storage.registry opens these tables: a runtime import would cycle
    from storage.registry import Registry

__all__ = [
    "REF_LENGTH",
    "REF_PATTERN",
    "Assignment",
    "NotFoundError",
    "Segment",
    "Tenancies",
    "Tenancy",
    "TenancyError",
    "TENANCY_SCHEMA",
    "EARLIEST",
    "END_SKEW",
    "LATEST",
    "TimeRangeError",
    "check_time",
    "iso",
    "parse_iso",
]

#: Pseudonymous references: letters, digits, ``-``/``_``, at least one digit, no spaces —
#: a housing system's tenancy or property id, never a person's name.
#: Letters, digits, ``-`` and ``_`` with at least one digit and at most four letters in a row:
#: a housing system's code (``TEN-0001``, ``LCC123456``, ``PROP-12-B``), never a name
#: (``JaneSmith1``). Written without look-around so the API's validator (Rust regex) takes it.
REF_PATTERN: Final = (
    r"^[A-Za-z]{0,4}(?:[_-][A-Za-z]{0,4})*[0-9](?:[A-Za-z]{0,4}[0-9_-])*[A-Za-z]{0,4}$"
)
REF_LENGTH: Final = (3, 40)
_REF = re.compile(REF_PATTERN)
_EUI = re.compile(r"[0-9a-f]{16}")

TENANCY_SCHEMA: Final = (
    "CREATE TABLE IF NOT EXISTS properties (ref TEXT PRIMARY KEY, created TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS device_assignments ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT, dev_eui TEXT NOT NULL,"
    " property_ref TEXT NOT NULL REFERENCES properties(ref),"
    " start_at TEXT NOT NULL, end_at TEXT)",
    "CREATE INDEX IF NOT EXISTS device_assignments_dev ON device_assignments (dev_eui, start_at)",
    "CREATE TABLE IF NOT EXISTS tenancies ("
    " ref TEXT PRIMARY KEY, property_ref TEXT NOT NULL REFERENCES properties(ref),"
    " start_at TEXT NOT NULL, end_at TEXT, erased_at TEXT)",
    "CREATE INDEX IF NOT EXISTS tenancies_property ON tenancies (property_ref, start_at)",
)


class TenancyError(PlatformError):
    """A tenancy, property or assignment request that cannot be honoured (and why)."""

    code = "tenancy"


class NotFoundError(TenancyError):
    code = "tenancy_not_found"


class TimeRangeError(TenancyError):
    """A time outside what the stores can hold (InfluxDB: int64 nanoseconds since 1970)."""

    code = "time_out_of_range"


#: How far in the future a tenancy may be ended: clock skew between the housing system and us.
#: Ending one later would make it look ended (and so erasable) while it still runs.
END_SKEW: Final = timedelta(minutes=5)

#: Every stored time lies in [EARLIEST, LATEST): what InfluxDB can represent, with margin.
EARLIEST: Final = datetime(1970, 1, 1, tzinfo=UTC)
LATEST: Final = datetime(2262, 1, 1, tzinfo=UTC)


def check_time(moment: datetime, what: str = "time") -> datetime:
    """``moment`` in UTC (naive is UTC) if within [EARLIEST, LATEST); else ``TimeRangeError``.

    The one check for every time this store keeps, used by the API and the CLI alike:
    a time near year 1 or 9999 whose offset moves it out of ``datetime``'s range
    (``OverflowError``) is refused the same way as any other out-of-range time."""
    try:
        utc = _aware(moment).astimezone(UTC)
    except (OverflowError, ValueError):
        utc = None
    if utc is None or not EARLIEST <= utc < LATEST:
        raise TimeRangeError(f"{what} must be between 1970-01-01 and 2262-01-01 (UTC)")
    return utc


def iso(moment: datetime) -> str:
    """Fixed-width RFC 3339 UTC text (``2026-11-30T18:00:00.000000Z``): compares as it sorts.

    The year is zero-padded to four digits (``%Y`` is not, on glibc, below 1000)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    return f"{moment.year:04d}" + moment.strftime("-%m-%dT%H:%M:%S.%fZ")


_SHORT_YEAR = re.compile(r"^(\d{1,3})-")


def parse_iso(text: str) -> datetime:
    """Text written by ``iso``; also rows an older ``iso`` wrote with an unpadded year."""
    text = _SHORT_YEAR.sub(lambda m: f"{int(m.group(1)):04d}-", text)
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def check_ref(ref: str, what: str = "reference") -> str:
    if not (
        isinstance(ref, str) and _REF.fullmatch(ref) and REF_LENGTH[0] <= len(ref) <= REF_LENGTH[1]
    ):
        raise TenancyError(
            f"{what} must be 3-40 letters, digits, '-' or '_' with at least one digit and at"
            " most four letters in a row (a pseudonymous code, never a name)"
        )
    return ref


def check_eui(dev_eui: str) -> str:
    dev_eui = dev_eui.lower()
    if not _EUI.fullmatch(dev_eui):
        raise TenancyError("dev_eui must be 16 hex digits")
    return dev_eui


@dataclass(frozen=True, slots=True)
class Assignment:
    """Device ``dev_eui`` was in property ``property_ref`` during [start, end)."""

    dev_eui: str
    property_ref: str
    start: datetime
    end: datetime | None


@dataclass(frozen=True, slots=True)
class Tenancy:
    ref: str
    property_ref: str
    start: datetime
    end: datetime | None
    erased_at: datetime | None


@dataclass(frozen=True, slots=True)
class Segment:
    """A stretch of one device's time with one attribution (property and tenancy, or none)."""

    start: datetime
    end: datetime
    property_ref: str | None
    tenancy_ref: str | None


def _overlaps(
    a_start: datetime, a_end: datetime | None, b_start: datetime, b_end: datetime | None
) -> bool:
    return (b_end is None or a_start < b_end) and (a_end is None or b_start < a_end)


class Tenancies:
    """Properties, device assignments and tenancies in the registry (its concurrency rule:
    a connection per thread; several statements that must hold together are one transaction)."""

    def __init__(self, registry: Registry) -> None:
        self._registry = registry

    @property
    def _conn(self) -> sqlite3.Connection:
        return self._registry.connection

    @property
    def registry(self) -> Registry:
        """The registry, for lifecycle steps on other tables of the same file."""
        return self._registry

    # -- writes -------------------------------------------------------------------------

    def create_property(self, ref: str) -> str:
        check_ref(ref, "property reference")
        try:
            self._conn.execute(
                "INSERT INTO properties (ref, created) VALUES (?, ?)",
                (ref, iso(datetime.now(UTC))),
            )
        except sqlite3.IntegrityError:
            raise TenancyError(f"property {ref} already exists") from None
        return ref

    def properties(self) -> list[str]:
        return [r[0] for r in self._conn.execute("SELECT ref FROM properties ORDER BY ref")]

    def _require_property(self, ref: str) -> None:
        if self._conn.execute("SELECT 1 FROM properties WHERE ref = ?", (ref,)).fetchone() is None:
            raise NotFoundError(f"no property {ref}")

    def assign(
        self,
        dev_eui: str,
        property_ref: str,
        start: datetime,
        end: datetime | None = None,
        *,
        privacy: str | None = None,
    ) -> Assignment:
        """Place a device in a property for [start, end); refused if it overlaps another
        period of the same device. An open assignment ended by a later one is closed first
        with ``end_assignment``.

        ``privacy``: what the device registry says of the device (None: not in it, placed
        as a home device). A public device is refused: its readings are published, so
        placing it in a home would attribute public data to a household."""
        dev_eui = check_eui(dev_eui)
        if privacy == "public":
            raise TenancyError(
                f"device {dev_eui} is public in the device registry (privacy: public), not a"
                " home device: reclassify it as home (`leedswin devices reclassify`) before"
                " placing it"
            )
        start = check_time(start, "start")
        end = check_time(end, "end") if end else None
        if end is not None and end <= start:
            raise TenancyError("an assignment must end after it starts")
        with self._registry.transaction():
            self._require_property(property_ref)
            for other in self._assignments(dev_eui):
                if _overlaps(start, end, other.start, other.end):
                    raise TenancyError(
                        f"device {dev_eui} is in property {other.property_ref} from"
                        f" {iso(other.start)}"
                        + (f" to {iso(other.end)}" if other.end else "")
                        + ": end that first"
                    )
            self._conn.execute(
                "INSERT INTO device_assignments (dev_eui, property_ref, start_at, end_at)"
                " VALUES (?,?,?,?)",
                (dev_eui, property_ref, iso(start), iso(end) if end else None),
            )
        return Assignment(dev_eui, property_ref, start, end)

    def end_assignment(self, dev_eui: str, end: datetime) -> Assignment:
        """End the device's open assignment at ``end`` (after its start)."""
        dev_eui, end = check_eui(dev_eui), check_time(end, "end")
        with self._registry.transaction():
            row = self._conn.execute(
                "SELECT id, property_ref, start_at FROM device_assignments"
                " WHERE dev_eui = ? AND end_at IS NULL",
                (dev_eui,),
            ).fetchone()
            if row is None:
                raise NotFoundError(f"device {dev_eui} has no open assignment")
            start = parse_iso(row[2])
            if end <= start:
                raise TenancyError("an assignment must end after it starts")
            self._conn.execute(
                "UPDATE device_assignments SET end_at = ? WHERE id = ?", (iso(end), row[0])
            )
        return Assignment(dev_eui, row[1], start, end)

    def open_tenancy(self, property_ref: str, start: datetime, ref: str | None = None) -> Tenancy:
        """A new tenancy of a property from ``start``; ``ref`` defaults to a random ``T-…`` id.

        Refused if it overlaps another tenancy of the property (end that one first) or
        the reference is taken."""
        ref = check_ref(ref, "tenancy reference") if ref else f"T-{secrets.randbelow(10**10):010d}"
        start = check_time(start, "start")
        with self._registry.transaction():
            self._require_property(property_ref)
            for other in self._tenancies(property_ref):
                if _overlaps(start, None, other.start, other.end):
                    raise TenancyError(
                        f"tenancy {other.ref} of {property_ref} is still open or later:"
                        " end it first"
                    )
            try:
                self._conn.execute(
                    "INSERT INTO tenancies (ref, property_ref, start_at) VALUES (?,?,?)",
                    (ref, property_ref, iso(start)),
                )
            except sqlite3.IntegrityError:
                raise TenancyError(f"tenancy reference {ref} is taken") from None
        return Tenancy(ref, property_ref, start, None, None)

    def end_tenancy(self, ref: str, end: datetime, now: datetime | None = None) -> Tenancy:
        """End an open tenancy at ``end``: after its start and at most ``END_SKEW`` after
        ``now`` (a tenancy ends when it has ended, not in advance). Ending it again is refused:
        the stored end is corrected only explicitly, in the registry (docs/data-protection.md)."""
        end = check_time(end, "end")
        now = now or datetime.now(UTC)
        if end > now + END_SKEW:
            raise TenancyError(
                f"a tenancy cannot end in the future (end {iso(end)} is after now {iso(now)}):"
                " end it when it has ended"
            )
        with self._registry.transaction():
            tenancy = self._tenancy(ref)
            if tenancy.end is not None:
                raise TenancyError(f"tenancy {ref} already ended at {iso(tenancy.end)}")
            if end <= tenancy.start:
                raise TenancyError("a tenancy must end after it starts")
            self._conn.execute("UPDATE tenancies SET end_at = ? WHERE ref = ?", (iso(end), ref))
        return Tenancy(ref, tenancy.property_ref, tenancy.start, end, None)

    def mark_erased(self, ref: str, at: datetime) -> None:
        self._conn.execute(
            "UPDATE tenancies SET erased_at = ? WHERE ref = ? AND erased_at IS NULL",
            (iso(check_time(at, "erasure time")), ref),
        )

    # -- reads --------------------------------------------------------------------------

    def _assignments(
        self, dev_eui: str | None = None, property_ref: str | None = None
    ) -> list[Assignment]:
        sql, args = "SELECT dev_eui, property_ref, start_at, end_at FROM device_assignments", []
        if dev_eui:
            sql, args = sql + " WHERE dev_eui = ?", [dev_eui]
        elif property_ref:
            sql, args = sql + " WHERE property_ref = ?", [property_ref]
        return [
            Assignment(r[0], r[1], parse_iso(r[2]), parse_iso(r[3]) if r[3] else None)
            for r in self._conn.execute(sql + " ORDER BY start_at", args)
        ]

    def _tenancies(self, property_ref: str) -> list[Tenancy]:
        return [
            self._row(r)
            for r in self._conn.execute(
                "SELECT * FROM tenancies WHERE property_ref = ? ORDER BY start_at", (property_ref,)
            )
        ]

    @staticmethod
    def _row(r: sqlite3.Row | tuple[str, ...]) -> Tenancy:
        return Tenancy(
            r[0],
            r[1],
            parse_iso(r[2]),
            parse_iso(r[3]) if r[3] else None,
            parse_iso(r[4]) if r[4] else None,
        )

    def _tenancy(self, ref: str) -> Tenancy:
        row = self._conn.execute("SELECT * FROM tenancies WHERE ref = ?", (ref,)).fetchone()
        if row is None:
            raise NotFoundError(f"no tenancy {ref}")
        return self._row(row)

    def tenancy(self, ref: str) -> Tenancy:
        return self._tenancy(ref)

    def tenancies(self, property_ref: str | None = None) -> list[Tenancy]:
        if property_ref:
            self._require_property(property_ref)
            return self._tenancies(property_ref)
        return [
            self._row(r)
            for r in self._conn.execute("SELECT * FROM tenancies ORDER BY property_ref, start_at")
        ]

    def assignments(
        self, dev_eui: str | None = None, property_ref: str | None = None
    ) -> list[Assignment]:
        return self._assignments(dev_eui.lower() if dev_eui else None, property_ref)

    def periods(self, ref: str) -> list[tuple[str, datetime, datetime | None]]:
        """(dev_eui, start, end) for each device in the tenancy's property during the tenancy:
        the tenancy period cut by each assignment. ``end`` None: still running."""
        tenancy = self._tenancy(ref)
        out = []
        for a in self._assignments(property_ref=tenancy.property_ref):
            if not _overlaps(tenancy.start, tenancy.end, a.start, a.end):
                continue
            start = max(tenancy.start, a.start)
            ends = [e for e in (tenancy.end, a.end) if e is not None]
            out.append((a.dev_eui, start, min(ends) if ends else None))
        return out

    def segments(self, dev_eui: str, start: datetime, end: datetime) -> list[Segment]:
        """[start, end) of one device cut wherever its attribution changes: contiguous,
        covering the whole range, oldest first (a device never assigned: one segment)."""
        start, end = _aware(start), _aware(end)
        assignments = self._assignments(dev_eui.lower())
        tenancies = {a.property_ref: self._tenancies(a.property_ref) for a in assignments}
        cuts = {start, end}
        for a in assignments:
            cuts.update(t for t in (a.start, a.end) if t is not None)
            for t in tenancies[a.property_ref]:
                cuts.update(x for x in (t.start, t.end) if x is not None)
        edges = sorted(c for c in cuts if start <= c <= end)
        segments: list[Segment] = []
        for lo, hi in zip(edges, edges[1:], strict=False):
            prop = next(
                (a.property_ref for a in assignments if _overlaps(lo, hi, a.start, a.end)), None
            )
            ten = None
            if prop is not None:
                ten = next(
                    (t.ref for t in tenancies[prop] if _overlaps(lo, hi, t.start, t.end)), None
                )
            if segments and (segments[-1].property_ref, segments[-1].tenancy_ref) == (prop, ten):
                segments[-1] = Segment(segments[-1].start, hi, prop, ten)
            else:
                segments.append(Segment(lo, hi, prop, ten))
        return segments
