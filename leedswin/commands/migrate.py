"""`leedswin migrate …`: the InfluxDB schema changes of past releases, run once on upgrade.

Each is idempotent and listed in docs/upgrading.md with the release that needs it.
"""

from __future__ import annotations

import typer

from core.errors import ConfigError, PlatformError
from core.settings import InfluxSettings, build
from storage.reclassify import split_home


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
