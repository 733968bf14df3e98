"""`leedswin keys create|list|revoke` against a real registry file, and the keys' storage."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import typer
from typer.testing import CliRunner

from leedswin.commands import api as api_command
from leedswin.services import LocalInfluxDB, LocalMosquitto, free_port
from storage.registry import ApiKeys, Scope, open_registry


def _app() -> typer.Typer:
    app = typer.Typer()
    api_command.register(app)
    return app


def test_create_list_revoke(tmp_path: Path) -> None:
    registry = tmp_path / "keys.sqlite3"
    runner = CliRunner()
    app = _app()
    created = runner.invoke(
        app,
        [
            "keys",
            "create",
            "--name",
            "Open Data Leeds",
            "--scope",
            "housing",
            "--registry",
            str(registry),
        ],
    )
    assert created.exit_code == 0, created.output
    token = created.stdout.strip().splitlines()[-1]
    key = ApiKeys(open_registry(registry)).verify(token)
    assert key is not None and key.scope is Scope.HOUSING and key.name == "Open Data Leeds"

    listed = runner.invoke(app, ["keys", "list", "--registry", str(registry)])
    assert listed.exit_code == 0 and key.key_id in listed.stdout and "housing" in listed.stdout
    assert token.rsplit("_", 1)[-1] not in listed.stdout

    revoked = runner.invoke(app, ["keys", "revoke", key.key_id, "--registry", str(registry)])
    assert revoked.exit_code == 0
    assert ApiKeys(open_registry(registry)).verify(token) is None
    again = runner.invoke(app, ["keys", "revoke", key.key_id, "--registry", str(registry)])
    assert again.exit_code == 1


def test_bad_scope_is_refused(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        _app(),
        ["keys", "create", "--name", "x", "--scope", "root", "--registry", str(tmp_path / "k")],
    )
    assert result.exit_code == 2


def test_only_salted_hashes_are_stored(tmp_path: Path) -> None:
    keys = ApiKeys(open_registry(tmp_path / "r.sqlite3"))
    _, token = keys.create("a", Scope.PUBLIC)
    _, other = keys.create("b", Scope.PUBLIC)
    raw = (tmp_path / "r.sqlite3").read_bytes() + (tmp_path / "r.sqlite3-wal").read_bytes()
    for secret in (token, other):
        assert secret.split("_", 2)[2].encode() not in raw  # the secret may hold "_" itself
    rows = (
        sqlite3.connect(tmp_path / "r.sqlite3")
        .execute("SELECT salt, hash FROM api_keys")
        .fetchall()
    )
    assert len({salt for salt, _ in rows}) == 2


def test_verify_refuses_tampered_and_malformed_tokens(tmp_path: Path) -> None:
    keys = ApiKeys(open_registry(tmp_path / "r.sqlite3"))
    _, token = keys.create("a", Scope.ADMIN)
    assert keys.verify(token) is not None
    for bad in (
        "",
        "lw",
        "lw__",
        token[:-1] + ("A" if token[-1] != "A" else "B"),
        "xx" + token[2:],
    ):
        assert keys.verify(bad) is None


@pytest.mark.integration
def test_api_command_serves_on_loopback(
    tmp_path: Path, influxdb: LocalInfluxDB, mosquitto: LocalMosquitto
) -> None:
    """`leedswin api …` as a real process: ready, answers with a key made by `keys create`."""
    registry = tmp_path / "keys.sqlite3"
    _, token = ApiKeys(open_registry(registry)).create("cli", Scope.PUBLIC)
    port = free_port()
    script = (
        "import typer; from leedswin.commands import api; app = typer.Typer(); api.register(app);"
        " app.command('noop')(lambda: None); app()"
    )
    args = ["api", "--influx-url", influxdb.url, "--influx-database", "cli_db"]
    args += ["--mqtt-url", mosquitto.url, "--port", str(port), "--registry", str(registry)]
    httpx.post(f"{influxdb.url}/query", data={"q": 'CREATE DATABASE "cli_db"'})
    log = tmp_path / "api.log"
    with open(log, "wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-c", script, *args], stdout=sink, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 20
        while True:
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "`leedswin api` did not get ready"
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        response = httpx.get(f"http://127.0.0.1:{port}/v1/devices", headers={"X-API-Key": token})
        assert response.status_code == 200 and response.json() == {"data": [], "count": 0}
    finally:
        process.terminate()
        process.wait(10)


def test_registry_file_is_created_for_its_owner_only(tmp_path: Path) -> None:
    registry = tmp_path / "new" / "keys.sqlite3"
    ApiKeys(open_registry(registry)).create("ops", Scope.ADMIN)
    assert registry.stat().st_mode & 0o777 == 0o600
    assert registry.parent.stat().st_mode & 0o777 == 0o700
    for sidecar in registry.parent.iterdir():  # -wal and -shm copy the database's mode
        assert sidecar.stat().st_mode & 0o077 == 0, sidecar


@pytest.mark.parametrize(
    "name",
    [
        "two\nlines",
        "ok\r\nforged  | admin",
        "bell\x07",
        "a\u2028b",
        "admin\u202e",  # right-to-left override: reverses what follows in a listing
        "ad\u200bmin",  # zero-width space: looks like another key's name
    ],
)
def test_key_names_with_control_characters_are_refused(tmp_path: Path, name: str) -> None:
    registry = tmp_path / "keys.sqlite3"
    result = CliRunner().invoke(
        _app(), ["keys", "create", "--name", name, "--registry", str(registry)]
    )
    assert result.exit_code == 2 and "control or invisible" in result.output
    with pytest.raises(ValueError, match="control or invisible character"):
        ApiKeys(open_registry(registry)).create(name, Scope.PUBLIC)
    assert ApiKeys(open_registry(registry)).list() == []
