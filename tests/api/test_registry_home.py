"""Issue 11 item 6: a device the registry marks home is in no public answer, whatever its points say.

The stored points of ``PUBLIC_A``'s site-mate are tagged ``public`` (written
before a reclassification, or by a bridge with another registry), but the API's
device registry says ``home``: a public key's site aggregate, device list and
latest readings must not include it; a housing key still sees it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI

from api.main import create_app
from api.scoped import QueryRunner
from leedswin.services import LocalInfluxDB, LocalMosquitto
from storage.query import Series
from tests.api.conftest import (
    HOME_A,
    HOME_B,
    PUBLIC_A,
    STEP_NS,
    Keys,
    build_points,
    make_keys,
    make_settings,
    observe,
    serve,
    write_points,
)

pytestmark = pytest.mark.integration

#: Stored as public at briggate, next to PUBLIC_A, but the registry says home.
MISLABELLED = "c000000000000001"


@pytest.fixture(scope="module")
def harness(
    tmp_path_factory: pytest.TempPathFactory, influxdb: LocalInfluxDB, mosquitto: LocalMosquitto
) -> Iterator[tuple[httpx.Client, Keys, FastAPI]]:
    tmp_path = tmp_path_factory.mktemp("registry_home")
    database = f"reg_{time.time_ns()}"
    points, _ = build_points(time.time_ns() - 5 * STEP_NS)
    mislabelled = [
        p._replace(
            tags=tuple((k, MISLABELLED if k == "dev_eui" else v) for k, v in p.tags),
            fields={k: (v + 500.0 if isinstance(v, float) else v) for k, v in p.fields.items()},
        )
        for p in points
        if dict(p.tags)["dev_eui"] == PUBLIC_A.dev_eui
    ]
    write_points(influxdb.url, database, points + mislabelled)
    registry = tmp_path / "devices.yaml"
    registry.write_text(
        "devices:\n"
        f"  - {{dev_eui: {MISLABELLED}, model: elsys_ers_co2, site: briggate, privacy: home}}\n"
        f"  - {{dev_eui: {PUBLIC_A.dev_eui}, model: elsys_ers_co2, site: briggate, privacy: public}}\n"
    )
    settings = make_settings(tmp_path, influxdb, mosquitto, database)
    keys = make_keys(settings[0].registry)
    observe(settings[0].registry, points + mislabelled)
    app = create_app(*settings, device_registry=registry)
    with serve(app) as base, httpx.Client(base_url=base) as client:
        yield client, keys, app


def _site_counts(client: httpx.Client, key: str) -> list[float]:
    end = datetime.now(UTC)
    response = client.get(
        "/v1/aggregates",
        params={
            "quantity": "temperature",
            "fn": "count",
            "every": "1d",
            "group_by": "site",
            "site": "briggate",
            "start": (end - timedelta(hours=6)).isoformat(),
            "end": end.isoformat(),
        },
        headers={"X-API-Key": key},
    )
    assert response.status_code == 200, response.text
    return [point["value"] for row in response.json()["data"] for point in row["data"]]


def test_site_aggregate_leaves_out_a_device_the_registry_marks_home(
    harness: tuple[httpx.Client, Keys, FastAPI],
) -> None:
    client, keys, _ = harness
    public = sum(_site_counts(client, keys.public))
    housing = sum(_site_counts(client, keys.housing))
    # briggate holds PUBLIC_A, HOME_A (stored home) and MISLABELLED (stored public).
    assert housing == 3 * public


@pytest.mark.parametrize("path", ["/v1/devices", "/v1/latest?need=air_quality"])
def test_lists_leave_it_out_for_public_keys_only(
    harness: tuple[httpx.Client, Keys, FastAPI], path: str
) -> None:
    client, keys, _ = harness
    public = client.get(path, headers={"X-API-Key": keys.public}).text
    housing = client.get(path, headers={"X-API-Key": keys.housing}).text
    assert MISLABELLED not in public and PUBLIC_A.dev_eui in public
    assert MISLABELLED in housing


def test_its_readings_are_404_for_public_keys(harness: tuple[httpx.Client, Keys, FastAPI]) -> None:
    client, keys, _ = harness
    path = f"/v1/devices/{MISLABELLED}/readings"
    params = {"quantity": "temperature"}
    assert client.get(path, params=params, headers={"X-API-Key": keys.public}).status_code == 404
    assert client.get(path, params=params, headers={"X-API-Key": keys.housing}).status_code == 200


class Recording:
    """The public path's query runner, keeping every statement and its bound parameters."""

    def __init__(self, runner: QueryRunner) -> None:
        self.runner = runner
        self.sent: list[str] = []

    def query(self, q: str, params: dict[str, object] | None = None) -> list[Series]:
        self.sent.append(f"{q} {params!r}")
        return self.runner.query(q, params)  # type: ignore[arg-type]


def test_public_queries_never_name_a_home_device(
    harness: tuple[httpx.Client, Keys, FastAPI],
) -> None:
    """Any InfluxDB 1.x user reads every running query (``SHOW QUERIES``): the public
    account must not learn a home DevEUI from the queries the public path sends."""
    client, keys, app = harness
    services = app.state.services
    recording = Recording(services.public_influx)
    services.public_influx = recording
    try:
        assert len(_site_counts(client, keys.public)) > 0
        for path in ("/v1/devices", "/v1/latest?need=air_quality", "/v1/latest?need=damp"):
            assert client.get(path, headers={"X-API-Key": keys.public}).status_code == 200
        readings = client.get(
            f"/v1/devices/{PUBLIC_A.dev_eui}/readings",
            params={"quantity": "temperature"},
            headers={"X-API-Key": keys.public},
        )
        assert readings.status_code == 200
    finally:
        services.public_influx = recording.runner
    assert recording.sent
    assert any(PUBLIC_A.dev_eui in text for text in recording.sent)  # an inclusion rule
    for home in (MISLABELLED, HOME_A.dev_eui, HOME_B.dev_eui):
        assert not [text for text in recording.sent if home in text]
