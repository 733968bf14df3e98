"""`leedswin backup DIR` / `leedswin restore DIR`: the registry and the configuration file.

InfluxDB has its own tools (`influxd backup -portable`, `influx backup`; see the
README); this covers what only the platform holds: API keys, alerts and their
audit trail (the SQLite registry) and the configuration file.
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import typer

from core.errors import ConfigError
from core.settings import ApiSettings, build, config_file
from leedswin.deploy import render
from storage.backup import copy_database

REGISTRY_FILE = "registry.sqlite3"
CONFIG_FILE = "leedswin.toml"
MANIFEST = "manifest.json"


def register(app: typer.Typer) -> None:
    @app.command("deploy-files")
    def deploy_files_command(
        directory: Path = typer.Argument(Path("deploy"), help="Where to write them"),
        credentials: Path | None = typer.Option(
            None,
            help="Directory of influx-admin, influx-bridge… password files: "
            "the InfluxDB script gets the real passwords instead of placeholders",
        ),
    ) -> None:
        """Write the Mosquitto snippet and ACL and the InfluxDB set-up script."""
        for path in render(directory, credentials):
            typer.echo(f"wrote {path}")

    @app.command("backup")
    def backup_command(
        directory: Path = typer.Argument(..., help="Directory to write the backup into"),
        registry: Path | None = typer.Option(None, help="SQLite registry [LEEDSWIN_API_REGISTRY]"),
    ) -> None:
        """Back up the registry (online: services may keep running) and the configuration file."""
        try:
            api: ApiSettings = build(ApiSettings, registry=registry)
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            version = copy_database(api.registry, directory / REGISTRY_FILE)
        except (ConfigError, OSError) as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from exc
        config = config_file()
        if config is not None:
            shutil.copy2(config, directory / CONFIG_FILE)
        manifest = {
            "taken": datetime.now(UTC).isoformat(timespec="seconds"),
            "registry": str(api.registry.resolve()),
            "registry_schema_version": version,
            "config": str(config.resolve()) if config else None,
        }
        (directory / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        what = f"and config {config}" if config else "(no configuration file in use)"
        typer.echo(f"backed up registry (schema {version}) {what}")

    @app.command("restore")
    def restore_command(
        directory: Path = typer.Argument(..., help="A directory written by `leedswin backup`"),
        registry: Path | None = typer.Option(
            None, help="Registry to replace [LEEDSWIN_API_REGISTRY]"
        ),
        config: Path | None = typer.Option(
            None, "--config-to", help="Where the configuration file goes (default: where it was)"
        ),
    ) -> None:
        """Restore a backup: stop the services first; the next start migrates the registry."""
        try:
            manifest = json.loads((directory / MANIFEST).read_text())
            # The configuration first: the registry's path may be in it.
            target = config or (Path(manifest["config"]) if manifest.get("config") else None)
            if (directory / CONFIG_FILE).is_file() and target is not None:
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(directory / CONFIG_FILE, target)
            api: ApiSettings = build(ApiSettings, registry=registry)
            version = copy_database(directory / REGISTRY_FILE, api.registry)
        except (ConfigError, OSError, ValueError) as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from exc
        what = f"and config {target}" if target else "(the backup holds no configuration file)"
        typer.echo(f"restored registry {api.registry} (schema {version}) {what}")
