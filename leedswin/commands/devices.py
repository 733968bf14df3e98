"""`leedswin devices reclassify`: a device changes privacy, and its history moves with it.

Home data live in their own database, so reclassifying a device is not just an
edit of the registry: ``storage.reclassify.move_device`` rewrites every stored
point of it into the other database with the new ``privacy`` tag, then the
insights jobs recompute the derived series (site DAQI, site footfall, the site
rollups) over the moved time range so no site figure keeps a home's readings, and
the device's state (``storage.state``) takes the new privacy.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import typer

from core.errors import ConfigError, PlatformError
from core.settings import ApiSettings, BridgeSettings, InfluxSettings, InsightsSettings, build
from insights.jobs import open_jobs
from insights.rollups import drop_rollups
from storage.devices import set_privacy
from storage.erasure import DeviceRange
from storage.reclassify import MoveReport, check_deletable, delete_site_series, move_device
from storage.registry import open_registry
from storage.schema import PRIVACY_HOME, PRIVACY_PUBLIC
from storage.state import STATE_MEASUREMENTS, DeviceState

#: Most history the derived series are recomputed over after a move.
MAX_RECOMPUTE = timedelta(days=400)


def _move_state(
    registry: Path, influx: InfluxSettings, dev_eui: str, privacy: str, report: MoveReport
) -> None:
    """Device state follows the device's privacy; the site rollups over the moved range are
    dropped and marked for the rollup job (run below with the other derived series), so no
    public site figure keeps a home's readings."""
    conn = open_registry(registry)
    try:
        state = DeviceState(conn)
        state.reclassify(dev_eui, privacy)
        if report.first_ns is not None and report.last_ns is not None:
            first = report.first_ns
            # Marked before the deletes (should they fail, the API answers there from raw
            # points) and after them (a rollup run in between took the first mark, and the
            # deletes then removed the site rows it had recomputed).
            for measurement in STATE_MEASUREMENTS:
                state.mark(measurement, first)
            # InfluxQL DELETE on 1.x, the delete API on 2.x; InfluxDB 3 raises, never skips.
            drop_rollups(influx, [DeviceRange(dev_eui, first, report.last_ns + 1)])
            for measurement in STATE_MEASUREMENTS:
                state.mark(measurement, first)
    finally:
        conn.close()


def register(app: typer.Typer) -> None:
    devices_app = typer.Typer(help="Devices: reclassify public <-> home.", no_args_is_help=True)
    app.add_typer(devices_app, name="devices")

    @devices_app.command("reclassify")
    def reclassify(
        dev_eui: str = typer.Argument(..., help="16 hex digits"),
        privacy: str = typer.Option(..., help="public or home"),
        registry: Path | None = typer.Option(
            None, help="Device registry to update [LEEDSWIN_BRIDGE_DEVICE_REGISTRY]"
        ),
        recompute: bool = typer.Option(True, help="Recompute derived series over the moved range"),
    ) -> None:
        """Set a device's privacy in the registry and move its stored history to match."""
        dev_eui = dev_eui.strip().lower()
        if privacy not in (PRIVACY_PUBLIC, PRIVACY_HOME):
            raise typer.BadParameter("--privacy must be public or home")
        changed = False
        try:
            bridge: BridgeSettings = build(BridgeSettings, device_registry=registry)
            influx: InfluxSettings = build(InfluxSettings)
            # Before the registry changes: InfluxDB 3 cannot delete the old points, and a
            # registry saying home over history still public would hide that nothing moved.
            check_deletable(influx, dev_eui)
            if bridge.device_registry is not None:
                record = set_privacy(bridge.device_registry, dev_eui, privacy)
                changed = True
                typer.echo(f"registry {bridge.device_registry}: {record.dev_eui} is {privacy}")
            else:
                typer.echo(
                    "no device registry given: only the history moves; the bridge's registry"
                    " must say the same or new uplinks keep the old privacy",
                    err=True,
                )
            report = move_device(influx, dev_eui, privacy)  # type: ignore[arg-type]
        except (ConfigError, ValueError) as exc:
            raise typer.BadParameter(str(exc)) from exc
        except PlatformError as exc:
            typer.echo(f"reclassify failed: {exc}", err=True)
            if changed:
                # New uplinks already go to the right database; a re-run moves what is left.
                typer.echo(
                    f"the registry already says {privacy}: run the same command again to"
                    " finish moving the history",
                    err=True,
                )
            raise typer.Exit(1) from exc
        api: ApiSettings = build(ApiSettings)
        try:
            _move_state(api.registry, influx, dev_eui, privacy, report)
        except PlatformError as exc:
            typer.echo(
                f"reclassify failed after the points moved: {exc}; the rollups over the moved"
                " range may still hold the device's readings",
                err=True,
            )
            raise typer.Exit(1) from exc
        detail = ", ".join(f"{name} {n}" for name, n in sorted(report.moved.items()))
        typer.echo(f"moved {report.total} points of {dev_eui} ({detail or 'none stored'})")
        if recompute and report.first_ns is not None and report.last_ns is not None:
            now = datetime.now(UTC)
            since = max(datetime.fromtimestamp(report.first_ns / 1e9, UTC), now - MAX_RECOMPUTE)
            until = min(datetime.fromtimestamp(report.last_ns / 1e9, UTC) + timedelta(hours=2), now)
            try:
                for site in sorted(report.sites):
                    delete_site_series(influx, site, int(since.timestamp() * 1e9), report.last_ns)
                with open_jobs(build(InsightsSettings), influx, api.registry) as jobs:
                    result = jobs.run(since, until)
            except (PlatformError, ValueError) as exc:
                typer.echo(
                    f"reclassify: the points moved, but recomputing the sites' DAQI and footfall"
                    f" failed: {exc}; run `leedswin insights run --once --since"
                    f" {max(1, (now - since).days + 1)}` to finish",
                    err=True,
                )
                raise typer.Exit(1) from exc
            typer.echo(
                f"derived series recomputed {result.since:%Y-%m-%d %H:%M}–{result.until:%Y-%m-%d %H:%M}"
                f" UTC: {result.daqi_points} DAQI, {result.footfall_points} footfall points"
            )
