"""`leedswin api` serves the HTTP API; `leedswin keys create|list|revoke` manages its API keys."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from core.errors import ConfigError
from core.settings import ApiSettings, BridgeSettings, InfluxSettings, MqttSettings, build
from leedswin.commands.options import InfluxCaFile, MqttCaFile, MqttCertFile, MqttKeyFile, MqttUrl
from storage.registry import ApiKeys, Scope, open_registry

_REGISTRY_HELP = "SQLite registry file [LEEDSWIN_API_REGISTRY]"


def _keys(registry: Path | None) -> ApiKeys:
    settings: ApiSettings = build(ApiSettings, registry=registry)
    return ApiKeys(open_registry(settings.registry))


def register(app: typer.Typer) -> None:
    @app.command("api")
    def api_command(
        influx_url: str | None = typer.Option(
            None, help="http(s)://host:port [LEEDSWIN_INFLUX_URL]"
        ),
        influx_ca_file: InfluxCaFile = None,
        influx_database: str | None = typer.Option(
            None, help="v1 database [LEEDSWIN_INFLUX_DATABASE]"
        ),
        mqtt_url: MqttUrl = None,
        mqtt_ca_file: MqttCaFile = None,
        mqtt_cert_file: MqttCertFile = None,
        mqtt_key_file: MqttKeyFile = None,
        port: int | None = typer.Option(None, help="Port on 127.0.0.1 [LEEDSWIN_API_PORT]"),
        registry: Path | None = typer.Option(None, help=_REGISTRY_HELP),
        device_registry: Path | None = typer.Option(
            None, help="Device registry (ward, lat/lon) [LEEDSWIN_BRIDGE_DEVICE_REGISTRY]"
        ),
    ) -> None:
        """Serve the API (readings, aggregates, live feed) until interrupted."""
        from api.main import serve  # deferred: other commands need not load FastAPI

        try:
            api = build(ApiSettings, port=port, registry=registry)
            influx = build(
                InfluxSettings, url=influx_url, ca_file=influx_ca_file, database=influx_database
            )
            mqtt = build(
                MqttSettings,
                url=mqtt_url,
                ca_file=mqtt_ca_file,
                cert_file=mqtt_cert_file,
                key_file=mqtt_key_file,
            )
            bridge = build(BridgeSettings, device_registry=device_registry)
        except ConfigError as exc:
            raise typer.BadParameter(str(exc)) from exc
        serve(api, influx, mqtt, bridge.device_registry)

    keys_app = typer.Typer(
        help="API keys: create (shown once), list, revoke.", no_args_is_help=True
    )
    app.add_typer(keys_app, name="keys")

    @keys_app.command("create")
    def create_key(
        name: str = typer.Option(..., help="Who the key is for"),
        scope: Scope = typer.Option(
            Scope.PUBLIC,
            help="public, operations, housing or admin (each includes the ones before it)",
        ),
        registry: Path | None = typer.Option(None, help=_REGISTRY_HELP),
    ) -> None:
        """Create a key and print it: it is stored hashed and cannot be shown again."""
        try:
            key, token = _keys(registry).create(name, scope)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--name") from exc
        typer.echo(f"key_id={key.key_id} scope={key.scope.value} name={key.name!r}", err=True)
        typer.echo(token)

    @keys_app.command("list")
    def list_keys(registry: Path | None = typer.Option(None, help=_REGISTRY_HELP)) -> None:
        """List keys (ids, names, scopes, dates); never the secrets."""
        table = Table("key_id", "name", "scope", "created", "revoked")
        for key in _keys(registry).list():
            table.add_row(
                key.key_id,
                key.name,
                key.scope.value,
                key.created.isoformat(),
                key.revoked.isoformat() if key.revoked else "",
            )
        Console(width=200).print(table)

    @keys_app.command("revoke")
    def revoke_key(
        key_id: str = typer.Argument(..., help="The key_id shown by `keys list`"),
        registry: Path | None = typer.Option(None, help=_REGISTRY_HELP),
    ) -> None:
        """Revoke a key; requests with it get 401 from then on."""
        if not _keys(registry).revoke(key_id):
            typer.echo(f"no active key {key_id}", err=True)
            raise typer.Exit(1)
        typer.echo(f"revoked {key_id}")
