"""`leedswin backup` / `leedswin restore`: the registry (online) and the configuration file."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

from leedswin.cli import app
from storage.registry import SCHEMA_VERSION, ApiKeys, Scope, open_registry


def rows(path: Path) -> dict[str, list[tuple[object, ...]]]:
    conn = sqlite3.connect(path)
    tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    dump = {t: sorted(conn.execute(f'SELECT * FROM "{t}"').fetchall(), key=repr) for t in tables}
    conn.close()
    return dump


def test_backup_under_writes_then_restore_gives_the_same_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry_path = tmp_path / "state" / "registry.sqlite3"
    config = tmp_path / "etc" / "leedswin.toml"
    config.parent.mkdir()
    config.write_text(f'[api]\nregistry = "{registry_path}"\n')
    monkeypatch.setenv("LEEDSWIN_CONFIG", str(config))
    registry = open_registry(registry_path)
    keys = ApiKeys(registry)
    tokens = [keys.create(f"before-{i}", Scope.PUBLIC)[1] for i in range(50)]
    stop = threading.Event()
    written: list[str] = []

    def keep_writing() -> None:
        while not stop.is_set():
            written.append(keys.create(f"during-{len(written)}", Scope.PUBLIC)[1])

    writer = threading.Thread(target=keep_writing)
    writer.start()
    try:
        result = CliRunner().invoke(app, ["backup", str(tmp_path / "backup")])
    finally:
        stop.set()
        writer.join()
    assert result.exit_code == 0, result.output
    assert written, "the backup ran while keys were being written"
    backed_up = rows(tmp_path / "backup" / "registry.sqlite3")
    assert (tmp_path / "backup" / "leedswin.toml").read_text() == config.read_text()
    names = {row[1] for row in backed_up["api_keys"]}
    assert {f"before-{i}" for i in range(50)} <= names  # a consistent snapshot, every key before it

    # Disaster: the registry and the configuration file are lost.
    registry.close()
    for path in registry_path.parent.iterdir():
        path.unlink()
    config.unlink()
    result = CliRunner().invoke(app, ["restore", str(tmp_path / "backup")])
    assert result.exit_code == 0, result.output
    assert rows(registry_path) == backed_up
    assert config.read_text() == f'[api]\nregistry = "{registry_path}"\n'
    restored = open_registry(registry_path)
    assert restored.version == SCHEMA_VERSION
    assert all(ApiKeys(restored).verify(token) for token in tokens)
    assert (registry_path.stat().st_mode & 0o777) == 0o600
    restored.close()


def test_backup_of_a_missing_registry_fails_clearly(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["backup", str(tmp_path / "b"), "--registry", str(tmp_path / "none.sqlite3")]
    )
    assert result.exit_code == 1
    assert "no such SQLite file" in result.output
