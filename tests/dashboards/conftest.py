"""Eight days of a simulated fleet, through the real bridge into the real InfluxDB, plus insights.

Built once per module run: the simulator publishes ChirpStack events to the
session's Mosquitto, the bridge (``gateway_bridge.service.serve``) decodes and
stores them, and the insights jobs derive ``damp_risk``, ``daqi`` and
``footfall_counts`` from what was stored, and one fleet-health run writes
``device_health``. A second, smaller fleet stops
reporting three hours before now, so the silent-device panels have something
to show. Every dashboard panel query then runs against this database.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import CollectorRegistry

from core.settings import (
    BridgeSettings,
    FleetSettings,
    InfluxSettings,
    InsightsSettings,
    MqttSettings,
    build,
)
from firmware_sim.publisher import SimOptions
from firmware_sim.run import run_simulation
from gateway_bridge.service import serve
from insights.fleet import FleetJob, FleetStore
from insights.jobs import InsightsJobs
from insights.rollups import RollupJob
from leedswin.services import LocalInfluxDB, LocalMosquitto
from storage.influx import make_sink
from storage.query import InfluxQL
from storage.registry import open_registry
from storage.state import DeviceState
from tests.conftest import influxql

HOUR = 3600.0
DAYS = 9
#: A second fleet whose last uplink is about 4 hours old.
QUIET_SEED, QUIET_DEVICES = 12, 4


@dataclass(frozen=True)
class Filled:
    """Where the filled database is and what went into it."""

    url: str
    database: str
    uplinks: int
    home_dev_euis: frozenset[str]


def _wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def _stored(url: str, database: str) -> int:
    try:
        series = influxql(url, database, 'SELECT count("f_cnt") FROM "uplink"')
    except Exception:  # the database appears with the bridge's first write
        return 0
    return int(series[0]["values"][0][1]) if series else 0


@pytest.fixture(scope="package")
def filled(
    mosquitto: LocalMosquitto,
    influxdb: LocalInfluxDB,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Filled]:
    registry_dir = tmp_path_factory.mktemp("fleet")
    database = f"dash_{uuid.uuid4().hex[:10]}"
    mqtt = build(MqttSettings, url=mosquitto.url, client_id=f"dash-{uuid.uuid4().hex[:8]}")
    influx = build(InfluxSettings, url=influxdb.url, database=database)
    stop = threading.Event()
    registry = CollectorRegistry()
    outcome: list[bool] = []
    bridge = threading.Thread(
        target=lambda: outcome.append(serve(mqtt, influx, build(BridgeSettings), stop, registry))
    )
    bridge.start()
    try:
        _wait_until(
            lambda: registry.get_sample_value("leedswin_bridge_in_flight") is not None,
            10,
            "the bridge to start",
        )
        time.sleep(0.5)  # subscribed
        publisher = build(MqttSettings, url=mosquitto.url, client_id=f"sim-{uuid.uuid4().hex[:8]}")
        now = time.time()
        fleet = SimOptions(devices=20, uplinks=int(DAYS * 24), seed=13, interval=HOUR, corrupt=0.02)
        gone_quiet = SimOptions(
            devices=QUIET_DEVICES, uplinks=10, seed=QUIET_SEED, interval=HOUR, start=now - 14 * HOUR
        )
        published = sum(run_simulation(publisher, o).published for o in (fleet, gone_quiet))
        _wait_until(
            lambda: _stored(influxdb.url, database) >= published, 60, f"{published} uplinks"
        )
    finally:
        stop.set()
        bridge.join(30)
    assert outcome == [True]

    with InfluxQL(influx) as query, closing(make_sink(influx)) as sink:
        until = datetime.now(UTC) + timedelta(hours=1)
        registry = open_registry(registry_dir / "registry.sqlite3")
        report = InsightsJobs(
            build(InsightsSettings),
            query,
            sink,
            rollups=lambda jobs: RollupJob(
                query, jobs.write, DeviceState(registry), (influx.database, influx.home_db)
            ),
        ).run(until - timedelta(days=DAYS + 1), until)
        registry.close()
    assert not report.errors, report.errors
    with InfluxQL(influx) as query, closing(make_sink(influx)) as sink:
        FleetJob(FleetSettings(), query, sink, FleetStore(registry_dir / "fleet.sqlite3")).run()
    homes = influxql(
        influxdb.url,
        influx.home_db,  # the writer routes home points to their own database
        'SHOW TAG VALUES FROM "uplink" WITH KEY = "dev_eui" WHERE "privacy" = \'home\'',
    )
    home_euis = frozenset(value for _, value in homes[0]["values"]) if homes else frozenset()
    assert home_euis, "the fleet must contain home devices for the privacy tests to mean anything"
    yield Filled(influxdb.url, database, published, home_euis)
