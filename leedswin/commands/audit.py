"""`leedswin audit …`: read the audit log of personal-data access; purge by its retention.

There is no command (and no API route) that edits or deletes single records:
the registry's triggers refuse it. ``purge`` removes only records older than
``LEEDSWIN_API_AUDIT_RETENTION_DAYS`` (the API also does this daily).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import typer

from core.errors import ConfigError
from core.settings import ApiSettings, build
from leedswin.commands.tenancy import parse_time
from storage.audit import AuditLog
from storage.registry import open_registry
from storage.tenancy import iso


def _open(registry: Path | None) -> tuple[ApiSettings, AuditLog]:
    try:
        api: ApiSettings = build(ApiSettings, registry=registry)
        return api, AuditLog(open_registry(api.registry))
    except ConfigError as exc:
        raise typer.BadParameter(str(exc)) from exc


def register(app: typer.Typer) -> None:
    audit_app = typer.Typer(
        help="The append-only audit log of personal-data access.", no_args_is_help=True
    )
    app.add_typer(audit_app, name="audit")

    @audit_app.command("list")
    def list_(
        since: str | None = typer.Option(None, help="From (date or RFC 3339)"),
        until: str | None = typer.Option(None, help="To, exclusive"),
        home: str | None = typer.Option(None, help="DevEUI, tenancy or property reference"),
        outcome: str | None = typer.Option(None, help="ok, refused or error"),
        limit: int = typer.Option(1000, min=1, max=100_000),
        registry: Path | None = typer.Option(None, help="SQLite registry [LEEDSWIN_API_REGISTRY]"),
    ) -> None:
        """Records oldest first: time, key, scope, action, endpoint, home, range, client, outcome."""
        if outcome not in (None, "ok", "refused", "error"):
            raise typer.BadParameter("--outcome must be ok, refused or error")
        _, log = _open(registry)
        records = log.query(
            since=parse_time(since) if since else None,
            until=parse_time(until) if until else None,
            home=home,
            outcome=outcome,
            limit=limit,
        )
        for r in records:
            span = f"{iso(r.range_start) if r.range_start else ''}..{iso(r.range_end) if r.range_end else ''}"
            typer.echo(
                "\t".join(
                    (
                        iso(r.at),
                        r.key_id or "-",
                        r.key_name,
                        r.scope,
                        r.action,
                        r.endpoint,
                        r.home or "-",
                        span,
                        r.client or "-",
                        r.outcome,
                        r.detail,
                    )
                )
            )

    @audit_app.command("purge")
    def purge(
        registry: Path | None = typer.Option(None, help="SQLite registry [LEEDSWIN_API_REGISTRY]"),
    ) -> None:
        """Delete records older than the audit log's retention (the only deletion there is)."""
        api, log = _open(registry)
        removed = log.purge(timedelta(days=api.audit_retention_days))
        typer.echo(f"removed {removed} records older than {api.audit_retention_days} days")
