"""`leedswin registry sync`: the device registry file filled from ChirpStack's gRPC API."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import typer

from core.errors import ChirpStackAuthError, ChirpStackError, ConfigError
from core.settings import BridgeSettings, ChirpStackSettings, build
from decoders import supported_models
from storage.chirpstack import ChirpStackClient, slug, sync


@cache
def _aliases() -> dict[str, str]:
    """Slugs a profile name or ``model`` tag may use for each model key: the key itself and
    "<vendor> <name>" (``Milesight AM319`` -> ``milesight-am319``)."""
    aliases: dict[str, str] = {}
    for info in supported_models():
        key = info["model"]
        aliases[slug(key)] = key
        aliases[slug(f"{info['vendor'].split()[0]} {info['name']}")] = key
    return aliases


def known_model(name: str) -> str | None:
    """The model key a ChirpStack profile name or ``model`` tag names, None if no decoder has it."""
    return _aliases().get(slug(name))


def register(app: typer.Typer) -> None:
    registry_app = typer.Typer(
        help="The device registry file the bridge reads.", no_args_is_help=True
    )
    app.add_typer(registry_app, name="registry")

    @registry_app.command("sync")
    def sync_command(
        chirpstack: str | None = typer.Option(
            None, help="ChirpStack gRPC API HOST:PORT [LEEDSWIN_CHIRPSTACK_SERVER]"
        ),
        registry: Path | None = typer.Option(
            None, help="Registry file, YAML or CSV [LEEDSWIN_BRIDGE_DEVICE_REGISTRY]"
        ),
        tls: bool | None = typer.Option(
            None, "--tls/--no-tls", help="TLS to ChirpStack [LEEDSWIN_CHIRPSTACK_TLS]"
        ),
        tenant: list[str] | None = typer.Option(
            None, help="Tenant id to read (repeat); default every tenant the key may list"
        ),
        dry_run: bool = typer.Option(
            False, "--dry-run", help="Print the difference, write nothing"
        ),
    ) -> None:
        """Read applications, devices and device profiles from ChirpStack into the registry file.

        The API token comes from LEEDSWIN_CHIRPSTACK_API_TOKEN (or _FILE), never a flag.
        Exit 0 done, 1 ChirpStack unreachable or failing, 2 bad settings, 3 token refused.
        """
        try:
            settings: ChirpStackSettings = build(
                ChirpStackSettings,
                server=chirpstack,
                tls=tls,
                tenant_ids=tuple(tenant) if tenant else None,
            )
            path = registry or build(BridgeSettings).device_registry
            if path is None:
                raise ConfigError("no registry file: give --registry FILE")
            with ChirpStackClient(settings) as client:
                result = sync(client, path, known_model, dry_run=dry_run)
        except ChirpStackAuthError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(3) from exc
        except ChirpStackError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from exc
        except ConfigError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from exc
        for line in result.diff_lines():
            typer.echo(line)
        verb = "would change" if dry_run else "changed"
        typer.echo(
            f"{len(result.records)} devices; {verb}: {len(result.added)} added,"
            f" {len(result.changed)} updated, {len(result.removed)} marked removed;"
            f" {len(result.warnings)} warnings"
        )
