"""The append-only audit log of personal-data access (SQLite registry).

One row per read of home data (housing API routes, refused attempts at a home
device, exports, erasures): who (key id, name, scope), what (endpoint, home
pseudonym, time range), when, from where (client address), and the outcome.
Triggers refuse every ``UPDATE`` and ``DELETE`` of ``audit_log``; the only
deletion path is ``AuditLog.purge`` (the log's own retention), which drops
the delete guard, deletes rows older than the cut-off and restores the guard
inside one transaction, so no other connection ever sees the table unguarded,
and records what it removed.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Final, Literal

from storage.tenancy import iso, parse_iso

if TYPE_CHECKING:  # storage.registry opens these tables: a runtime import would cycle
    from storage.registry import Registry

__all__ = ["AUDIT_SCHEMA", "AuditLog", "AuditRecord", "Outcome"]

Outcome = Literal["ok", "refused", "error"]

_NO_DELETE = (
    "CREATE TRIGGER IF NOT EXISTS audit_log_no_delete BEFORE DELETE ON audit_log"
    " BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END"
)

AUDIT_SCHEMA: Final = (
    "CREATE TABLE IF NOT EXISTS audit_log ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL,"
    " key_id TEXT NOT NULL, key_name TEXT NOT NULL, scope TEXT NOT NULL,"
    " action TEXT NOT NULL, endpoint TEXT NOT NULL, home TEXT NOT NULL DEFAULT '',"
    " range_start TEXT, range_end TEXT, client TEXT NOT NULL DEFAULT '',"
    " outcome TEXT NOT NULL, status INTEGER, detail TEXT NOT NULL DEFAULT '')",
    "CREATE INDEX IF NOT EXISTS audit_log_at ON audit_log (at)",
    "CREATE TRIGGER IF NOT EXISTS audit_log_no_update BEFORE UPDATE ON audit_log"
    " BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
    _NO_DELETE,
)


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One access. ``home``: a DevEUI, tenancy or property reference, or ``*`` (all homes);
    ``range_*``: the time range asked for, when the request names one."""

    at: datetime
    key_id: str
    key_name: str
    scope: str
    action: str
    endpoint: str
    outcome: Outcome
    home: str = ""
    range_start: datetime | None = None
    range_end: datetime | None = None
    client: str = ""
    status: int | None = None
    detail: str = ""
    id: int | None = None


class AuditLog:
    """Append and query the audit log; never update, only purge by age."""

    def __init__(self, registry: Registry) -> None:
        self._registry = registry

    @property
    def _conn(self) -> sqlite3.Connection:
        return self._registry.connection

    def append(self, record: AuditRecord) -> int:
        cursor = self._conn.execute(
            "INSERT INTO audit_log (at, key_id, key_name, scope, action, endpoint, home,"
            " range_start, range_end, client, outcome, status, detail)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                iso(record.at),
                record.key_id,
                record.key_name,
                record.scope,
                record.action,
                record.endpoint,
                record.home,
                iso(record.range_start) if record.range_start else None,
                iso(record.range_end) if record.range_end else None,
                record.client,
                record.outcome,
                record.status,
                record.detail,
            ),
        )
        return int(cursor.lastrowid or 0)

    def query(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        home: str | None = None,
        key_id: str | None = None,
        outcome: str | None = None,
        limit: int = 1000,
    ) -> list[AuditRecord]:
        """Records oldest first, filtered; ``until`` exclusive."""
        where, args = [], []
        for column, value in (("home", home), ("key_id", key_id), ("outcome", outcome)):
            if value:
                where.append(f"{column} = ?")
                args.append(value)
        if since:
            where.append("at >= ?")
            args.append(iso(since))
        if until:
            where.append("at < ?")
            args.append(iso(until))
        sql = "SELECT * FROM audit_log" + (" WHERE " + " AND ".join(where) if where else "")
        rows = self._conn.execute(sql + " ORDER BY at, id LIMIT ?", (*args, limit)).fetchall()
        return [
            AuditRecord(
                at=parse_iso(r["at"]),
                key_id=r["key_id"],
                key_name=r["key_name"],
                scope=r["scope"],
                action=r["action"],
                endpoint=r["endpoint"],
                outcome=r["outcome"],
                home=r["home"],
                range_start=parse_iso(r["range_start"]) if r["range_start"] else None,
                range_end=parse_iso(r["range_end"]) if r["range_end"] else None,
                client=r["client"],
                status=r["status"],
                detail=r["detail"],
                id=int(r["id"]),
            )
            for r in rows
        ]

    def purge(self, retention: timedelta, now: datetime | None = None) -> int:
        """Delete records older than ``retention`` (the log's own retention); returns how many.

        The one deletion path: the guard trigger is dropped and recreated in the same
        transaction, and a purge that removed anything is itself recorded."""
        now = now or datetime.now(UTC)
        cutoff = iso(now - retention)
        with self._registry.transaction():
            self._conn.execute("DROP TRIGGER IF EXISTS audit_log_no_delete")
            removed = self._conn.execute("DELETE FROM audit_log WHERE at < ?", (cutoff,)).rowcount
            self._conn.execute(_NO_DELETE)
            if removed:
                self._conn.execute(
                    "INSERT INTO audit_log (at, key_id, key_name, scope, action, endpoint,"
                    " outcome, detail) VALUES (?, '', 'leedswin', 'system', 'audit_purge',"
                    " 'retention', 'ok', ?)",
                    (iso(now), f"removed {removed} records before {cutoff}"),
                )
        return int(removed)
