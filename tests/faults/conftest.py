"""Fault tests get their own Mosquitto and InfluxDB, so they can kill and restart them freely."""

from __future__ import annotations

import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from leedswin.services import LocalInfluxDB, LocalMosquitto
from tests.gateway_bridge.test_bridge_cli import BridgeProcess


class Rig:
    """One private broker and database, and the bridges started on them (killed at teardown)."""

    def __init__(self, root: Path, max_queued_messages: int) -> None:
        self.mosquitto = LocalMosquitto(root / "mosquitto", max_queued_messages=max_queued_messages)
        self.influxdb = LocalInfluxDB(root / "influxd")
        self.db = f"f_{uuid.uuid4().hex[:12]}"
        self.client_id = f"fault-{uuid.uuid4().hex[:8]}"
        self.bridges: list[BridgeProcess] = []
        self.mosquitto.start()
        self.influxdb.start()

    def bridge(self, *extra: str) -> BridgeProcess:
        """`leedswin bridge` on this rig, always with the same client id (one session)."""
        process = BridgeProcess(self.mosquitto, self.influxdb, self.db, self.client_id, *extra)
        self.bridges.append(process)
        return process

    def close(self) -> None:
        for process in self.bridges:
            process.kill()
        self.mosquitto.close()
        self.influxdb.close()


@pytest.fixture
def rig_factory(tmp_path: Path) -> Iterator[Callable[..., Rig]]:
    rigs: list[Rig] = []

    def make(max_queued_messages: int = 10_000_000) -> Rig:
        rig = Rig(tmp_path / f"rig{len(rigs)}", max_queued_messages)
        rigs.append(rig)
        return rig

    yield make
    for rig in rigs:
        rig.close()


@pytest.fixture
def rig(rig_factory: Callable[..., Rig]) -> Rig:
    return rig_factory()


def scrape(bridge: BridgeProcess) -> dict[str, float]:
    """Every sample on the bridge's /metrics, keyed by its name with labels as printed."""
    with urllib.request.urlopen(
        f"http://127.0.0.1:{bridge.metrics_port}/metrics", timeout=2
    ) as response:
        text = response.read().decode()
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            samples[name] = float(value)
    return samples


def http_status(bridge: BridgeProcess, path: str = "/readyz") -> int:
    """HTTP status of a GET on the bridge's health port (/readyz unless told)."""
    try:
        with urllib.request.urlopen(
            f"http://127.0.0.1:{bridge.metrics_port}{path}", timeout=5
        ) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
