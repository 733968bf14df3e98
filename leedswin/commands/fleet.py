"""`leedswin fleet`: device health runs, snooze/acknowledge, and the fleet threads of `up`."""

from __future__ import annotations

import json
import logging
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import typer

from core.errors import ConfigError, PlatformError
from core.settings import (
    ApiSettings,
    BridgeSettings,
    ChirpStackSettings,
    FleetSettings,
    InfluxSettings,
    MqttSettings,
    build,
)
from insights.fleet import MAX_SNOOZE_HOURS, FleetStore
from insights.fleet_jobs import open_fleet, run_fleet
from leedswin.commands.registry import known_model
from storage.chirpstack import run_schedule

log = logging.getLogger(__name__)


def _thread(name: str, target: object, *args: object) -> threading.Thread:
    thread = threading.Thread(target=target, args=args, name=name, daemon=True)  # type: ignore[arg-type]
    thread.start()
    return thread


def start_fleet_threads(
    influx: InfluxSettings,
    mqtt: MqttSettings,
    registry_db: Path,
    stop: threading.Event,
    device_registry: Path | None = None,
) -> list[threading.Thread]:
    """The fleet-health ticks (always) and the registry sync from ChirpStack (when
    ``LEEDSWIN_CHIRPSTACK_SYNC_MINUTES`` and a server are set). Both use ``device_registry``
    (wards, homes, coordinates; the file the bridge re-reads on change), else
    ``LEEDSWIN_BRIDGE_DEVICE_REGISTRY``."""
    fleet: FleetSettings = build(FleetSettings)
    chirpstack: ChirpStackSettings = build(ChirpStackSettings)
    registry_file = device_registry or build(BridgeSettings).device_registry
    threads = [_thread("fleet", run_fleet, fleet, influx, registry_db, stop, registry_file, mqtt)]
    if chirpstack.sync_minutes and chirpstack.server:
        if registry_file is None:
            log.warning("event=registry_sync_disabled reason=no LEEDSWIN_BRIDGE_DEVICE_REGISTRY")
        else:
            threads.append(
                _thread("registry-sync", run_schedule, chirpstack, registry_file, known_model, stop)
            )
    return threads


def register(app: typer.Typer) -> None:
    fleet_app = typer.Typer(
        help="Device health: silent devices, batteries, links; notifications.",
        no_args_is_help=True,
    )
    app.add_typer(fleet_app, name="fleet")

    def _store(registry: Path | None) -> FleetStore:
        """The fleet state in an existing registry database (a typo must not create one)."""
        api: ApiSettings = build(ApiSettings, registry=registry)
        if not api.registry.is_file():
            typer.echo(
                f"error: no registry database at {api.registry}"
                " (--registry, LEEDSWIN_API_REGISTRY or the demo's .leedswin/demo.env)",
                err=True,
            )
            raise typer.Exit(1)
        return FleetStore(api.registry)

    @fleet_app.command("run")
    def run(
        once: bool = typer.Option(False, "--once", help="One run, then exit"),
        influx_url: str | None = typer.Option(None, help="http://host:port [LEEDSWIN_INFLUX_URL]"),
        influx_database: str | None = typer.Option(
            None, help="v1 database [LEEDSWIN_INFLUX_DATABASE]"
        ),
        mqtt_url: str | None = typer.Option(None, help="Broker to watch [LEEDSWIN_MQTT_URL]"),
        registry: Path | None = typer.Option(
            None, help="SQLite registry database [LEEDSWIN_API_REGISTRY]"
        ),
        devices: Path | None = typer.Option(
            None, help="Device registry file [LEEDSWIN_BRIDGE_DEVICE_REGISTRY]"
        ),
        notifications: Path | None = typer.Option(
            None, help="Notifications YAML [LEEDSWIN_FLEET_NOTIFICATIONS]"
        ),
    ) -> None:
        """Assess every device, record state changes, send notifications (once or on schedule)."""
        try:
            settings: FleetSettings = build(FleetSettings, notifications=notifications)
            influx: InfluxSettings = build(InfluxSettings, url=influx_url, database=influx_database)
            mqtt: MqttSettings = build(MqttSettings, url=mqtt_url)
            api: ApiSettings = build(ApiSettings, registry=registry)
            device_file = devices or build(BridgeSettings).device_registry
            if not once:
                stop = threading.Event()
                try:
                    run_fleet(settings, influx, api.registry, stop, device_file, mqtt)
                except KeyboardInterrupt:
                    stop.set()
                return
            with open_fleet(settings, influx, api.registry, device_file, mqtt) as service:
                report = service.tick()
        except ConfigError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from exc
        except PlatformError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from exc
        states: dict[str, int] = {}
        for h in report.healths:
            states[h.link] = states.get(h.link, 0) + 1
        typer.echo(
            f"{report.devices} devices: "
            + ", ".join(f"{n} {s}" for s, n in sorted(states.items()))
            + f"; {len(report.transitions)} state changes; {report.queued} notifications queued"
        )
        for t in report.transitions:
            typer.echo(f"{t.name} {t.dev_eui} {t.old} -> {t.new}")

    @fleet_app.command("status")
    def status(
        registry: Path | None = typer.Option(None, help="[LEEDSWIN_API_REGISTRY]"),
        open_only: bool = typer.Option(True, "--open/--all", help="Only open events"),
    ) -> None:
        """Fleet events as JSON lines (newest first)."""
        for event in _store(registry).events(open_only=open_only):
            typer.echo(
                json.dumps(
                    {
                        "id": event.id,
                        "dev_eui": event.dev_eui,
                        "kind": event.kind,
                        "state": event.state,
                        "site": event.site,
                        "privacy": event.privacy,
                        "opened_at": event.opened_at.isoformat(),
                        "resolved_at": event.resolved_at.isoformat() if event.resolved_at else None,
                    }
                )
            )

    @fleet_app.command("snooze")
    def snooze(
        dev_eui: str,
        hours: float = typer.Option(
            24.0, help=f"Hours without notifications (up to {MAX_SNOOZE_HOURS})"
        ),
        registry: Path | None = typer.Option(None, help="[LEEDSWIN_API_REGISTRY]"),
    ) -> None:
        """Hold back notifications about a device for a while (its states are still tracked)."""
        if not 0.01 <= hours <= MAX_SNOOZE_HOURS:  # also refuses nan and inf
            typer.echo(
                f"error: --hours must be between 0.01 and {MAX_SNOOZE_HOURS}, not {hours}",
                err=True,
            )
            raise typer.Exit(2)
        until = datetime.now(UTC) + timedelta(hours=hours)
        if not _store(registry).snooze(dev_eui.lower(), until):
            typer.echo(f"error: no device {dev_eui} in the fleet state", err=True)
            raise typer.Exit(1)
        typer.echo(f"{dev_eui} snoozed until {until:%Y-%m-%d %H:%M} UTC")

    @fleet_app.command("ack")
    def acknowledge(
        dev_eui: str,
        by: str = typer.Option(..., help="Who acknowledges"),
        registry: Path | None = typer.Option(None, help="[LEEDSWIN_API_REGISTRY]"),
    ) -> None:
        """Acknowledge a device's open events: no more escalation notices, recovery still sent."""
        count = _store(registry).acknowledge(dev_eui.lower(), by, datetime.now(UTC))
        if count is None:
            typer.echo(f"error: no device {dev_eui} in the fleet state", err=True)
            raise typer.Exit(1)
        typer.echo(f"{count} open events of {dev_eui} acknowledged by {by}")
