"""`leedswin tenancy …` and `leedswin audit …` against a registry file."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from typer.testing import CliRunner

from leedswin.cli import app
from storage.audit import AuditLog, AuditRecord
from storage.registry import open_registry

runner = CliRunner()


def _run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def test_tenancy_lifecycle_from_the_cli(tmp_path: Path) -> None:
    reg = ("--registry", str(tmp_path / "r.sqlite3"))
    assert _run("tenancy", "add-property", "P-001", *reg) == (0, "P-001\n")
    code, out = _run("tenancy", "add-property", "P-001", *reg)
    assert code == 1 and "already exists" in out
    assert (
        _run("tenancy", "assign", "B000000000000001", "P-001", "--start", "2026-01-01", *reg)[0]
        == 0
    )
    code, out = _run("tenancy", "open", "P-001", "--start", "2026-01-01", "--ref", "TEN-0001", *reg)
    assert (code, out) == (0, "TEN-0001\n")
    code, out = _run("tenancy", "open", "P-001", "--start", "2026-02-01", "--ref", "Jane Doe", *reg)
    assert code == 1 and "pseudonymous" in out
    assert _run("tenancy", "end", "TEN-0001", "--end", "2026-06-01", *reg)[0] == 0
    code, out = _run("tenancy", "list", *reg)
    assert code == 0
    assert (
        "tenancy\tTEN-0001\tP-001\t2026-01-01T00:00:00.000000Z\t2026-06-01T00:00:00.000000Z" in out
    )
    assert "device\tb000000000000001\tP-001\t2026-01-01T00:00:00.000000Z\t" in out
    assert _run("tenancy", "end", "TEN-0001", "--end", "not a date", *reg)[0] == 2


def test_audit_list_and_purge(tmp_path: Path) -> None:
    path = tmp_path / "r.sqlite3"
    AuditLog(open_registry(path)).append(
        AuditRecord(
            at=datetime(2020, 1, 1, tzinfo=UTC),
            key_id="k1",
            key_name="housing team",
            scope="housing",
            action="read",
            endpoint="GET /v1/housing/homes/b000000000000001",
            outcome="ok",
            home="b000000000000001",
            client="10.0.0.7",
        )
    )
    code, out = _run("audit", "list", "--home", "b000000000000001", "--registry", str(path))
    assert code == 0 and "housing team\thousing\tread" in out and "10.0.0.7" in out
    code, out = _run("audit", "purge", "--registry", str(path))
    assert (code, out) == (0, "removed 1 records older than 730 days\n")
    code, out = _run("audit", "list", "--registry", str(path))
    assert "audit_purge" in out and "housing team" not in out


def test_audit_list_refuses_bounds_the_log_cannot_hold(tmp_path: Path) -> None:
    reg = ("--registry", str(tmp_path / "r.sqlite3"))
    for flag, value in (
        ("--until", "0001-01-01T00:00:00+01:00"),
        ("--since", "9999-12-31T23:59:59-01:00"),
        ("--since", "0001-01-01T00:00:00+00:01"),
        ("--since", "1900-01-01"),
    ):
        result = runner.invoke(app, ["audit", "list", flag, value, *reg])
        assert result.exit_code == 2, (value, result.output, result.exception)
        assert "1970" in result.output and "Traceback" not in result.output


def test_tenancy_times_the_stores_cannot_hold_are_a_clean_error(tmp_path: Path) -> None:
    reg = ("--registry", str(tmp_path / "r.sqlite3"))
    assert _run("tenancy", "add-property", "PCLI-2", *reg)[0] == 0
    for start in ("0001-01-01", "0001-01-01T00:00:00+00:01", "9999-12-31T23:59:59-01:00"):
        result = runner.invoke(
            app, ["tenancy", "open", "PCLI-2", "--start", start, "--ref", "TY-1", *reg]
        )
        assert result.exit_code == 2, (start, result.output, result.exception)
        assert "1970" in result.output and "Traceback" not in result.output
    result = runner.invoke(
        app, ["tenancy", "assign", "B000000000000001", "PCLI-2", "--start", "0001-01-01", *reg]
    )
    assert result.exit_code == 2
    # Nothing was stored, so everything still reads.
    assert _run("tenancy", "list", *reg) == (0, "")


def test_assign_refuses_a_device_the_device_registry_marks_public(tmp_path: Path) -> None:
    reg = ("--registry", str(tmp_path / "r.sqlite3"))
    devices = tmp_path / "devices.yaml"
    devices.write_text(
        "devices:\n"
        "  - {dev_eui: 'a000000000000001', model: elsys_ers, site: briggate, privacy: public}\n"
        "  - {dev_eui: 'a000000000000002', model: elsys_ers, site: home-0001, privacy: home}\n"
    )
    assert _run("tenancy", "add-property", "P-001", *reg)[0] == 0
    place = ("tenancy", "assign", "--start", "2026-01-01", "--device-registry", str(devices))
    code, out = _run(*place[:2], "a000000000000001", "P-001", *place[2:], *reg)
    assert code == 1 and "public in the device registry" in out
    assert _run(*place[:2], "a000000000000002", "P-001", *place[2:], *reg)[0] == 0
