"""`leedswin sim`: simulated devices publishing real uplink events to an MQTT broker."""

from __future__ import annotations

import signal
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import get_args

import orjson
import typer
import yaml

from core.errors import ConfigError, RetryableSinkError
from core.settings import MqttSettings, build
from firmware_sim.events import Format
from firmware_sim.fleet import Device, build_fleet
from firmware_sim.publisher import DEFAULT_IN_FLIGHT, SimOptions
from firmware_sim.run import run_simulation
from leedswin.commands.options import MqttCaFile, MqttCertFile, MqttKeyFile

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def parse_start(text: str | None) -> float | None:
    """Epoch seconds from ``1700000000`` or ``2023-11-14T22:13:20Z`` (UTC if no offset)."""
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ConfigError(f"--start {text!r} is neither epoch seconds nor ISO 8601") from exc
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def write_registry(path: Path, devices: list[Device]) -> None:
    """The fleet as a device registry file, for bridges fed formats without tags (TTS)."""
    rows = [device.registry_row() for device in devices]
    path.write_text(yaml.safe_dump({"devices": rows}, sort_keys=False))


def register(app: typer.Typer) -> None:
    @app.command("sim")
    def sim_command(
        mqtt_url: str | None = typer.Option(
            None, help="Broker, mqtt://host:port or mqtts://host:port (env LEEDSWIN_MQTT_URL)"
        ),
        mqtt_ca_file: MqttCaFile = None,
        mqtt_cert_file: MqttCertFile = None,
        mqtt_key_file: MqttKeyFile = None,
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
        start: str | None = typer.Option(
            None,
            help="Backfill from here (ISO 8601 or epoch seconds); default now - uplinks × interval",
        ),
        counter_bits: int | None = typer.Option(
            None, min=8, max=64, help="People-counter width (default: each model's own, e.g. 16)"
        ),
        max_in_flight: int = typer.Option(
            DEFAULT_IN_FLIGHT, min=1, max=65_535, help="Unacknowledged QoS 1 messages at once"
        ),
        registry_out: Path | None = typer.Option(
            None, help="Also write the fleet's device registry (YAML) here"
        ),
    ) -> None:
        """Publish devices × uplinks events at QoS 1; the last stdout line is a JSON summary.

        ``published`` counts distinct valid uplinks (devices × uplinks); duplicates,
        corrupt frames and unknown-model uplinks are extra messages, counted apart.
        Ctrl-C ends an endless run (``--uplinks 0``) after the broker acknowledged all.
        """
        if format not in get_args(Format):
            raise typer.BadParameter(f"format must be one of {', '.join(get_args(Format))}")
        try:
            mqtt = build(
                MqttSettings,
                url=mqtt_url,
                ca_file=mqtt_ca_file,
                cert_file=mqtt_cert_file,
                key_file=mqtt_key_file,
            )
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
                counter_bits=counter_bits,
                start=parse_start(start),
            )
            if registry_out is not None:
                write_registry(registry_out, build_fleet(seed, devices, interval)[0])
            stop = threading.Event()
            previous = {s: signal.signal(s, lambda *_: stop.set()) for s in STOP_SIGNALS}
            try:
                result = run_simulation(
                    mqtt, options, rate=rate, stop=stop, max_in_flight=max_in_flight
                )
            finally:
                for signum, handler in previous.items():
                    signal.signal(signum, handler)
        except (ConfigError, RetryableSinkError, ValueError) as exc:
            typer.echo(f"leedswin sim: {exc}", err=True)
            raise typer.Exit(2) from exc
        sys.stdout.write(orjson.dumps(result.as_dict()).decode() + "\n")
