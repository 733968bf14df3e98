"""`leedswin privacy erase|export --tenancy REF`: erasure and subject access for one tenancy.

Both run with this machine's InfluxDB settings (erasure needs a user that may
write both databases: the insights user, or an admin) and the registry
``LEEDSWIN_API_REGISTRY`` names, and both leave a record in the audit log
(actor: the operating-system user, scope ``cli``).
"""

from __future__ import annotations

import getpass
from datetime import UTC, datetime
from pathlib import Path

import typer

from core.errors import ConfigError, PlatformError
from core.settings import ApiSettings, InfluxSettings, build
from insights.alerts import AlertStore
from insights.lifecycle import erase_tenancy, export_tenancy
from storage.audit import AuditLog, AuditRecord
from storage.provision import apply_retention, shard_duration
from storage.registry import open_registry
from storage.tenancy import Tenancies, TenancyError


def _audit(registry: Path, action: str, ref: str, outcome: str, detail: str) -> None:
    conn = open_registry(registry)
    try:
        AuditLog(conn).append(
            AuditRecord(
                at=datetime.now(UTC),
                key_id="",
                key_name=f"{getpass.getuser()}@cli",
                scope="cli",
                action=action,
                endpoint=f"leedswin privacy {action}",
                outcome=outcome,  # type: ignore[arg-type]
                home=ref,
                client="local",
                detail=detail,
            )
        )
    finally:
        conn.close()


def _settings(registry: Path | None) -> tuple[ApiSettings, InfluxSettings]:
    try:
        return build(ApiSettings, registry=registry), build(InfluxSettings)
    except ConfigError as exc:
        raise typer.BadParameter(str(exc)) from exc


def register(app: typer.Typer) -> None:
    privacy_app = typer.Typer(
        help="A tenancy's personal data: erase it, or export it for a subject access request.",
        no_args_is_help=True,
    )
    app.add_typer(privacy_app, name="privacy")
    registry_option = typer.Option(None, help="SQLite registry [LEEDSWIN_API_REGISTRY]")

    @privacy_app.command("erase")
    def erase(
        tenancy: str = typer.Option(..., help="Tenancy reference"),
        dry_run: bool = typer.Option(False, "--dry-run", help="Only list what would go"),
        registry: Path | None = registry_option,
    ) -> None:
        """Erase an ended tenancy's readings, derived series and alert notes (case record kept)."""
        api, influx = _settings(registry)
        conn = open_registry(api.registry)
        action = "erase_dry_run" if dry_run else "erase"
        try:
            report = erase_tenancy(
                tenancy,
                tenancies=Tenancies(conn),
                alerts=AlertStore(conn),
                influx=influx,
                dry_run=dry_run,
            )
        except TenancyError as exc:
            _audit(api.registry, action, tenancy, "refused", str(exc))
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from None
        except PlatformError as exc:
            _audit(api.registry, action, tenancy, "error", str(exc))
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from None
        finally:
            conn.close()
        verb = "would erase" if dry_run else "erased"
        for database, measurement, dev_eui, points in report.points:
            typer.echo(f"{verb}\t{database}\t{measurement}\t{dev_eui}\t{points}")
        typer.echo(
            f"{verb} {report.total_points} points; alert evidence and notes of"
            f" {len(report.alerts_redacted)} alerts (case records kept);"
            f" {len(report.fleet_events)} device-health events"
        )
        _audit(
            api.registry,
            action,
            tenancy,
            "ok",
            f"{report.total_points} points, alerts {report.alerts_redacted},"
            f" fleet events {report.fleet_events}",
        )

    @privacy_app.command("export")
    def export(
        tenancy: str = typer.Option(..., help="Tenancy reference"),
        out: Path = typer.Option(..., help="Archive to write (.zip)"),
        registry: Path | None = registry_option,
    ) -> None:
        """Everything held about a tenancy: a CSV per series, alerts.json, manifest.json."""
        api, influx = _settings(registry)
        conn = open_registry(api.registry)
        try:
            with out.open("wb") as handle:
                manifest = export_tenancy(
                    tenancy,
                    handle,
                    tenancies=Tenancies(conn),
                    alerts=AlertStore(conn),
                    influx=influx,
                )
        except PlatformError as exc:
            out.unlink(missing_ok=True)
            outcome = "refused" if isinstance(exc, TenancyError) else "error"
            _audit(api.registry, "export", tenancy, outcome, str(exc))
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from None
        finally:
            conn.close()
        rows = sum(int(f.get("rows", 0)) for f in manifest["files"])
        _audit(api.registry, "export", tenancy, "ok", f"{rows} rows to {out.name}")
        typer.echo(f"{out}\t{len(manifest['files'])} files\t{rows} rows")

    @privacy_app.command("retention")
    def retention(
        apply: bool = typer.Option(
            False, "--apply", help="Set the policies (LEEDSWIN_INFLUX_USERNAME must be an admin)"
        ),
    ) -> None:
        """Raw-data retention per class: the default retention policy of each database."""
        _, influx = _settings(None)
        classes = (
            ("public", influx.database, influx.retention),
            ("home", influx.home_db, influx.home_retention),
        )
        if apply:
            try:
                apply_retention(influx)
            except PlatformError as exc:
                typer.echo(f"error: {exc}", err=True)
                raise typer.Exit(1) from None
        for kind, database, duration in classes:
            shard = shard_duration(duration) or "InfluxDB default"
            state = "applied" if apply else "configured"
            typer.echo(f"{kind}\t{database}\t{duration or 'INF'}\tshard {shard}\t{state}")
