"""`leedswin bridge`: MQTT uplinks → decoded points in InfluxDB, acknowledged only once stored."""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path
from types import FrameType

import typer

from core.errors import ConfigError
from core.settings import ApiSettings, BridgeSettings, InfluxSettings, MqttSettings, build
from gateway_bridge.service import preflight, serve
from gateway_bridge.workers import Supervisor
from leedswin.commands.options import InfluxCaFile, MqttCaFile, MqttCertFile, MqttKeyFile, MqttUrl


def register(app: typer.Typer) -> None:
    @app.command("bridge")
    def bridge_command(
        mqtt_url: MqttUrl = None,
        mqtt_ca_file: MqttCaFile = None,
        mqtt_cert_file: MqttCertFile = None,
        mqtt_key_file: MqttKeyFile = None,
        influx_url: str | None = typer.Option(
            None, help="http(s)://host:port [LEEDSWIN_INFLUX_URL]"
        ),
        influx_ca_file: InfluxCaFile = None,
        influx_database: str | None = typer.Option(
            None, help="v1 database [LEEDSWIN_INFLUX_DATABASE]"
        ),
        influx_org: str | None = typer.Option(None, help="v2 org [LEEDSWIN_INFLUX_ORG]"),
        influx_bucket: str | None = typer.Option(
            None, help="v2 bucket; selects the v2 API [LEEDSWIN_INFLUX_BUCKET]"
        ),
        influx_token: str | None = typer.Option(
            None, help="API token [LEEDSWIN_INFLUX_TOKEN]; prefer the env var"
        ),
        registry: Path | None = typer.Option(
            None, help="Device registry, YAML or CSV [LEEDSWIN_BRIDGE_DEVICE_REGISTRY]"
        ),
        models_dir: Path | None = typer.Option(
            None,
            help="Configured models (YAML + codec .js), re-read on change "
            "[LEEDSWIN_BRIDGE_MODELS_DIR]",
        ),
        client_id: str | None = typer.Option(
            None, help="Stable MQTT client id: the session survives restarts"
        ),
        max_in_flight: int | None = typer.Option(
            None, help="Unacknowledged messages the broker may send (Receive Maximum)"
        ),
        share_group: str | None = typer.Option(
            None, help="Subscribe as $share/<group>/… to split load across bridges"
        ),
        metrics_port: int | None = typer.Option(
            None, help="Serve Prometheus /metrics on 127.0.0.1:<port>"
        ),
        spool_dir: Path | None = typer.Option(
            None,
            help="On-disk buffer for long InfluxDB outages [LEEDSWIN_BRIDGE_SPOOL_DIR]",
        ),
        spool_max_bytes: int | None = typer.Option(
            None,
            help="Spool size limit (default 256 MiB); full = stop acknowledging, never drop",
        ),
        workers: int = typer.Option(
            1,
            min=1,
            help="Bridge processes on one $share subscription (client ids <client-id>-<i>, "
            "metrics ports <metrics-port>+i, share group 'leedswin-bridge' unless given)",
        ),
    ) -> None:
        """Run the bridge until SIGTERM/SIGINT, then drain, acknowledge and exit 0."""
        try:
            mqtt_settings = build(
                MqttSettings,
                url=mqtt_url,
                ca_file=mqtt_ca_file,
                cert_file=mqtt_cert_file,
                key_file=mqtt_key_file,
                client_id=client_id,
                max_in_flight=max_in_flight,
                share_group=share_group,
            )
            influx = build(
                InfluxSettings,
                url=influx_url,
                ca_file=influx_ca_file,
                database=influx_database,
                org=influx_org,
                bucket=influx_bucket,
                token=influx_token,
            )
            bridge_settings = build(
                BridgeSettings,
                device_registry=registry,
                models_dir=models_dir,
                metrics_port=metrics_port,
                spool_dir=spool_dir,
                spool_max_bytes=spool_max_bytes,
            )
            # The devices' state goes to the API's registry when one is configured
            # ([api] registry / LEEDSWIN_API_REGISTRY), as in the shared configuration file.
            api: ApiSettings = build(ApiSettings)
            state_registry = api.registry if "registry" in api.model_fields_set else None
            # One line per HTTP write at INFO would drown the bridge's own logs.
            logging.getLogger("httpx").setLevel(logging.WARNING)
            stop = threading.Event()

            def request_stop(signum: int, frame: FrameType | None) -> None:
                stop.set()

            signal.signal(signal.SIGTERM, request_stop)
            signal.signal(signal.SIGINT, request_stop)
            if workers > 1:
                preflight(influx)  # a misconfiguration stops us here, not in a restart loop
                supervisor = Supervisor(
                    mqtt_settings, influx, bridge_settings, workers, state_registry
                )
                drained = supervisor.run(stop)
            else:
                drained = serve(
                    mqtt_settings, influx, bridge_settings, stop, state_registry=state_registry
                )
        except ConfigError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from exc
        if not drained:
            typer.echo(
                "warning: some messages were not stored before exit; "
                "they stay unacknowledged in the MQTT session",
                err=True,
            )
