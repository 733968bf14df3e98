"""`leedswin dashboards export DIR` and `leedswin dashboards deploy`: Grafana dashboards as code."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, cast

import typer
from rich.console import Console

from core.errors import ConfigError, PlatformError
from dashboards.build import export
from dashboards.deploy import Datasource, connect, deploy


def register(app: typer.Typer) -> None:
    dashboards_app = typer.Typer(
        help="Grafana dashboards: export the JSON for provisioning, or deploy over the API.",
        no_args_is_help=True,
    )
    app.add_typer(dashboards_app, name="dashboards")

    @dashboards_app.command("export")
    def export_command(
        directory: Path = typer.Argument(
            ..., help="Writes DIR/leedswin/*.json and DIR/leedswin-housing/*.json"
        ),
    ) -> None:
        """Write the dashboards' JSON where the provisioning file's providers point."""
        for path in export(directory):
            typer.echo(str(path))

    @dashboards_app.command("deploy")
    def deploy_command(
        grafana_url: str = typer.Option(
            ...,
            envvar="LEEDSWIN_GRAFANA_URL",
            help="https://grafana.example",
        ),
        token: str | None = typer.Option(
            None,
            envvar="LEEDSWIN_GRAFANA_TOKEN",
            help="Service-account token with the Admin role",
        ),
        housing_team: str | None = typer.Option(
            None,
            envvar="LEEDSWIN_GRAFANA_HOUSING_TEAM",
            help="Team given the restricted housing folder; without one only admins see it",
        ),
        housing_permission: str = typer.Option("view", help="view | edit, for the housing team"),
        influx_url: str | None = typer.Option(
            None,
            envvar="LEEDSWIN_GRAFANA_INFLUX_URL",
            help="InfluxDB URL as Grafana reaches it; creates/updates the datasource",
        ),
        influx_database: str = typer.Option("leedswin", help="Database (v1) or DBRP mapping (2.x)"),
        influx_user: str | None = typer.Option(None, envvar="LEEDSWIN_GRAFANA_INFLUX_USER"),
        influx_password: str | None = typer.Option(
            None, envvar="LEEDSWIN_GRAFANA_INFLUX_PASSWORD", help="Password, or a 2.x read token"
        ),
    ) -> None:
        """Create folders, restrict the housing folder, upsert the five dashboards by uid."""
        if housing_permission not in ("view", "edit"):
            raise typer.BadParameter("--housing-permission must be view or edit")
        console = Console(stderr=True)
        datasource = (
            Datasource(influx_url, influx_database, influx_user, influx_password)
            if influx_url
            else None
        )
        try:
            report = deploy(
                connect(grafana_url, token),
                housing_team,
                cast(Literal["view", "edit"], housing_permission),
                datasource,
            )
        except ConfigError as exc:
            console.print(f"[red]deploy refused[/red]: {exc}")
            raise typer.Exit(2) from exc
        except PlatformError as exc:
            console.print(f"[red]deploy failed[/red]: {exc}")
            raise typer.Exit(1) from exc
        console.print(
            f"datasource {report.datasource}; folders created: {len(report.folders_created)};"
            f" dashboards written: {', '.join(report.dashboards_written) or 'none'};"
            f" unchanged: {len(report.dashboards_unchanged)};"
            f" housing team id: {report.housing_team_id if report.housing_team_id is not None else 'none (admins only)'}",
            soft_wrap=True,
        )
