"""The embedded SQLite registry: API keys here; other modules add their own tables to the same file.

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
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

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


def open_registry(path: Path | str) -> sqlite3.Connection:
    """Open (creating if needed) the registry file, shared across threads behind callers' locks.

    WAL lets the API read while the CLI or insights write; ``busy_timeout``
    waits out a writer instead of failing.
    """
    path = Path(path)
    try:
        # Key hashes, alerts and their audit trail: readable by the service account only.
        # SQLite gives its -wal/-shm files the database file's permissions.
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        # Only ever a file that does not exist yet: closing any descriptor of an open SQLite
        # file drops this process's POSIX locks on it, and another process's close would
        # then delete the WAL under this process's live connections.
        try:
            os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError:
            pass
        conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=10)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA busy_timeout=10000")
        conn.execute("PRAGMA foreign_keys=ON")
    except (sqlite3.Error, OSError) as exc:
        raise ConfigError(f"registry {path}: {exc}") from exc
    conn.row_factory = sqlite3.Row
    create_tables(conn)  # tenancies and the audit log (storage.personal_data)
    return conn


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

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._lock = threading.Lock()
        with self._lock:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS api_keys ("
                " key_id TEXT PRIMARY KEY, name TEXT NOT NULL, scope TEXT NOT NULL,"
                " salt BLOB NOT NULL, hash BLOB NOT NULL, created TEXT NOT NULL, revoked TEXT)"
            )

    def create(self, name: str, scope: Scope | str) -> tuple[ApiKey, str]:
        """Store a new key; returns it and the token, which is never retrievable again."""
        scope = Scope(scope)
        if problem := key_name_problem(name):
            raise ValueError(problem)
        key_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        salt = secrets.token_bytes(16)
        created = datetime.now(UTC).replace(microsecond=0)
        with self._lock:
            self._conn.execute(
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
        with self._lock:
            row = self._conn.execute(
                "SELECT * FROM api_keys WHERE key_id = ?", (key_id,)
            ).fetchone()
        if row is None or not hmac.compare_digest(row["hash"], _hash(row["salt"], secret)):
            return None
        key = _parse(row)
        return key if key.active else None

    def list(self) -> list[ApiKey]:
        with self._lock:
            rows = self._conn.execute("SELECT * FROM api_keys ORDER BY created, key_id").fetchall()
        return [_parse(row) for row in rows]

    def revoke(self, key_id: str) -> bool:
        """Revoke a key; False when no active key has that id."""
        now = datetime.now(UTC).replace(microsecond=0).isoformat()
        with self._lock:
            cursor = self._conn.execute(
                "UPDATE api_keys SET revoked = ? WHERE key_id = ? AND revoked IS NULL",
                (now, key_id),
            )
        return cursor.rowcount == 1


__all__ = ["ApiKey", "ApiKeys", "Scope", "open_registry"]
