"""The `leedswin` console script: typed flags in, settings built here, work handed down."""

from __future__ import annotations

import logging
import os
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import typer

from core.errors import ConfigError
from core.settings import CONFIG_ENV, check_config, config_file
from leedswin.commands import api as api_command
from leedswin.commands import audit as audit_command
from leedswin.commands import backup as backup_command
from leedswin.commands import bridge as bridge_command
from leedswin.commands import dashboards as dashboards_command
from leedswin.commands import decode as decode_command
from leedswin.commands import devices as devices_command
from leedswin.commands import doctor as doctor_command
from leedswin.commands import fleet as fleet_command
from leedswin.commands import insights as insights_command
from leedswin.commands import migrate as migrate_command
from leedswin.commands import models as models_command
from leedswin.commands import privacy as privacy_command
from leedswin.commands import registry as registry_command
from leedswin.commands import settings
from leedswin.commands import sim as sim_command
from leedswin.commands import tenancy as tenancy_command
from leedswin.commands import up as up_command

app = typer.Typer(
    name="leedswin",
    help="Leeds WIN sensor platform: bridge, decoders, API, insights, dashboards, simulator.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    if value:
        try:
            typer.echo(f"leedswin {version('leedswin')}")
        except PackageNotFoundError:
            typer.echo("leedswin (not installed: no package metadata)")
        raise typer.Exit()


@app.callback()
def main(
    ctx: typer.Context,
    log_level: str = typer.Option(
        "INFO", envvar="LEEDSWIN_LOG_LEVEL", help="DEBUG, INFO, WARNING…"
    ),
    config: Path | None = typer.Option(
        None,
        "--config",
        help=f"Configuration file (TOML) [{CONFIG_ENV}; default /etc/leedswin/leedswin.toml]",
    ),
    show_version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True, help="Print the version"
    ),
) -> None:
    """Structured key=value logs on stderr for every command."""
    if config is not None:
        # Through the environment, so the settings every command builds (and the
        # processes `leedswin up` starts) read the same file.
        os.environ[CONFIG_ENV] = str(config)
    path = config_file()
    # `restore` may be what brings a lost configuration file back.
    if path is not None and ctx.invoked_subcommand != "restore":
        try:
            check_config(path, settings.COMPONENTS)
        except ConfigError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from exc
    logging.basicConfig(
        level=log_level.upper(),
        format="time=%(asctime)s level=%(levelname)s logger=%(name)s %(message)s",
    )
    if logging.getLogger().getEffectiveLevel() > logging.DEBUG:
        # httpx logs every request URL (each InfluxDB query) at INFO: only wanted when debugging.
        logging.getLogger("httpx").setLevel(logging.WARNING)


settings.register(app)
api_command.register(app)
bridge_command.register(app)
sim_command.register(app)
decode_command.register(app)
devices_command.register(app)
insights_command.register(app)
dashboards_command.register(app)
up_command.register(app)
models_command.register(app)
registry_command.register(app)
fleet_command.register(app)
tenancy_command.register(app)
audit_command.register(app)
privacy_command.register(app)
doctor_command.register(app)
backup_command.register(app)
migrate_command.register(app)
