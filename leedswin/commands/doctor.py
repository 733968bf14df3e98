"""`leedswin doctor`: every check of a deployment, ok or what to fix; exit 1 on any failure."""

from __future__ import annotations

from pathlib import Path

import typer

from core.errors import ConfigError
from core.settings import (
    ApiSettings,
    DoctorSettings,
    GrafanaSettings,
    InfluxSettings,
    MqttSettings,
    build,
)
from leedswin.doctor import Role, check_broker, check_grafana, check_influx, check_registry


def register(app: typer.Typer) -> None:
    @app.command("doctor")
    def doctor_command(
        role: str = typer.Option(
            "bridge",
            help="Whose InfluxDB grants to expect of LEEDSWIN_INFLUX_USERNAME: bridge, insights "
            "or housing (the API). The public user (LEEDSWIN_INFLUX_PUBLIC_USERNAME) is "
            "checked whatever the role",
        ),
        registry: Path | None = typer.Option(None, help="SQLite registry [LEEDSWIN_API_REGISTRY]"),
        skip_broker: bool = typer.Option(False, help="Do not check the broker (the API alone)"),
    ) -> None:
        """Check broker, ACL, InfluxDB databases/retention/grants, registry, Grafana and clocks.

        With LEEDSWIN_INFLUX_HOME_URL the home data's own server is checked too, and the
        public user must have no account on it."""
        if role not in ("bridge", "insights", "housing"):
            raise typer.BadParameter("one of bridge, insights, housing", param_hint="--role")
        try:
            mqtt: MqttSettings = build(MqttSettings)
            influx: InfluxSettings = build(InfluxSettings)
            api: ApiSettings = build(ApiSettings, registry=registry)
            grafana: GrafanaSettings = build(GrafanaSettings)
            doctor: DoctorSettings = build(DoctorSettings)
        except ConfigError as exc:
            typer.echo(f"FAIL  settings: {exc}")
            raise typer.Exit(1) from exc
        typer.echo("ok    settings")
        failed = 0
        checks = [
            check_influx(influx, _role(role), doctor.max_clock_skew),
            check_registry(api.registry),
            check_grafana(grafana),
        ]
        if not skip_broker:
            checks.insert(0, check_broker(mqtt, doctor))
        for group in checks:
            for check in group:
                typer.echo(check.line())
                failed += not check.ok
        if failed:
            typer.echo(f"{failed} check(s) failed")
            raise typer.Exit(1)
        typer.echo("every check ok")


def _role(name: str) -> Role:
    return "insights" if name == "insights" else "housing" if name == "housing" else "bridge"
