"""`leedswin migrate …`: the InfluxDB schema changes of past releases, run once on upgrade.

Each is idempotent and listed in docs/upgrading.md with the release that needs it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import typer

from core.errors import ConfigError, PlatformError
from core.settings import ApiSettings, InfluxSettings, build
from storage.query import InfluxQL, time_ns
from storage.reclassify import split_home
from storage.registry import open_registry
from storage.state import DeviceState, rows_from_raw


def register(app: typer.Typer) -> None:
    migrate_app = typer.Typer(
        help="InfluxDB migrations between releases (docs/upgrading.md).", no_args_is_help=True
    )
    app.add_typer(migrate_app, name="migrate")

    @migrate_app.command("split-home")
    def split_home_command(
        influx_url: str | None = typer.Option(None, help="http://host:port [LEEDSWIN_INFLUX_URL]"),
        influx_database: str | None = typer.Option(
            None, help="v1 database [LEEDSWIN_INFLUX_DATABASE]"
        ),
    ) -> None:
        """Move home devices' points from the public database to the home database."""
        try:
            influx: InfluxSettings = build(InfluxSettings, url=influx_url, database=influx_database)
            report, left = split_home(influx)
        except (ConfigError, PlatformError) as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from exc
        moved = ", ".join(f"{name} {count}" for name, count in sorted(report.moved.items()))
        typer.echo(f"moved {report.total} points to {influx.home_db}: {moved or 'none'}")
        if left:
            typer.echo(f"{len(left)} series tagged home remain in {influx.database}:", err=True)
            for key in left:
                typer.echo(f"  {key}", err=True)
            raise typer.Exit(1)

    @migrate_app.command("device-state")
    def device_state(
        check: bool = typer.Option(
            False,
            "--check",
            help="Only compare the stored state with the raw data; exit 1 if they differ",
        ),
        days: int = typer.Option(
            366, min=1, help="How far back to look for each device's newest points"
        ),
        influx_url: str | None = typer.Option(None, help="http://host:port [LEEDSWIN_INFLUX_URL]"),
        influx_database: str | None = typer.Option(
            None, help="v1 database [LEEDSWIN_INFLUX_DATABASE]"
        ),
        registry: Path | None = typer.Option(None, help="SQLite registry [LEEDSWIN_API_REGISTRY]"),
    ) -> None:
        """(Re)build device state (latest values, last seen) from the raw data: on upgrade to the
        release that added it, or to prove the bridge's state agrees with InfluxDB."""
        try:
            influx: InfluxSettings = build(InfluxSettings, url=influx_url, database=influx_database)
            api: ApiSettings = build(ApiSettings, registry=registry)
            since = time_ns(datetime.now(UTC) - timedelta(days=days))
            with InfluxQL(influx) as client:
                raw = rows_from_raw(client, (influx.database, influx.home_db), since)
            conn = open_registry(api.registry)
        except (ConfigError, PlatformError) as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from exc
        try:
            state = DeviceState(conn)
            if check:
                stored = [f for f in state.fields() if f.time_ns >= since]
                differ = sorted(set(stored) ^ set(raw), key=lambda f: (f.dev_eui, f.field))
                typer.echo(
                    f"{len(stored)} state rows, {len(raw)} from raw data, {len(differ)} differ"
                )
                for row in differ[:20]:
                    typer.echo(f"  {row}", err=True)
                if differ:
                    raise typer.Exit(1)
                return
            written = state.replace(raw)
            devices = len({f.dev_eui for f in raw})
            typer.echo(f"device state rebuilt: {written} rows for {devices} devices")
        finally:
            conn.close()
