"""`leedswin settings`: the env-var reference, generated from the typed settings classes."""

from __future__ import annotations

from pathlib import Path

import typer
from pydantic_settings import BaseSettings

from core.settings import (
    ApiSettings,
    BridgeSettings,
    ChirpStackSettings,
    FleetSettings,
    GrafanaSettings,
    InfluxSettings,
    InsightsSettings,
    MqttSettings,
)

COMPONENTS: tuple[type[BaseSettings], ...] = (
    MqttSettings,
    InfluxSettings,
    BridgeSettings,
    ApiSettings,
    InsightsSettings,
    GrafanaSettings,
    ChirpStackSettings,
    FleetSettings,
)
START, END = "<!-- settings:start -->", "<!-- settings:end -->"


def settings_markdown() -> str:
    """One table row per setting: env var, default, meaning."""
    rows = ["| env var | default | meaning |", "| --- | --- | --- |"]
    for component in COMPONENTS:
        prefix = component.model_config.get("env_prefix", "")
        for name, field in component.model_fields.items():
            default = field.default
            shown = "" if default is None else str(default)
            if isinstance(default, tuple):
                shown = ", ".join(default)
            meaning = (field.description or "").replace("|", "\\|")
            rows.append(f"| `{prefix}{name.upper()}` | `{shown}` | {meaning} |")
    return "\n".join(rows)


def replace_section(text: str, start: str, end: str, body: str) -> str:
    """Swap what lies between two marker comments; the markers must exist."""
    head, found, rest = text.partition(start)
    _, found_end, tail = rest.partition(end)
    if not (found and found_end):
        raise typer.BadParameter(f"markers {start} … {end} not found")
    return f"{head}{start}\n{body}\n{end}{tail}"


def register(app: typer.Typer) -> None:
    @app.command("settings")
    def settings_command(
        write_readme: Path | None = typer.Option(
            None, help="Rewrite the settings table between the markers in this README"
        ),
    ) -> None:
        """Print every setting as a markdown table (env var, default, meaning)."""
        table = settings_markdown()
        if write_readme is None:
            typer.echo(table)
            return
        write_readme.write_text(replace_section(write_readme.read_text(), START, END, table))
