"""`leedswin insights run`: derived series (damp risk + alerts, DAQI, footfall counts).

``--once`` computes a window, deletes home data past their retention and exits
(backfill, with a progress bar); without it the scheduler runs every
``LEEDSWIN_INSIGHTS_INTERVAL`` seconds until interrupted, as it does inside
``leedswin up``, and deletes expired home data at start and every 23 hours.
"""

from __future__ import annotations

import signal
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from core.errors import ConfigError, DeleteUnsupportedError, PlatformError
from core.settings import ApiSettings, BridgeSettings, InfluxSettings, InsightsSettings, build
from decoders.configured import ModelCatalog, install
from insights.jobs import open_jobs, run_scheduler
from storage.retention import expire_home


def register(app: typer.Typer) -> None:
    insights_app = typer.Typer(
        help="Derived series: damp risk and Awaab's Law alerts, DAQI, footfall counts.",
        no_args_is_help=True,
    )
    app.add_typer(insights_app, name="insights")

    @insights_app.command("run")
    def run(
        once: bool = typer.Option(False, "--once", help="Compute one window and exit (backfill)"),
        since: float | None = typer.Option(
            None,
            help="Days back to compute with --once (default: LEEDSWIN_INSIGHTS_RECOMPUTE_HOURS)",
        ),
        influx_url: str | None = typer.Option(None, help="http://host:port [LEEDSWIN_INFLUX_URL]"),
        influx_database: str | None = typer.Option(
            None, help="v1 database [LEEDSWIN_INFLUX_DATABASE]"
        ),
        registry: Path | None = typer.Option(
            None, help="SQLite registry for alerts [LEEDSWIN_API_REGISTRY]"
        ),
        outdoor_temperature: float | None = typer.Option(
            None, help="°C when no outdoor sensor [LEEDSWIN_INSIGHTS_OUTDOOR_TEMPERATURE]"
        ),
    ) -> None:
        """Run the insights jobs once (--once) or on their schedule."""
        try:
            settings: InsightsSettings = build(
                InsightsSettings, outdoor_temperature=outdoor_temperature
            )
            influx: InfluxSettings = build(InfluxSettings, url=influx_url, database=influx_database)
            api: ApiSettings = build(ApiSettings, registry=registry)
            # Configured models' declared units and counters, as the bridge decodes them.
            install(ModelCatalog(build(BridgeSettings).models_dir))
        except ConfigError as exc:
            raise typer.BadParameter(str(exc)) from exc
        if since is not None and since <= 0:
            raise typer.BadParameter("--since must be a positive number of days")
        console = Console(stderr=True)
        if not once:
            stop = threading.Event()
            # systemd stops a service with SIGTERM: finish the run in progress, then exit 0.
            signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
            try:
                run_scheduler(settings, influx, api.registry, stop)
            except KeyboardInterrupt:
                stop.set()
            return
        until = datetime.now(UTC)
        start = until - (
            timedelta(days=since) if since else timedelta(hours=settings.recompute_hours)
        )
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
        )
        try:
            with (
                open_jobs(settings, influx, api.registry) as jobs,
                Progress(*columns, console=console) as bar,
            ):
                tasks: dict[str, TaskID] = {}

                def progress(stage: str, done: int, total: int) -> None:
                    if stage not in tasks:
                        tasks[stage] = bar.add_task(stage, total=total)
                    bar.update(tasks[stage], completed=done, total=total)

                report = jobs.run(start, until, progress)
        except PlatformError as exc:
            console.print(f"[red]insights failed[/red]: {exc}")
            raise typer.Exit(1) from exc
        # As the service does at start: a run from cron or a timer keeps the limit too.
        try:
            expired = expire_home(influx, until)
        except DeleteUnsupportedError as exc:
            console.print(f"[yellow]home data not expired[/yellow]: {exc}")
            expired = None
        except PlatformError as exc:
            console.print(f"[red]home data expiry failed[/red]: {exc}")
            raise typer.Exit(1) from exc
        console.print(
            f"{report.since:%Y-%m-%d %H:%M}–{report.until:%Y-%m-%d %H:%M} UTC:"
            f" damp {report.damp_homes} homes / {report.damp_points} points,"
            f" {len(report.alerts_opened)} alerts opened or escalated;"
            f" DAQI {report.daqi_devices} devices / {report.daqi_points} points;"
            f" footfall {report.footfall_devices} counters / {report.footfall_points} points",
            soft_wrap=True,
        )
        if expired is not None:
            before = datetime.fromtimestamp(expired / 1e9, UTC)
            console.print(f"home data before {before:%Y-%m-%d %H:%M} UTC deleted (retention)")
        for error in report.errors:
            console.print(f"[yellow]{error}[/yellow]")
        if report.errors:
            raise typer.Exit(1)
