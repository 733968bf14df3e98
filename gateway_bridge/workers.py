"""Several bridge processes on one MQTT 5 shared subscription, under one supervisor.

One process is capped by paho (and the GIL) well below what the broker and
InfluxDB can take, so ``leedswin bridge --workers K`` runs K full bridges:
each its own paho session (client id ``<client_id>-<i>``), subscribed as
``$share/<group>/…``, with its own batch writer that acknowledges only after
InfluxDB accepted the points. The broker round-robins messages over the
group's sessions.

On a closed broker an account is its client id (``use_username_as_clientid``,
so no account can take over another's session), so worker ``i`` logs in as
``<username>-<i>`` with the same password: ``broker_acl`` grants the bridge's
topics to ``leedswin-bridge-0`` … ``-7`` as to ``leedswin-bridge``, and the
password file needs those accounts.

A worker that dies is restarted with the *same* client id: Mosquitto keeps
queuing that session's share of the traffic while it is gone and never
re-routes it to the others (uplink-formats.md §5), so only the same id drains
it.
"""

from __future__ import annotations

import logging
import pickle
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import FrameType

from core.settings import BridgeSettings, InfluxSettings, MqttSettings
from gateway_bridge.service import serve

log = logging.getLogger(__name__)

DEFAULT_SHARE_GROUP = "leedswin-bridge"
#: Exit code of a worker that stopped with messages it could not store (left unacked).
EXIT_UNDRAINED = 3
_RESTART_DELAY = 1.0


def worker_settings(
    mqtt_settings: MqttSettings, bridge_settings: BridgeSettings, index: int
) -> tuple[MqttSettings, BridgeSettings]:
    """Worker ``index``'s session and ports: its own client id (and account, when the
    bridge has one: ``<username>-<index>``), metrics port and spool."""
    session: dict[str, object] = {
        "client_id": f"{mqtt_settings.client_id}-{index}",
        "share_group": mqtt_settings.share_group or DEFAULT_SHARE_GROUP,
    }
    if mqtt_settings.username:
        session["username"] = f"{mqtt_settings.username}-{index}"
    worker_mqtt = mqtt_settings.model_copy(update=session)
    update: dict[str, object] = {}
    if bridge_settings.metrics_port is not None:
        update["metrics_port"] = bridge_settings.metrics_port + index
    if bridge_settings.spool_dir is not None:
        update["spool_dir"] = bridge_settings.spool_dir / f"worker-{index}"
    return worker_mqtt, bridge_settings.model_copy(update=update)


def _run_worker() -> None:
    """``python -m gateway_bridge.workers``: a whole bridge, stopped by SIGTERM/SIGINT.

    Its settings arrive pickled on stdin (never argv, which would show secrets
    to ``ps``). A module of its own rather than multiprocessing's spawn, which
    re-imports the ``leedswin`` script and with it the API stack: 27 MB of RSS
    per worker that a bridge never uses.
    """
    settings: tuple[MqttSettings, InfluxSettings, BridgeSettings, Path | None, int]
    settings = pickle.loads(sys.stdin.buffer.read())
    mqtt_settings, influx, bridge_settings, state_registry, log_level = settings
    logging.basicConfig(
        level=log_level,
        format="time=%(asctime)s level=%(levelname)s logger=%(name)s "
        f"worker={mqtt_settings.client_id} %(message)s",
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    drained = serve(mqtt_settings, influx, bridge_settings, stop, state_registry=state_registry)
    raise SystemExit(0 if drained else EXIT_UNDRAINED)


class Supervisor:
    """Start K workers, restart any that dies (same id), stop them all on ``stop``."""

    def __init__(
        self,
        mqtt_settings: MqttSettings,
        influx: InfluxSettings,
        bridge_settings: BridgeSettings,
        workers: int,
        state_registry: Path | None = None,
    ) -> None:
        """``state_registry``: as ``serve``'s, for every worker (SQLite takes their commits
        one after another, newest state winning)."""
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self.mqtt_settings = mqtt_settings
        self.influx = influx
        self.bridge_settings = bridge_settings
        self.workers = workers
        self.state_registry = state_registry
        self._processes: dict[int, subprocess.Popen[bytes]] = {}
        self._started: dict[int, float] = {}

    def pids(self) -> list[int]:
        return [p.pid for p in self._processes.values()]

    def _start(self, index: int) -> None:
        worker_mqtt, worker_bridge = worker_settings(
            self.mqtt_settings, self.bridge_settings, index
        )
        # A fresh interpreter, not fork: paho/httpx threads and locks must not be copied mid-use.
        process = subprocess.Popen(
            [sys.executable, "-m", "gateway_bridge.workers"], stdin=subprocess.PIPE
        )
        assert process.stdin is not None
        process.stdin.write(
            pickle.dumps(
                (
                    worker_mqtt,
                    self.influx,
                    worker_bridge,
                    self.state_registry,
                    logging.getLogger().level,
                )
            )
        )
        process.stdin.close()
        self._processes[index] = process
        self._started[index] = time.monotonic()
        log.info(
            "event=worker_started index=%d pid=%s client_id=%s share_group=%s",
            index,
            process.pid,
            worker_mqtt.client_id,
            worker_mqtt.share_group,
        )

    def run(self, stop: threading.Event, poll: float = 0.5) -> bool:
        """Until ``stop``; then SIGTERM every worker and wait. True if all drained cleanly."""
        for index in range(self.workers):
            self._start(index)
        while not stop.wait(poll):
            for index, process in list(self._processes.items()):
                if process.poll() is None or stop.is_set():
                    continue
                if time.monotonic() - self._started[index] < _RESTART_DELAY:
                    continue
                log.error(
                    "event=worker_died index=%d exitcode=%s restarting=true note=%r",
                    index,
                    process.returncode,
                    "same client id: its queued share of the traffic is only drained by it",
                )
                self._start(index)
        for process in self._processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        codes = {i: p.wait() for i, p in self._processes.items()}
        log.info("event=workers_stopped exitcodes=%s", codes)
        return all(code == 0 for code in codes.values())


if __name__ == "__main__":
    _run_worker()
