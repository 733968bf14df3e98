"""An API app on the session's real InfluxDB and Mosquitto, with known public and home devices."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pytest
from fastapi import FastAPI

from api.main import create_app, make_server
from core.settings import ApiSettings, InfluxSettings, MqttSettings
from leedswin.services import LocalInfluxDB, LocalMosquitto, free_port
from storage.points import Point, encode, make_point
from storage.registry import ApiKeys, Scope, open_registry
from storage.state import DeviceState


@dataclass(frozen=True)
class Dev:
    dev_eui: str
    model: str
    site: str
    privacy: str
    need: str


PUBLIC_A = Dev("a000000000000001", "elsys_ers_co2", "briggate", "public", "air_quality")
PUBLIC_B = Dev("a000000000000002", "elsys_ers_co2", "park-row", "public", "air_quality")
#: Same site name as PUBLIC_A on purpose: a site aggregate must not mix it in for a public key.
HOME_A = Dev("b000000000000001", "milesight_em300_th", "briggate", "home", "damp")
HOME_B = Dev("b000000000000002", "milesight_em300_th", "h-7f3a9c", "home", "damp")
DEVICES = (PUBLIC_A, PUBLIC_B, HOME_A, HOME_B)
POINTS = 240
STEP_NS = 60 * 1_000_000_000


@dataclass
class Dataset:
    """What was written, for independent (numpy) checks: dev_eui -> quantity -> (times, values)."""

    series: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]]
    first_ns: int
    last_ns: int


def build_points(end_ns: int, seed: int = 7) -> tuple[list[Point], Dataset]:
    rng = np.random.default_rng(seed)
    start_ns = (end_ns - POINTS * STEP_NS) // STEP_NS * STEP_NS
    times = start_ns + np.arange(POINTS, dtype=np.int64) * STEP_NS
    points: list[Point] = []
    series: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]] = {}
    for index, dev in enumerate(DEVICES):
        tags = {
            "dev_eui": dev.dev_eui,
            "model": dev.model,
            "site": dev.site,
            "privacy": dev.privacy,
            "need": dev.need,
        }
        # Home devices read far hotter, so any leak shows up in a statistic.
        offset = 100.0 if dev.privacy == "home" else 0.0
        temperature = np.round(rng.normal(15 + index + offset, 3, POINTS), 2)
        humidity = np.round(rng.uniform(40, 95, POINTS), 2)
        co2 = np.round(rng.uniform(400, 1500, POINTS), 1)
        series[dev.dev_eui] = {
            "temperature": (times, temperature),
            "relative_humidity": (times, humidity),
        }
        if dev.need == "air_quality":
            series[dev.dev_eui]["co2"] = (times, co2)
        for i, t in enumerate(times.tolist()):
            points.append(
                make_point(
                    "climate",
                    tags,
                    {"temperature": float(temperature[i]), "relative_humidity": float(humidity[i])},
                    t,
                )
            )
            if dev.need == "air_quality":
                points.append(make_point("air_quality", tags, {"co2": float(co2[i])}, t))
            points.append(
                make_point(
                    "uplink",
                    tags,
                    {
                        "f_cnt": i,
                        "f_port": 2,
                        "rssi": -90.0 - index,
                        "snr": 7.5,
                        "gateways": 1,
                        "battery_percent": 80.0 + index,
                    },
                    t,
                )
            )
    return points, Dataset(series, int(times[0]), int(times[-1]))


def write_points(url: str, database: str, points: list[Point]) -> None:
    with httpx.Client(base_url=url, timeout=30) as client:
        client.post("/query", data={"q": f'CREATE DATABASE "{database}"'}).raise_for_status()
        for chunk in range(0, len(points), 5000):
            body = encode(points[chunk : chunk + 5000])
            client.post("/write", params={"db": database}, content=body).raise_for_status()


def observe(registry: Path, points: list[Point]) -> None:
    """Device state for ``points``, as the bridge keeps it for each batch InfluxDB accepted."""
    conn = open_registry(registry)
    state = DeviceState(conn)
    state.observe(points)
    state.commit()
    conn.close()


@dataclass
class Keys:
    public: str
    housing: str
    admin: str

    def of(self, scope: str) -> str:
        return str(getattr(self, scope))


@dataclass
class ApiHarness:
    client: httpx.Client
    keys: Keys
    data: Dataset
    settings: ApiSettings
    database: str = ""

    def get(self, path: str, scope: str | None = "public", **params: object) -> httpx.Response:
        headers = {"X-API-Key": self.keys.of(scope)} if scope else {}
        return self.client.get(path, params=params, headers=headers)


def make_settings(
    tmp_path: Path, influxdb: LocalInfluxDB, mosquitto: LocalMosquitto, database: str, **api: object
) -> tuple[ApiSettings, InfluxSettings, MqttSettings]:
    return (
        ApiSettings(registry=tmp_path / "registry.sqlite3", **api),
        InfluxSettings(url=influxdb.url, database=database),
        MqttSettings(url=mosquitto.url),
    )


def make_keys(path: Path) -> Keys:
    conn = open_registry(path)
    keys = ApiKeys(conn)
    tokens = Keys(
        public=keys.create("innovator", Scope.PUBLIC)[1],
        housing=keys.create("housing team", Scope.HOUSING)[1],
        admin=keys.create("ops", Scope.ADMIN)[1],
    )
    conn.close()
    return tokens


@contextlib.contextmanager
def serve(app: FastAPI) -> Iterator[str]:
    """Run the app under uvicorn on a free loopback port in a thread; yields its base URL.

    A real server rather than Starlette's TestClient: the live feed needs a real
    event loop and real sockets, and it is what clients meet.
    """
    port = free_port()
    server = make_server(app, "127.0.0.1", port, log_level="warning")
    thread = threading.Thread(target=server.run, name="api-under-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("API server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture(scope="module")
def api(
    tmp_path_factory: pytest.TempPathFactory,
    influxdb: LocalInfluxDB,
    mosquitto: LocalMosquitto,
) -> Iterator[ApiHarness]:
    """One app per test module over one filled database (the data is read-only)."""
    tmp_path = tmp_path_factory.mktemp("api")
    database = f"api_{time.time_ns()}"
    points, data = build_points(time.time_ns() - 5 * STEP_NS)
    write_points(influxdb.url, database, points)
    # Many modules send wrong keys on purpose; throttling them is tested on its own app.
    settings = make_settings(tmp_path, influxdb, mosquitto, database, bad_keys_per_minute=100_000)
    keys = make_keys(settings[0].registry)
    observe(settings[0].registry, points)
    with serve(create_app(*settings)) as base_url, httpx.Client(base_url=base_url) as client:
        yield ApiHarness(client, keys, data, settings[0], database)
