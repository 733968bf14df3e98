"""`leedswin dashboards export DIR` and `leedswin dashboards deploy`: Grafana dashboards as code."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from core.errors import ConfigError, PlatformError
from core.settings import GrafanaSettings, build


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
        from dashboards.build import export  # deferred, like deploy's grafana-client

        for path in export(directory):
            typer.echo(str(path))

    @dashboards_app.command("deploy")
    def deploy_command(
        grafana_url: str | None = typer.Option(None, help="[LEEDSWIN_GRAFANA_URL]"),
        token: str | None = typer.Option(None, help="Admin token [LEEDSWIN_GRAFANA_TOKEN]"),
        housing_team: str | None = typer.Option(
            None, help="Team for the housing folder [LEEDSWIN_GRAFANA_HOUSING_TEAM]"
        ),
        housing_permission: str | None = typer.Option(None, help="view | edit, for that team"),
        influx_url: str | None = typer.Option(
            None, help="InfluxDB as Grafana reaches it [LEEDSWIN_GRAFANA_INFLUX_URL]"
        ),
        influx_database: str | None = typer.Option(None, help="[LEEDSWIN_GRAFANA_INFLUX_DATABASE]"),
        influx_user: str | None = typer.Option(None, help="[LEEDSWIN_GRAFANA_INFLUX_USER]"),
        influx_password: str | None = typer.Option(
            None, help="Password or 2.x read token [LEEDSWIN_GRAFANA_INFLUX_PASSWORD]"
        ),
    ) -> None:
        """Create folders, restrict the housing folder, upsert the five dashboards by uid."""
        from dashboards.deploy import Datasource, connect, deploy  # deferred: grafana-client

        console = Console(stderr=True)
        try:
            grafana: GrafanaSettings = build(
                GrafanaSettings,
                url=grafana_url,
                token=token,
                housing_team=housing_team,
                housing_permission=housing_permission,
                influx_url=influx_url,
                influx_database=influx_database,
                influx_user=influx_user,
                influx_password=influx_password,
            )
        except ConfigError as exc:
            raise typer.BadParameter(str(exc)) from exc
        if not grafana.url:
            raise typer.BadParameter("--grafana-url (or LEEDSWIN_GRAFANA_URL) is required")
        password = grafana.influx_password.get_secret_value() if grafana.influx_password else None
        datasource = housing = None
        if grafana.influx_url:
            datasource = Datasource(
                grafana.influx_url, grafana.influx_database, grafana.influx_user, password
            )
            secret = grafana.influx_housing_password
            housing = Datasource(
                grafana.influx_home_url or grafana.influx_url,
                grafana.influx_home_database or f"{grafana.influx_database}_home",
                grafana.influx_housing_user,
                secret.get_secret_value() if secret else None,
            )
        try:
            report = deploy(
                connect(grafana.url, grafana.token.get_secret_value() if grafana.token else None),
                grafana.housing_team,
                grafana.housing_permission,
                datasource,
                housing,
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
