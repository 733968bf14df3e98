"""`leedswin sim`: simulated devices publishing real uplink events to an MQTT broker."""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path
from typing import get_args

import orjson
import typer
import yaml

from core.errors import ConfigError
from core.settings import MqttSettings, build
from firmware_sim.events import Format
from firmware_sim.fleet import build_fleet
from firmware_sim.publisher import SimOptions
from firmware_sim.run import run_simulation


def register(app: typer.Typer) -> None:
    @app.command("sim")
    def sim_command(
        mqtt_url: str | None = typer.Option(
            None, help="Broker, mqtt://host:port (env LEEDSWIN_MQTT_URL)"
        ),
        devices: int = typer.Option(10, min=0, help="Simulated devices of known models"),
        uplinks: int = typer.Option(10, min=0, help="Uplinks per device; 0 = until interrupted"),
        rate: float = typer.Option(0.0, min=0, help="Messages per second; 0 = as fast as possible"),
        seed: int = typer.Option(0, help="Same seed, same devices and (backfill) same events"),
        format: str = typer.Option(
            "chirpstack-json", help="chirpstack-json | chirpstack-protobuf | tts"
        ),
        duplicates: float = typer.Option(
            0.0, min=0, max=1, help="Fraction of uplinks re-published as is"
        ),
        corrupt: float = typer.Option(
            0.0, min=0, max=1, help="Fraction of uplinks followed by a garbled frame"
        ),
        unknown: int = typer.Option(0, min=0, help="Extra devices naming no known model"),
        live: bool = typer.Option(
            False, help="Stamp events with the time of publishing, not backfill"
        ),
        interval: float = typer.Option(600.0, min=1, help="Seconds between one device's uplinks"),
        registry_out: Path | None = typer.Option(
            None, help="Also write the fleet's device registry (YAML) here"
        ),
    ) -> None:
        """Publish devices × uplinks events at QoS 1; last stdout line is a JSON summary of counts."""
        if format not in get_args(Format):
            raise typer.BadParameter(f"format must be one of {', '.join(get_args(Format))}")
        try:
            mqtt = build(MqttSettings, url=mqtt_url)
            options = SimOptions(
                devices=devices,
                uplinks=uplinks,
                seed=seed,
                format=format,  # type: ignore[arg-type]
                interval=interval,
                duplicates=duplicates,
                corrupt=corrupt,
                unknown=unknown,
                live=live,
            )
            if registry_out is not None:
                known, others = build_fleet(seed, devices, interval, unknown)
                rows = [d.registry_row() for d in known + others]
                registry_out.write_text(yaml.safe_dump({"devices": rows}, sort_keys=False))
            stop = threading.Event()
            for signum in (signal.SIGINT, signal.SIGTERM):
                signal.signal(signum, lambda *_: stop.set())
            result = run_simulation(mqtt, options, rate=rate, stop=stop)
        except (ConfigError, ValueError) as exc:
            typer.echo(f"leedswin sim: {exc}", err=True)
            raise typer.Exit(2) from exc
        sys.stdout.write(orjson.dumps(result.as_dict()).decode() + "\n")
