"""`leedswin fleet snooze` and `ack`: bad hours and unknown devices get clean errors."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from insights.fleet import DeviceHealth, FleetStore
from insights.notify import load_config
from leedswin.cli import app

EUI = "24e124710c400001"


@pytest.fixture
def registry(tmp_path: Path) -> Path:
    path = tmp_path / "registry.sqlite3"
    FleetStore(path).record(
        [DeviceHealth(EUI, "milesight-am319", "library", "public", link="silent")],
        datetime.now(UTC),
    )
    return path


@pytest.mark.parametrize("hours", ["1e9", "inf", "-inf", "nan", "2161", "0"])
def test_snooze_hours_out_of_range_is_a_clean_error(registry: Path, hours: str) -> None:
    result = CliRunner().invoke(
        app, ["fleet", "snooze", EUI, "--hours", hours, "--registry", str(registry)]
    )
    assert result.exit_code == 2, result.output
    assert "--hours must be between 0.01 and 2160" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_snooze_up_to_the_cap(registry: Path) -> None:
    result = CliRunner().invoke(
        app, ["fleet", "snooze", EUI, "--hours", "2160", "--registry", str(registry)]
    )
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("command", [["snooze"], ["ack", "--by", "on-call"]])
def test_unknown_device_is_the_same_error_for_snooze_and_ack(
    registry: Path, command: list[str]
) -> None:
    unknown = "ffffffffffffffff"
    result = CliRunner().invoke(
        app, ["fleet", command[0], unknown, *command[1:], "--registry", str(registry)]
    )
    assert result.exit_code == 1, result.output
    assert f"error: no device {unknown} in the fleet state" in result.output


def test_ack_of_a_known_device(registry: Path) -> None:
    result = CliRunner().invoke(
        app, ["fleet", "ack", EUI, "--by", "on-call", "--registry", str(registry)]
    )
    assert result.exit_code == 0, result.output
    assert f"1 open events of {EUI} acknowledged by on-call" in result.output


def test_a_failed_run_creates_no_registry_database(tmp_path: Path) -> None:
    database = tmp_path / "leedswin.sqlite3"
    result = CliRunner().invoke(
        app,
        [
            "fleet",
            "run",
            "--once",
            "--registry",
            str(database),
            "--devices",
            str(tmp_path / "devices.yaml"),
            "--notifications",
            str(tmp_path / "notify.yaml"),
        ],
    )
    assert result.exit_code == 2, result.output
    assert not database.exists()


@pytest.mark.parametrize("command", [["status"], ["snooze", EUI], ["ack", EUI, "--by", "me"]])
def test_state_commands_need_an_existing_registry(tmp_path: Path, command: list[str]) -> None:
    database = tmp_path / "leedswin.sqlite3"
    result = CliRunner().invoke(app, ["fleet", *command, "--registry", str(database)])
    assert result.exit_code == 1, result.output
    assert f"no registry database at {database}" in result.output
    assert not database.exists()


def test_the_example_notifications_file_is_valid() -> None:
    config = load_config(Path(__file__).resolve().parents[2] / "examples" / "notify.yaml")
    assert [r.scope.value for r in config.recipients] == ["operations"]
