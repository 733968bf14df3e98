"""Copies of the SQLite registry taken with SQLite's online backup API.

The backup API copies a consistent snapshot page by page while the API and
the insights scheduler keep writing (a plain file copy of a WAL database can
catch it half-written). Restoring goes the same way in reverse, into the
registry path, so a restored file is a SQLite database at the backed-up
schema version; the next start migrates it forward (``storage.registry``).
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from core.errors import ConfigError

__all__ = ["copy_database"]


def copy_database(source: Path, target: Path) -> int:
    """Copy the SQLite database ``source`` to ``target`` (replacing it); its ``user_version``.

    ``target`` is created readable by its owner only, like the registry.
    Missing or unreadable source -> ConfigError.
    """
    if not source.is_file():
        raise ConfigError(f"{source}: no such SQLite file")
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.close(os.open(target, os.O_RDWR | os.O_CREAT, 0o600))
    try:
        # Read-only URI: a backup never creates or changes the source.
        src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=10)
        dst = sqlite3.connect(target, timeout=10)
        try:
            src.execute("PRAGMA busy_timeout=10000")
            dst.execute("PRAGMA busy_timeout=10000")
            src.backup(dst)
            version = int(dst.execute("PRAGMA user_version").fetchone()[0])
        finally:
            dst.close()
            src.close()
    except sqlite3.Error as exc:
        raise ConfigError(f"copying {source} to {target}: {exc}") from exc
    return version
