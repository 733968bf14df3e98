"""/v1/fleet: who sees which devices, events, snooze and acknowledge, bad input."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import yaml

from api.main import create_app
from core.settings import FleetSettings
from insights.fleet import FleetStore, Previous, Uplink, assess
from leedswin.services import LocalInfluxDB, LocalMosquitto
from storage.devices import load_devices
from storage.registry import ApiKeys, Scope, open_registry
from tests.api.conftest import make_settings, serve

pytestmark = pytest.mark.integration

PUBLIC = "24e124710c400001"
HOME = "a81758fffe000001"
#: Stored as public (old tag), but the registry now says home: must stay hidden.
RECLASSIFIED = "a81758fffe000002"


@pytest.fixture(scope="module")
def fleet_api(
    tmp_path_factory: pytest.TempPathFactory, influxdb: LocalInfluxDB, mosquitto: LocalMosquitto
) -> Iterator[tuple[httpx.Client, dict[str, str]]]:
    tmp_path: Path = tmp_path_factory.mktemp("fleet_api")
    devices = tmp_path / "devices.yaml"
    devices.write_text(
        yaml.safe_dump(
            {
                "devices": [
                    {
                        "dev_eui": PUBLIC,
                        "model": "milesight-am319",
                        "site": "library",
                        "privacy": "public",
                        "ward": "Headingley",
                        "lat": 53.8,
                        "lon": -1.5,
                        "uplink_interval": 600,
                    },
                    {
                        "dev_eui": HOME,
                        "model": "elsys-ers",
                        "site": "home-7f3a",
                        "privacy": "home",
                        "ward": "Armley",
                        "uplink_interval": 600,
                    },
                    {
                        "dev_eui": RECLASSIFIED,
                        "model": "elsys-ers",
                        "site": "home-11",
                        "privacy": "home",
                        "ward": "Armley",
                        "uplink_interval": 600,
                    },
                ]
            }
        )
    )
    api_settings, influx, mqtt = make_settings(tmp_path, influxdb, mosquitto, "fleet_api")
    store = FleetStore(api_settings.registry)
    records = load_devices(devices)
    now = datetime.now(UTC)
    ups = [Uplink(now - timedelta(hours=3) + timedelta(minutes=10 * i), i) for i in range(5)]
    healths = [
        assess(
            {
                "dev_eui": eui,
                "privacy": "public" if eui != HOME else "home",
                "site": r.site,
                "model": r.model,
            },
            ups,
            r if eui != RECLASSIFIED else None,
            Previous(),
            now,
            FleetSettings(),
        )
        for eui, r in records.items()
    ]
    store.record(healths, now)
    conn = open_registry(api_settings.registry)
    keys = ApiKeys(conn)
    tokens = {scope.value: keys.create(f"{scope.value} key", scope)[1] for scope in Scope}
    conn.close()
    app = create_app(api_settings, influx, mqtt, devices)
    with serve(app) as base_url, httpx.Client(base_url=base_url) as client:
        yield client, tokens


def get(api: tuple[httpx.Client, dict[str, str]], path: str, scope: str) -> httpx.Response:
    client, tokens = api
    return client.get(path, headers={"X-API-Key": tokens[scope]})


def test_public_keys_are_refused(fleet_api: tuple[httpx.Client, dict[str, str]]) -> None:
    assert get(fleet_api, "/v1/fleet/devices", "public").status_code == 403
    assert get(fleet_api, "/v1/fleet/events", "public").status_code == 403


def test_operations_sees_public_devices_only(
    fleet_api: tuple[httpx.Client, dict[str, str]],
) -> None:
    body = get(fleet_api, "/v1/fleet/devices", "operations").json()
    assert [d["dev_eui"] for d in body["data"]] == [PUBLIC]
    assert body["states"] == {"silent": 1}
    device = body["data"][0]
    assert (device["link"], device["missed_uplinks"], device["ward"]) == (
        "silent",
        13,
        "Headingley",
    )
    assert "lat" not in device
    assert get(fleet_api, f"/v1/fleet/devices/{HOME}", "operations").status_code == 404
    assert get(fleet_api, f"/v1/fleet/devices/{RECLASSIFIED}", "operations").status_code == 404
    events = get(fleet_api, "/v1/fleet/events", "operations").json()["data"]
    assert {e["dev_eui"] for e in events} == {PUBLIC}


@pytest.mark.parametrize("scope", ["housing", "admin"])
def test_housing_and_admin_see_homes_by_ward(
    fleet_api: tuple[httpx.Client, dict[str, str]], scope: str
) -> None:
    body = get(fleet_api, "/v1/fleet/devices", scope).json()
    assert {d["dev_eui"] for d in body["data"]} == {PUBLIC, HOME, RECLASSIFIED}
    home = get(fleet_api, f"/v1/fleet/devices/{HOME}", scope).json()
    assert (home["device"]["site"], home["device"]["ward"], home["device"]["privacy"]) == (
        "home-7f3a",
        "Armley",
        "home",
    )
    assert [e["state"] for e in home["events"]] == ["silent"]


def test_snooze_acknowledge_and_bad_input(
    fleet_api: tuple[httpx.Client, dict[str, str]],
) -> None:
    client, tokens = fleet_api
    headers = {"X-API-Key": tokens["operations"]}
    r = client.post(f"/v1/fleet/devices/{PUBLIC}/snooze", json={"hours": 2}, headers=headers)
    assert r.status_code == 200 and r.json()["snoozed_until"]
    r = client.post(f"/v1/fleet/devices/{PUBLIC}/acknowledge", headers=headers)
    assert r.json() == {"acknowledged": 1}
    assert (
        get(fleet_api, "/v1/fleet/events", "operations").json()["data"][0]["acknowledged_by"]
        == "operations key"
    )
    for body in ({"hours": -1}, {"hours": "soon"}, {}):
        r = client.post(f"/v1/fleet/devices/{PUBLIC}/snooze", json=body, headers=headers)
        assert r.status_code == 422
    r = client.post(f"/v1/fleet/devices/{HOME}/acknowledge", headers=headers)
    assert r.status_code == 404
    assert get(fleet_api, "/v1/fleet/devices/not-an-eui", "operations").status_code == 422
    assert get(fleet_api, "/v1/fleet/devices?link=broken", "operations").status_code == 422
