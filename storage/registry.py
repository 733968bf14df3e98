"""The embedded SQLite registry: API keys here; alerts and others keep their rows in the same file.

Keys are 256-bit random tokens, so a salted SHA-256 is enough: a slow KDF
(scrypt) protects low-entropy passwords against guessing, but nobody can
enumerate 2**256 tokens, and a fast hash keeps per-request checks cheap.
Only the hash is stored; the token is shown once, when it is created. The
token's first part is a public key id used to find the row without scanning.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import sqlite3
import threading
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from core.errors import ConfigError
from storage.personal_data import create_tables

_TOKEN_PREFIX = "lw"
#: Control characters and line/paragraph separators: a name holding one could forge lines
#: in ``leedswin keys list`` or a log.
#: Unicode categories a key name may not hold: control, format (bidi overrides, zero-width
#: characters), surrogate, private-use, unassigned and line/paragraph separators. They could
#: forge or disguise lines in ``leedswin keys list`` and the audit trail.
_HIDDEN = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def key_name_problem(name: str) -> str | None:
    """Why ``name`` cannot name an API key, or None when it can."""
    if not name.strip():
        return "a key needs a non-empty name"
    for char in name:
        if unicodedata.category(char) in _HIDDEN:
            return f"control or invisible character U+{ord(char):04X} in the key name"
    return None


class Scope(StrEnum):
    """What a key may see: each scope includes everything the ones before it may."""

    PUBLIC = "public"
    #: Fleet operations (device health, /v1/fleet): public devices only, no homes.
    OPERATIONS = "operations"
    HOUSING = "housing"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return list(Scope).index(self)

    def includes(self, other: Scope) -> bool:
        return self.rank >= other.rank


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A stored key, without its secret."""

    key_id: str
    name: str
    scope: Scope
    created: datetime
    revoked: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked is None


#: The registry file's schema, one step per release that changed it: step ``i`` takes the
#: file from ``PRAGMA user_version`` ``i`` to ``i + 1``. Append new steps at the end, never
#: edit or reorder released ones (docs/upgrading.md). Step 1 is the schema every release
#: before versioning created at run time, hence ``IF NOT EXISTS``: it adopts such a file as is.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        "CREATE TABLE IF NOT EXISTS api_keys ("
        " key_id TEXT PRIMARY KEY, name TEXT NOT NULL, scope TEXT NOT NULL,"
        " salt BLOB NOT NULL, hash BLOB NOT NULL, created TEXT NOT NULL, revoked TEXT)",
        "CREATE TABLE IF NOT EXISTS damp_alerts ("
        " id INTEGER PRIMARY KEY AUTOINCREMENT, dev_eui TEXT NOT NULL, site TEXT NOT NULL,"
        " level TEXT NOT NULL, opened_at TEXT NOT NULL, evidence TEXT NOT NULL,"
        " status TEXT NOT NULL DEFAULT 'open', closed_at TEXT)",
        "CREATE INDEX IF NOT EXISTS damp_alerts_dev ON damp_alerts (dev_eui, status)",
        "CREATE TABLE IF NOT EXISTS damp_alert_events ("
        " id INTEGER PRIMARY KEY AUTOINCREMENT,"
        " alert_id INTEGER NOT NULL REFERENCES damp_alerts(id),"
        " at TEXT NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,"
        " note TEXT NOT NULL DEFAULT '')",
    ),
    # Device state (storage.state): each device's newest point per measurement (and battery
    # field, as a JSON object of its numeric fields), and per
    # measurement the earliest time written since the rollup job last ran, and what it covers.
    (
        "CREATE TABLE device_state ("
        " dev_eui TEXT NOT NULL, measurement TEXT NOT NULL, field TEXT NOT NULL,"
        " time_ns INTEGER NOT NULL, fields TEXT NOT NULL, model TEXT NOT NULL,"
        " site TEXT NOT NULL, privacy TEXT NOT NULL, need TEXT NOT NULL,"
        " PRIMARY KEY (dev_eui, measurement, field)) WITHOUT ROWID",
        "CREATE TABLE rollup_watermark ("
        " measurement TEXT PRIMARY KEY, earliest_ns INTEGER NOT NULL) WITHOUT ROWID",
        # The span of whole hours the rollups of each measurement hold (insights.rollups).
        "CREATE TABLE rollup_progress ("
        " measurement TEXT PRIMARY KEY, from_ns INTEGER NOT NULL, until_ns INTEGER NOT NULL)"
        " WITHOUT ROWID",
    ),
    # The hours written per measurement since the rollup job last ran (storage.state): it
    # recomputes those hours, not everything after the earliest. ``rollup_watermark`` now
    # holds only marks ("recompute from here on"); a step-2 file's rows there meant exactly
    # that (the earliest write, everything after it recomputed), so they stay as they are.
    # ``rollup_marks`` counts the marks (erasure, reclassification) per measurement: the API
    # keys what it keeps of rollups and raw hours by it, so nothing read before is served after.
    (
        "CREATE TABLE rollup_touched ("
        " measurement TEXT NOT NULL, hour_ns INTEGER NOT NULL,"
        " PRIMARY KEY (measurement, hour_ns)) WITHOUT ROWID",
        "CREATE TABLE rollup_marks ("
        " measurement TEXT PRIMARY KEY, marks INTEGER NOT NULL) WITHOUT ROWID",
    ),
)

#: The schema version this code reads and writes.
SCHEMA_VERSION = len(MIGRATIONS)


def _connect(path: Path) -> sqlite3.Connection:
    # check_same_thread=False only so that close() may run from the owner's thread;
    # each connection is used by the one thread that opened it.
    conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=10)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA busy_timeout=10000")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.row_factory = sqlite3.Row
    return conn


def migrate(conn: sqlite3.Connection, steps: tuple[tuple[str, ...], ...] = MIGRATIONS) -> int:
    """Run the steps past the file's ``user_version``, each in its own transaction; the new version.

    A file newer than this code (a downgrade) -> ConfigError: it would write a
    schema it does not know.
    """
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if version > len(steps):
        raise ConfigError(
            f"registry schema version {version} is newer than this release's {len(steps)}:"
            " restore the backup taken before the upgrade, or upgrade leedswin"
        )
    for number, statements in enumerate(steps[version:], start=version + 1):
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Re-read under the write lock: another process may have migrated meanwhile.
            if int(conn.execute("PRAGMA user_version").fetchone()[0]) >= number:
                conn.execute("ROLLBACK")
                continue
            for statement in statements:
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {number}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return max(version, len(steps))


class Registry:
    """The registry file; concurrency rule: one SQLite connection per thread, WAL, busy timeout.

    Each thread gets its own connection on first use, so a transaction never
    spans another thread's statements (with one shared connection, a key
    inserted while an alert transaction was open was rolled back with it).
    WAL lets readers run beside the one writer; ``busy_timeout`` makes a second
    writer, in this process or another, wait up to 10 s instead of failing.
    Opening migrates the file to ``SCHEMA_VERSION``.
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._local = threading.local()
        self._lock = threading.Lock()  # guards the list of connections only
        self._connections: list[sqlite3.Connection] = []
        try:
            # Key hashes, alerts and their audit trail: readable by the service account only.
            # SQLite gives its -wal/-shm files the database file's permissions.
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            # Only ever a file that does not exist yet: closing any descriptor of an open
            # SQLite file drops this process's POSIX locks on it, and another process's close
            # would then delete the WAL under this process's live connections.
            try:
                os.close(os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600))
            except FileExistsError:
                pass
            self.version = migrate(self.connection)
            create_tables(self.connection)  # tenancies and the audit log (storage.personal_data)
        except (sqlite3.Error, OSError) as exc:
            raise ConfigError(f"registry {self.path}: {exc}") from exc

    @property
    def connection(self) -> sqlite3.Connection:
        """This thread's connection (autocommit; use ``transaction()`` for several statements)."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = _connect(self.path)
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        return conn

    def execute(self, sql: str, parameters: Any = ()) -> sqlite3.Cursor:
        return self.connection.execute(sql, parameters)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` … ``COMMIT`` on this thread's connection; rollback on error."""
        conn = self.connection
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            connections, self._connections = self._connections, []
        for conn in connections:
            conn.close()
        self._local = threading.local()


def open_registry(path: Path | str) -> Registry:
    """Open (creating and migrating if needed) the registry file. Errors -> ConfigError."""
    return Registry(path)


def _hash(salt: bytes, secret: str) -> bytes:
    return hashlib.sha256(salt + secret.encode()).digest()


def _parse(row: sqlite3.Row) -> ApiKey:
    revoked = row["revoked"]
    return ApiKey(
        key_id=row["key_id"],
        name=row["name"],
        scope=Scope(row["scope"]),
        created=datetime.fromisoformat(row["created"]),
        revoked=datetime.fromisoformat(revoked) if revoked else None,
    )


class ApiKeys:
    """API keys in the registry: create (token returned once), verify, list, revoke."""

    def __init__(self, registry: Registry) -> None:
        self._registry = registry

    def create(self, name: str, scope: Scope | str) -> tuple[ApiKey, str]:
        """Store a new key; returns it and the token, which is never retrievable again."""
        scope = Scope(scope)
        if problem := key_name_problem(name):
            raise ValueError(problem)
        key_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        salt = secrets.token_bytes(16)
        created = datetime.now(UTC).replace(microsecond=0)
        self._registry.execute(
            "INSERT INTO api_keys (key_id, name, scope, salt, hash, created)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (key_id, name, scope.value, salt, _hash(salt, secret), created.isoformat()),
        )
        return ApiKey(key_id, name, scope, created, None), f"{_TOKEN_PREFIX}_{key_id}_{secret}"

    def verify(self, token: str) -> ApiKey | None:
        """The active key this token belongs to, or None (unknown, malformed, wrong or revoked)."""
        prefix, _, rest = token.partition("_")
        key_id, _, secret = rest.partition("_")
        if prefix != _TOKEN_PREFIX or not key_id or not secret:
            return None
        row = self._registry.execute(
            "SELECT * FROM api_keys WHERE key_id = ?", (key_id,)
        ).fetchone()
        if row is None or not hmac.compare_digest(row["hash"], _hash(row["salt"], secret)):
            return None
        key = _parse(row)
        return key if key.active else None

    def list(self) -> list[ApiKey]:
        rows = self._registry.execute("SELECT * FROM api_keys ORDER BY created, key_id").fetchall()
        return [_parse(row) for row in rows]

    def revoke(self, key_id: str) -> bool:
        """Revoke a key; False when no active key has that id."""
        now = datetime.now(UTC).replace(microsecond=0).isoformat()
        cursor = self._registry.execute(
            "UPDATE api_keys SET revoked = ? WHERE key_id = ? AND revoked IS NULL",
            (now, key_id),
        )
        return cursor.rowcount == 1


__all__ = [
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "ApiKey",
    "ApiKeys",
    "Registry",
    "Scope",
    "migrate",
    "open_registry",
]
