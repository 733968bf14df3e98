"""The registry's schema version, its migrations, and its one-connection-per-thread rule."""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from core.errors import ConfigError
from insights.alerts import AlertStore
from insights.damp import RiskLevel
from storage.points import make_point
from storage.registry import MIGRATIONS, SCHEMA_VERSION, ApiKeys, Scope, migrate, open_registry
from storage.state import DeviceState, Touched

#: The CREATE statements of the release before versioning (main at 63349fd:
#: storage/registry.py ApiKeys and insights/alerts.py _SCHEMA), run as that release ran them.
PREVIOUS_RELEASE = (
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
    " at TEXT NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL, note TEXT NOT NULL DEFAULT '')",
)


def previous_release_file(path: Path) -> str:
    """A registry as the previous release left it, with a key and an alert; the key's token."""
    conn = sqlite3.connect(path)
    for statement in PREVIOUS_RELEASE:
        conn.execute(statement)
    salt, secret = b"0123456789abcdef", "s3cret-token-part"
    conn.execute(
        "INSERT INTO api_keys VALUES (?,?,?,?,?,?,NULL)",
        (
            "a1b2c3d4e5f6",
            "old key",
            "housing",
            salt,
            hashlib.sha256(salt + secret.encode()).digest(),
            "2026-01-01T00:00:00+00:00",
        ),
    )
    conn.execute(
        "INSERT INTO damp_alerts (dev_eui, site, level, opened_at, evidence)"
        " VALUES ('0011223344556677', 'flat-1', 'high', '2026-01-02T00:00:00Z', '{}')"
    )
    conn.execute(
        "INSERT INTO damp_alert_events (alert_id, at, actor, action)"
        " VALUES (1, '2026-01-02T00:00:00Z', 'leedswin-insights', 'opened')"
    )
    conn.commit()
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 0
    conn.close()
    return f"lw_a1b2c3d4e5f6_{secret}"


def test_the_previous_release_file_migrates_with_its_data(tmp_path: Path) -> None:
    path = tmp_path / "registry.sqlite3"
    token = previous_release_file(path)
    registry = open_registry(path)
    assert registry.version == SCHEMA_VERSION
    assert registry.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    key = ApiKeys(registry).verify(token)
    assert key is not None and key.scope is Scope.HOUSING and key.name == "old key"
    alert = AlertStore(registry).get(1)
    assert (
        alert is not None
        and alert.site == "flat-1"
        and [e.action for e in alert.events] == ["opened"]
    )
    # The migrated file works as a new one: new keys and alert actions.
    _, new_token = ApiKeys(registry).create("new", Scope.PUBLIC)
    AlertStore(registry).record(1, "officer", "acknowledged")
    registry.close()
    again = open_registry(path)
    assert ApiKeys(again).verify(new_token) is not None
    assert len(AlertStore(again).get(1).events) == 2
    again.close()


def test_a_new_step_runs_once_and_a_newer_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "registry.sqlite3"
    open_registry(path).close()
    extended = (*MIGRATIONS, ("CREATE TABLE health_events (id INTEGER PRIMARY KEY, at TEXT)",))
    conn = sqlite3.connect(path, isolation_level=None)
    assert migrate(conn, extended) == SCHEMA_VERSION + 1
    assert migrate(conn, extended) == SCHEMA_VERSION + 1  # no second CREATE: it would fail
    conn.close()
    with pytest.raises(ConfigError, match="newer than this release"):
        open_registry(path)


def test_a_failing_step_leaves_the_file_at_the_last_good_version(tmp_path: Path) -> None:
    path = tmp_path / "registry.sqlite3"
    open_registry(path).close()
    broken = (*MIGRATIONS, ("CREATE TABLE t (a)", "THIS IS NOT SQL"))
    conn = sqlite3.connect(path, isolation_level=None)
    with pytest.raises(sqlite3.Error):
        migrate(conn, broken)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert conn.execute("SELECT name FROM sqlite_master WHERE name = 't'").fetchone() is None
    conn.close()


def test_keys_created_beside_alert_transactions_all_work(tmp_path: Path) -> None:
    """With one shared connection a key inserted while an alert transaction was open was rolled
    back with it, after its token had been returned. Each thread has its own connection now."""
    registry = open_registry(tmp_path / "registry.sqlite3")
    keys, alerts = ApiKeys(registry), AlertStore(registry)
    tokens: list[str] = []
    errors: list[BaseException] = []
    start = threading.Barrier(6)

    def create_keys(worker: int) -> None:
        start.wait()
        for i in range(40):
            tokens.append(keys.create(f"k{worker}-{i}", Scope.PUBLIC)[1])

    def alert_actions(worker: int) -> None:
        start.wait()
        now = datetime.now(UTC)
        for i in range(40):
            dev = f"{worker:02x}{i:014x}"
            try:
                alert = alerts.raise_level(dev, "site", RiskLevel.HIGH, now, {"i": i})
                assert alert is not None
                alerts.record(alert.id, "officer", "note", f"n{i}")
                # An action on a missing alert rolls its transaction back.
                for _ in range(25):
                    with pytest.raises(KeyError):
                        alerts.record(10**9, "officer", "note")
            except BaseException as exc:  # surfaced below: a thread cannot fail the test
                errors.append(exc)
                return

    threads = [threading.Thread(target=create_keys, args=(w,)) for w in range(3)]
    threads += [threading.Thread(target=alert_actions, args=(w,)) for w in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(tokens) == 120
    assert all(keys.verify(token) is not None for token in tokens)
    assert len(keys.list()) == 120
    assert len(alerts.list()) == 120
    registry.close()


def test_a_step_2_file_keeps_its_rollup_watermark_as_marks(tmp_path: Path) -> None:
    """Step 3 adds the touched hours; a step-2 file's watermark rows meant "recompute from
    here on", which is what ``rollup_watermark`` still means (``DeviceState.mark``), so the
    first claim after the upgrade asks for the same hours, and the held span is unchanged."""
    path = tmp_path / "registry.sqlite3"
    conn = sqlite3.connect(path, isolation_level=None)
    assert migrate(conn, MIGRATIONS[:2]) == 2
    hour = 3_600_000_000_000
    conn.execute("INSERT INTO rollup_watermark VALUES ('climate', ?)", (500 * hour + 42,))
    conn.execute("INSERT INTO rollup_progress VALUES ('climate', ?, ?)", (100 * hour, 600 * hour))
    conn.close()
    registry = open_registry(path)
    assert registry.version == SCHEMA_VERSION >= 3
    state = DeviceState(registry)
    assert state.rolled("climate") == (100 * hour, 600 * hour)
    state.observe([make_point("uplink", {"dev_eui": "a000000000000001"}, {"f_cnt": 1}, 7 * hour)])
    state.commit()
    assert state.claim_touched() == Touched(
        {"uplink": frozenset({7 * hour})}, {"climate": 500 * hour}
    )
