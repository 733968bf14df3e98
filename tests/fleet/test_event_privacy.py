"""/v1/fleet/events for a key without ``housing``: exactly the public events, nothing to count
home ones by (the query leaves them out, so ``limit`` is exact; no shared-sequence ids)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import yaml

from api.main import create_app
from insights.fleet import DeviceHealth, FleetStore
from leedswin.services import LocalInfluxDB, LocalMosquitto
from storage.registry import ApiKeys, Scope, open_registry
from tests.api.conftest import make_settings, serve

pytestmark = pytest.mark.integration

PUBLIC = [f"24e124710c40000{i}" for i in range(3)]
HOMES = [f"a81758fffe0000{i:02x}" for i in range(12)]


@pytest.fixture(scope="module")
def api(
    tmp_path_factory: pytest.TempPathFactory, influxdb: LocalInfluxDB, mosquitto: LocalMosquitto
) -> Iterator[tuple[httpx.Client, dict[str, str]]]:
    tmp_path: Path = tmp_path_factory.mktemp("fleet_event_privacy")
    devices = tmp_path / "devices.yaml"
    rows = [
        {"dev_eui": e, "model": "milesight-am319", "site": f"site-{e[-1]}", "privacy": "public"}
        for e in PUBLIC
    ] + [
        {"dev_eui": e, "model": "elsys-ers", "site": f"home-{e[-2:]}", "privacy": "home"}
        for e in HOMES
    ]
    devices.write_text(yaml.safe_dump({"devices": rows}))
    settings, influx, mqtt = make_settings(tmp_path, influxdb, mosquitto, "fleet_event_privacy")
    store = FleetStore(settings.registry)
    start = datetime.now(UTC) - timedelta(hours=2)
    # Per round one public event, then four home events opened later (newer).
    for n, public in enumerate(PUBLIC):
        group = [(public, "public")] + [(h, "home") for h in HOMES[4 * n : 4 * n + 4]]
        for m, (eui, privacy) in enumerate(group):
            health = DeviceHealth(eui, "m", f"site-{eui[-1]}", privacy, link="silent")
            store.record([health], start + timedelta(minutes=10 * n + m))
    conn = open_registry(settings.registry)
    keys = ApiKeys(conn)
    tokens = {scope.value: keys.create(f"{scope.value} key", scope)[1] for scope in Scope}
    conn.close()
    app = create_app(settings, influx, mqtt, devices)
    with serve(app) as base_url, httpx.Client(base_url=base_url) as client:
        yield client, tokens


def events(api: tuple[httpx.Client, dict[str, str]], scope: str, **params: object) -> dict:
    client, tokens = api
    response = client.get("/v1/fleet/events", params=params, headers={"X-API-Key": tokens[scope]})
    assert response.status_code == 200, response.text
    return response.json()


def test_operations_gets_exactly_the_public_events(
    api: tuple[httpx.Client, dict[str, str]],
) -> None:
    body = events(api, "operations")
    assert [e["dev_eui"] for e in body["data"]] == PUBLIC[::-1]
    assert body["count"] == len(PUBLIC)
    for limit in (1, 2):
        body = events(api, "operations", limit=limit)
        assert [e["dev_eui"] for e in body["data"]] == PUBLIC[::-1][:limit]


def test_no_number_from_the_shared_sequence(api: tuple[httpx.Client, dict[str, str]]) -> None:
    for scope in ("operations", "housing"):
        for event in events(api, scope, state="all")["data"]:
            assert "id" not in event
            assert all(not isinstance(v, int) for v in event.values())


def test_housing_sees_every_event(api: tuple[httpx.Client, dict[str, str]]) -> None:
    body = events(api, "housing", limit=1000)
    assert body["count"] == len(PUBLIC) + len(HOMES)
