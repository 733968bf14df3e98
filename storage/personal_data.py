"""The registry tables of the personal-data lifecycle: tenancies and the audit log.

``create_tables`` is the one hook ``storage.registry.open_registry`` calls; it is
idempotent (``IF NOT EXISTS`` throughout), so every process opening the registry
finds the tables and the audit log's append-only triggers in place.
"""

from __future__ import annotations

import sqlite3

from storage.audit import AUDIT_SCHEMA
from storage.tenancy import TENANCY_SCHEMA

__all__ = ["create_tables"]


def create_tables(conn: sqlite3.Connection) -> None:
    """Create the tenancy and audit tables (and the audit log's triggers) if missing."""
    for statement in (*TENANCY_SCHEMA, *AUDIT_SCHEMA):
        conn.execute(statement)
