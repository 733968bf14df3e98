"""`leedswin up`: the whole platform on this machine, for demos and for trying it out.

A private Mosquitto and InfluxDB (loopback, free ports), the bridge, the API,
the insights scheduler and the simulator: first a backfill of recent history
(so charts, aggregates and damp risk have something to show), then live
uplinks at a visible rate. Ctrl-C, SIGTERM or ``--duration`` stops everything
it started, by PID.
"""

from __future__ import annotations

import shutil
import signal
import socket
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import typer

from core.settings import (
    ApiSettings,
    BridgeSettings,
    InfluxSettings,
    InsightsSettings,
    MqttSettings,
    build,
)
from firmware_sim.publisher import SimOptions
from firmware_sim.run import run_simulation
from gateway_bridge.service import serve as serve_bridge
from insights.jobs import open_jobs, run_scheduler
from leedswin.commands.fleet import start_fleet_threads
from leedswin.services import LOOPBACK, LocalInfluxDB, LocalMosquitto, free_port
from storage.query import InfluxQL
from storage.registry import ApiKeys, Scope, open_registry

DATABASE = "leedswin"
BACKFILL_INTERVAL = 900.0


def _api_port(wanted: int) -> int:
    """The wanted port if nothing listens there, else any free one."""
    with socket.socket() as sock:
        try:
            sock.bind((LOOPBACK, wanted))
        except OSError:
            return free_port()
    return wanted


def _wait_for_uplinks(influx: InfluxSettings, expected: int, timeout: float) -> int:
    """Poll until the bridge has stored ``expected`` uplink points (or time runs out)."""
    query = InfluxQL(influx)
    try:
        deadline = time.monotonic() + timeout
        count = 0
        while time.monotonic() < deadline:
            series = query.query('SELECT count("f_cnt") FROM "uplink"')
            count = int(series[0].values[0][1]) if series and series[0].values else 0
            if count >= expected:
                break
            time.sleep(0.5)
        return count
    finally:
        query.close()


def _thread(name: str, target: Callable[[], object]) -> threading.Thread:
    thread = threading.Thread(target=target, name=name, daemon=True)
    thread.start()
    return thread


def register(app: typer.Typer) -> None:
    @app.command("up")
    def up(
        duration: float | None = typer.Option(None, help="Stop after this many seconds"),
        devices: int = typer.Option(40, min=1, help="Simulated devices (spread over all models)"),
        rate: float = typer.Option(5.0, min=0.1, help="Live uplinks per second"),
        backfill_hours: int = typer.Option(48, min=0, help="History simulated before going live"),
        seed: int = typer.Option(1, help="Simulator seed"),
        api_port: int = typer.Option(8000, help="API port on 127.0.0.1 (a free one if taken)"),
        data_dir: Path | None = typer.Option(
            None, help="Keep servers' data and the key registry here (default: a temp dir)"
        ),
    ) -> None:
        """Run broker, InfluxDB, bridge, API, insights and simulator together until stopped."""
        import uvicorn  # deferred: other commands need not load FastAPI

        from api.main import create_app

        root = data_dir or Path(tempfile.mkdtemp(prefix="leedswin-up-"))
        root.mkdir(parents=True, exist_ok=True)
        stop = threading.Event()
        # Ctrl-C and SIGTERM both just set ``stop``: everything then winds down in order
        # (simulator, API, bridge drained) before the servers are stopped by PID.
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())
        broker = LocalMosquitto(root / "mosquitto")
        database = LocalInfluxDB(root / "influxdb")
        threads: list[threading.Thread] = []
        api_server = None
        try:
            broker.start()
            database.start()
            mqtt = build(MqttSettings, url=broker.url)
            influx = build(InfluxSettings, url=database.url, database=DATABASE)
            api = build(ApiSettings, port=_api_port(api_port), registry=root / "registry.sqlite3")
            insights = build(InsightsSettings, interval=60.0)
            keys = ApiKeys(open_registry(api.registry))
            _, public_key = keys.create("demo innovator", Scope.PUBLIC)
            _, housing_key = keys.create("demo housing officer", Scope.HOUSING)

            bridge_ready = threading.Event()
            threads.append(
                _thread(
                    "bridge",
                    lambda: serve_bridge(
                        mqtt, influx, build(BridgeSettings), stop, ready=bridge_ready
                    ),
                )
            )
            if not bridge_ready.wait(30):
                raise typer.Exit(f"the bridge did not subscribe to {broker.url} within 30 s")

            api_server = uvicorn.Server(
                uvicorn.Config(
                    create_app(api, influx, mqtt),
                    host=api.host,
                    port=api.port,
                    log_level="warning",
                    ws="websockets-sansio",
                )
            )
            threads.append(_thread("api", api_server.run))

            base = f"http://{api.host}:{api.port}"
            typer.echo(
                f"MQTT broker   {broker.url}  (pid {broker.pid})\n"
                f"InfluxDB      {database.url}  database {DATABASE}  (pid {database.pid})\n"
                f"API           {base}/docs   metrics {base}/metrics\n"
                f"public key    {public_key}\n"
                f"housing key   {housing_key}\n"
                f"try: curl -H 'X-API-Key: {public_key}' {base}/v1/devices\n"
                f"data in {root}" + ("" if data_dir else " (removed on exit)")
            )

            uplinks = int(backfill_hours * 3600 / BACKFILL_INTERVAL)
            if uplinks:
                backfill = run_simulation(
                    mqtt,
                    SimOptions(
                        devices=devices,
                        uplinks=uplinks,
                        seed=seed,
                        interval=BACKFILL_INTERVAL,
                        corrupt=0.002,
                        unknown=1,
                    ),
                    stop=stop,
                )
                stored = _wait_for_uplinks(influx, backfill.published, timeout=120)
                typer.echo(
                    f"backfill: {backfill.published} uplinks over {backfill_hours} h published,"
                    f" {stored} stored"
                )
                with open_jobs(insights, influx, api.registry) as jobs:
                    now = datetime.now(UTC)
                    report = jobs.run(now - timedelta(hours=backfill_hours), now)
                    typer.echo(
                        f"insights: {report.damp_points} damp-risk, {report.daqi_points} DAQI,"
                        f" {report.footfall_points} footfall points;"
                        f" {len(report.alerts_opened)} damp alerts opened"
                    )

            threads.append(
                _thread("insights", lambda: run_scheduler(insights, influx, api.registry, stop))
            )
            threads.extend(start_fleet_threads(influx, mqtt, api.registry, stop))
            live = SimOptions(devices=devices, uplinks=0, seed=seed, live=True)
            threads.append(
                _thread("simulator", lambda: run_simulation(mqtt, live, rate=rate, stop=stop))
            )
            typer.echo(f"live: {rate:g} uplinks/s from {devices} devices; Ctrl-C to stop")
            stop.wait(duration)
        finally:
            stop.set()
            if api_server is not None:
                api_server.should_exit = True
            for thread in threads:
                thread.join(timeout=40)
            database.stop()
            broker.stop()
            if data_dir is None:
                shutil.rmtree(root, ignore_errors=True)
            typer.echo("stopped")
