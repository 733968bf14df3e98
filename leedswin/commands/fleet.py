"""Fleet threads inside `leedswin up`: the scheduled registry sync from ChirpStack."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from core.settings import BridgeSettings, ChirpStackSettings, InfluxSettings, build
from leedswin.commands.registry import known_model
from storage.chirpstack import run_schedule

log = logging.getLogger(__name__)


def start_fleet_threads(
    influx: InfluxSettings, registry_db: Path, stop: threading.Event
) -> list[threading.Thread]:
    """Start what the settings ask for; returns the threads (daemon, they end with ``stop``).

    The registry sync runs when ``LEEDSWIN_CHIRPSTACK_SYNC_MINUTES`` and a server are set,
    into ``LEEDSWIN_BRIDGE_DEVICE_REGISTRY`` (the file the bridge re-reads on change).
    """
    threads = []
    chirpstack: ChirpStackSettings = build(ChirpStackSettings)
    registry_file = build(BridgeSettings).device_registry
    if chirpstack.sync_minutes and chirpstack.server:
        if registry_file is None:
            log.warning("event=registry_sync_disabled reason=no LEEDSWIN_BRIDGE_DEVICE_REGISTRY")
        else:
            thread = threading.Thread(
                target=run_schedule,
                args=(chirpstack, registry_file, known_model, stop),
                name="registry-sync",
                daemon=True,
            )
            thread.start()
            threads.append(thread)
    return threads
