"""`leedswin up`: the whole platform on this machine, for demos and for trying it out.

A private Mosquitto (accounts and ACLs, no anonymous access) and InfluxDB
(authentication on, home data in a database of their own) on free loopback
ports, the bridge, the API, the insights scheduler and the simulator: first a
backfill of recent history (so charts, aggregates, damp alerts and
week-on-week footfall have something to show), then live uplinks at a visible
rate. Everything lives in one persistent directory (``$LEEDSWIN_HOME``, default
``./.leedswin``) whose ``demo.env`` every other `leedswin` command reads, so
they work against the running demo without flags. Ctrl-C, SIGTERM or
``--duration`` stops everything it started, by PID.
"""

from __future__ import annotations

import signal
import socket
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import typer
from prometheus_client import CollectorRegistry

from core.settings import (
    DEFAULT_HOME,
    DEMO_ENV_FILE,
    HOME_ENV,
    ApiSettings,
    BridgeSettings,
    InfluxSettings,
    InsightsSettings,
    MqttSettings,
    build,
    state_dir,
)
from firmware_sim.fleet import build_fleet
from firmware_sim.publisher import SimOptions
from firmware_sim.run import run_simulation
from gateway_bridge.service import serve as serve_bridge
from insights.jobs import open_jobs, run_scheduler
from leedswin.commands.fleet import start_fleet_threads
from leedswin.commands.sim import write_registry
from leedswin.demo import INFLUX_USERS, Credentials, write_env_file
from leedswin.services import (
    BRIDGE_ACCOUNT,
    HOUSING_ACCOUNT,
    LOOPBACK,
    NETWORK_ACCOUNT,
    SIM_ACCOUNT,
    LocalInfluxDB,
    LocalMosquitto,
    free_port,
)
from storage.provision import provision
from storage.registry import ApiKeys, Scope, open_registry

DATABASE = "leedswin"
BACKFILL_INTERVAL = 900.0
#: Nine days: week-on-week footfall needs the same hour eight days back at least,
#: and damp homes cross the alert thresholds of the 7-day shares within it.
DEFAULT_BACKFILL_HOURS = 9 * 24


def port_in_use(port: int) -> bool:
    """True if something listens on loopback:``port``.

    SO_REUSEADDR, as uvicorn binds: a socket of a quick restart in TIME_WAIT must
    not make the documented port look taken.
    """
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((LOOPBACK, port))
        except OSError:
            return True
    return False


def _wait_for_bridge(metrics: CollectorRegistry, messages: float, timeout: float) -> int:
    """Poll the bridge's counters until it has acknowledged ``messages`` (or time runs out).

    Counted by the bridge, not in InfluxDB: a persistent demo directory already
    holds earlier runs' points for the same hours.
    """
    deadline = time.monotonic() + timeout
    acked = 0.0
    while time.monotonic() < deadline:
        acked = metrics.get_sample_value("leedswin_bridge_acked_total") or 0.0
        if acked >= messages:
            break
        time.sleep(0.5)
    return int(metrics.get_sample_value("leedswin_bridge_written_total") or 0)


def _thread(name: str, target: Callable[[], object]) -> threading.Thread:
    thread = threading.Thread(target=target, name=name, daemon=True)
    thread.start()
    return thread


def _dead_letters(metrics: CollectorRegistry) -> str:
    """``12 (bad_length 7, unknown_device 5)`` from the bridge's counters."""
    by_reason: dict[str, int] = {}
    for family in metrics.collect():
        if family.name == "leedswin_bridge_dead_lettered":
            for sample in family.samples:
                if sample.name.endswith("_total") and sample.value:
                    by_reason[sample.labels["reason"]] = int(sample.value)
    total = sum(by_reason.values())
    detail = ", ".join(f"{reason} {n}" for reason, n in sorted(by_reason.items()))
    return f"{total} ({detail})" if detail else "0"


def _demo_keys(keys: ApiKeys) -> dict[Scope, str]:
    """Fresh demo keys for this start; those of earlier starts are revoked (never shown again)."""
    for key in keys.list():
        if key.active and key.name.startswith("demo "):
            keys.revoke(key.key_id)
    names = {
        Scope.PUBLIC: "demo innovator",
        Scope.HOUSING: "demo housing officer",
        Scope.ADMIN: "demo admin",
    }
    return {scope: keys.create(name, scope)[1] for scope, name in names.items()}


def register(app: typer.Typer) -> None:
    @app.command("up")
    def up(
        duration: float | None = typer.Option(None, help="Stop after this many seconds"),
        devices: int = typer.Option(40, min=1, help="Simulated devices (spread over all models)"),
        rate: float = typer.Option(5.0, min=0.1, help="Live uplinks per second"),
        backfill_hours: int = typer.Option(
            DEFAULT_BACKFILL_HOURS, min=0, help="History simulated before going live"
        ),
        seed: int = typer.Option(1, help="Simulator seed"),
        api_port: int = typer.Option(8000, help="API port on 127.0.0.1 (a free one if taken)"),
        data_dir: Path | None = typer.Option(
            None, help=f"The demo's directory [{HOME_ENV}, default ./{DEFAULT_HOME}]"
        ),
    ) -> None:
        """Run broker, InfluxDB, bridge, API, insights and simulator together until stopped."""
        from api.main import create_app, make_server  # deferred: others need not load FastAPI

        root = (data_dir or state_dir()).absolute()
        root.mkdir(parents=True, exist_ok=True, mode=0o700)
        stop = threading.Event()
        # Ctrl-C and SIGTERM both just set ``stop``: everything then winds down in order
        # (simulator, API, bridge drained) before the servers are stopped by PID.
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())
        secrets_ = Credentials.load_or_create(root)
        broker = LocalMosquitto(root / "mosquitto", accounts=secrets_.mqtt)
        database = LocalInfluxDB(root / "influxdb", auth=True)
        # Home data on an InfluxDB of their own: on a shared 1.x server any user sees running
        # queries and /debug/vars shows per-database activity (README, "Home data…").
        home_database = LocalInfluxDB(root / "influxdb-home", auth=True)
        threads: list[threading.Thread] = []
        api_server = None
        bridge_metrics = CollectorRegistry()
        try:
            broker.start()
            database.start()
            home_database.start()

            def mqtt_as(account: str, **extra: object) -> MqttSettings:
                return build(
                    MqttSettings,
                    url=broker.url,
                    username=account,
                    password=secrets_.mqtt[account],
                    **extra,
                )

            def influx_as(role: str, **extra: object) -> InfluxSettings:
                account = secrets_.influx_account(role)
                return build(
                    InfluxSettings,
                    url=database.url,
                    home_url=home_database.url,
                    database=DATABASE,
                    username=account.username,
                    password=account.password,
                    create_database=False,
                    **extra,
                )

            base_influx = build(
                InfluxSettings, url=database.url, home_url=home_database.url, database=DATABASE
            )
            provision(
                base_influx,
                secrets_.influx_admin,
                {role: secrets_.influx_account(role) for role in INFLUX_USERS},  # type: ignore[misc]
            )
            public = secrets_.influx_account("public")
            insights_influx = influx_as("insights")
            eraser = secrets_.influx_account("insights")
            api_influx = influx_as(
                "housing",
                public_username=public.username,
                public_password=public.password,
                erasure_username=eraser.username,
                erasure_password=eraser.password,
            )
            port_taken = port_in_use(api_port)
            api = build(
                ApiSettings,
                port=free_port() if port_taken else api_port,
                registry=root / "registry.sqlite3",
            )
            insights = build(InsightsSettings, interval=60.0)
            demo_keys = _demo_keys(ApiKeys(open_registry(api.registry)))
            write_env_file(
                root / DEMO_ENV_FILE,
                {
                    "LEEDSWIN_MQTT_URL": broker.url,
                    "LEEDSWIN_MQTT_USERNAME": SIM_ACCOUNT,
                    "LEEDSWIN_MQTT_PASSWORD": secrets_.mqtt[SIM_ACCOUNT],
                    "LEEDSWIN_INFLUX_URL": database.url,
                    "LEEDSWIN_INFLUX_HOME_URL": home_database.url,
                    "LEEDSWIN_INFLUX_DATABASE": DATABASE,
                    "LEEDSWIN_INFLUX_USERNAME": insights_influx.username or "",
                    "LEEDSWIN_INFLUX_PASSWORD": secrets_.influx_account("insights").password,
                    "LEEDSWIN_INFLUX_PUBLIC_USERNAME": public.username,
                    "LEEDSWIN_INFLUX_PUBLIC_PASSWORD": public.password,
                    "LEEDSWIN_API_REGISTRY": str(api.registry),
                    "LEEDSWIN_BRIDGE_DEVICE_REGISTRY": str(root / "devices.yaml"),
                    "LEEDSWIN_API_PORT": str(api.port),
                },
            )

            # The fleet's registry gives the API public devices' coordinates and homes' wards.
            device_registry = root / "devices.yaml"
            write_registry(device_registry, build_fleet(seed, devices, BACKFILL_INTERVAL)[0])
            bridge_ready = threading.Event()
            bridge_mqtt = mqtt_as(BRIDGE_ACCOUNT, client_id=BRIDGE_ACCOUNT)
            bridge_influx = influx_as("bridge")
            threads.append(
                _thread(
                    "bridge",
                    lambda: serve_bridge(
                        bridge_mqtt,
                        bridge_influx,
                        build(BridgeSettings, device_registry=device_registry),
                        stop,
                        registry=bridge_metrics,
                        ready=bridge_ready,
                        state_registry=api.registry,
                    ),
                )
            )
            if not bridge_ready.wait(30):
                typer.echo(
                    f"error: the bridge did not subscribe to {broker.url} within 30 s", err=True
                )
                raise typer.Exit(1)

            api_server = make_server(
                create_app(api, api_influx, mqtt_as(HOUSING_ACCOUNT), device_registry),
                api.host,
                api.port,
                log_level="warning",
            )
            threads.append(_thread("api", api_server.run))

            base = f"http://{api.host}:{api.port}"
            moved = (
                f"\n  !! port {api_port} is in use: the API is on {api.port} instead"
                f" (use API={base})"
                if port_taken
                else ""
            )
            home_hint = "" if root == state_dir().absolute() else f"export {HOME_ENV}={root}\n  "
            typer.echo(
                "\nLeeds WIN demo"
                f"\n  API         {base}/docs{moved}"
                f"\n  admin key   {demo_keys[Scope.ADMIN]}"
                f"\n  housing key {demo_keys[Scope.HOUSING]}"
                f"\n  public key  {demo_keys[Scope.PUBLIC]}"
                f"\n  MQTT        {broker.url} (accounts and passwords: {root / 'credentials.json'})"
                f"\n  InfluxDB    {database.url} database {DATABASE}"
                f"\n  home data   {home_database.url} database {base_influx.home_db}"
                f"\n  data, keys and settings in {root}; in another terminal:"
                f"\n  {home_hint}.venv/bin/leedswin keys create --name me --scope public"
                f"\n  curl -H 'X-API-Key: {demo_keys[Scope.PUBLIC]}' {base}/v1/devices\n"
            )

            uplinks = int(backfill_hours * 3600 / BACKFILL_INTERVAL)
            if uplinks:
                began = time.monotonic()
                typer.echo(f"backfill: simulating {backfill_hours} h of {devices} devices…")
                acked_before = bridge_metrics.get_sample_value("leedswin_bridge_acked_total") or 0
                backfill = run_simulation(
                    mqtt_as(NETWORK_ACCOUNT),
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
                stored = _wait_for_bridge(
                    bridge_metrics, acked_before + backfill.messages, timeout=300
                )
                typer.echo(
                    f"backfill: {backfill.published} uplinks published, {stored} stored,"
                    f" dead letters {_dead_letters(bridge_metrics)}"
                    f" ({time.monotonic() - began:.0f} s)"
                )
                with open_jobs(insights, insights_influx, api.registry) as jobs:
                    now = datetime.now(UTC)
                    report = jobs.run(now - timedelta(hours=backfill_hours), now)
                    typer.echo(
                        f"insights: {report.damp_points} damp-risk, {report.daqi_points} DAQI,"
                        f" {report.footfall_points} footfall points;"
                        f" {len(report.alerts_opened)} damp alerts opened"
                        f" ({time.monotonic() - began:.0f} s since start of backfill)"
                    )

            threads.append(
                _thread(
                    "insights",
                    lambda: run_scheduler(insights, insights_influx, api.registry, stop),
                )
            )
            threads.extend(
                start_fleet_threads(
                    insights_influx,
                    mqtt_as(SIM_ACCOUNT),
                    api.registry,
                    stop,
                    device_registry=device_registry,
                )
            )
            live = SimOptions(devices=devices, uplinks=0, seed=seed, live=True)
            live_mqtt = mqtt_as(NETWORK_ACCOUNT)
            threads.append(
                _thread("simulator", lambda: run_simulation(live_mqtt, live, rate=rate, stop=stop))
            )
            typer.echo(f"live: {rate:g} uplinks/s from {devices} devices; Ctrl-C to stop")
            stop.wait(duration)
        finally:
            stop.set()
            if api_server is not None:
                api_server.should_exit = True
            for thread in threads:
                thread.join(timeout=40)
            home_database.stop()
            database.stop()
            broker.stop()
            typer.echo(f"stopped; dead letters {_dead_letters(bridge_metrics)}")
