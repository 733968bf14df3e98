"""Tenancies through the housing API on the real servers: CRUD, and evidence cut at move-in."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from api.main import create_app
from core.settings import InsightsSettings
from insights.alerts import AlertStore
from insights.jobs import InsightsJobs, floor_hour
from leedswin.services import LocalInfluxDB, LocalMosquitto
from storage.influx import V1Sink
from storage.points import encode
from storage.query import InfluxQL
from storage.registry import open_registry
from storage.tenancy import Tenancies
from tests.api.conftest import ApiHarness, Dataset, make_keys, make_settings, serve
from tests.insights.test_jobs_integration import climate

pytestmark = pytest.mark.integration

DEV = "d0000000000000c3"
PUBLIC = "a0000000000000c7"
UNTIL = floor_hour(datetime.now(UTC))
MOVE_IN = UNTIL - timedelta(days=2)


@pytest.fixture(scope="module")
def harness(
    tmp_path_factory: pytest.TempPathFactory, influxdb: LocalInfluxDB, mosquitto: LocalMosquitto
) -> Iterator[ApiHarness]:
    tmp_path = tmp_path_factory.mktemp("tenancies")
    settings = make_settings(tmp_path, influxdb, mosquitto, f"ten_{time.time_ns()}")
    api_settings, influx_settings, _ = settings
    start = UNTIL - timedelta(days=9)
    sink = V1Sink(influx_settings)
    sink.ensure_database()
    sink.write(encode(climate(DEV, start, 7 * 24, 19.0, 85.0)))  # the old household: damp
    sink.write(encode(climate(DEV, MOVE_IN, 2 * 24, 21.0, 45.0)))  # the new one: dry
    conn = open_registry(api_settings.registry)
    store = Tenancies(conn)
    store.create_property("P-100")
    store.assign(DEV, "P-100", start - timedelta(days=30))
    store.open_tenancy("P-100", start - timedelta(days=30), "TEN-OLD1")
    store.end_tenancy("TEN-OLD1", MOVE_IN)
    store.open_tenancy("P-100", MOVE_IN, "TEN-NEW2")
    with InfluxQL(influx_settings) as query:
        jobs = InsightsJobs(InsightsSettings(), query, sink, AlertStore(conn), tenancies=store)
        assert jobs.run(start, UNTIL).alerts_opened  # the old household's damp raised one
    conn.close()
    sink.close()
    keys = make_keys(api_settings.registry)
    devices = tmp_path / "devices.yaml"
    devices.write_text(
        "devices:\n"
        f"  - {{dev_eui: {PUBLIC}, model: elsys_ers_co2, site: briggate, privacy: public}}\n"
        f"  - {{dev_eui: {DEV}, model: milesight_em300_th, site: home-c3, privacy: home}}\n"
    )
    app = create_app(*settings, device_registry=devices)
    with serve(app) as base_url, httpx.Client(base_url=base_url) as client:
        yield ApiHarness(client, keys, Dataset({}, 0, 0), api_settings)


def test_evidence_holds_only_the_current_tenancy(harness: ApiHarness) -> None:
    body = harness.get(f"/v1/housing/homes/{DEV}", "housing", days=7).json()
    assert body["tenancy"] == "TEN-NEW2"
    times = [datetime.fromisoformat(row["time"]) for row in body["series"]]
    assert min(times) == MOVE_IN and len(times) == 2 * 24
    assert all(row["relative_humidity"] == 45.0 and row["risk"] == "low" for row in body["series"])
    assert body["alerts"] == []  # the old household's alert is not this one's evidence
    assert body["home"]["risk"] == "low"


def test_housing_staff_manage_properties_and_tenancies(harness: ApiHarness) -> None:
    h = {"X-API-Key": harness.keys.housing}
    post = harness.client.post
    assert post("/v1/housing/properties", json={"ref": "P-200"}, headers=h).status_code == 201
    assert post("/v1/housing/properties", json={"ref": "P-200"}, headers=h).status_code == 409
    assert post("/v1/housing/properties", json={"ref": "Flat 2"}, headers=h).status_code == 422
    placed = post(
        "/v1/housing/properties/P-200/devices",
        json={"dev_eui": "D0000000000000D4", "start": "2026-01-01"},
        headers=h,
    )
    assert placed.status_code == 201 and placed.json()["dev_eui"] == "d0000000000000d4"
    opened = post("/v1/housing/properties/P-200/tenancies", json={"start": "2026-01-01"}, headers=h)
    assert opened.status_code == 201
    ref = opened.json()["ref"]
    again = post(
        "/v1/housing/properties/P-200/tenancies",
        json={"start": "2026-02-01", "ref": "TEN-0003"},
        headers=h,
    )
    assert again.status_code == 409
    named = post(
        "/v1/housing/properties/P-200/tenancies",
        json={"start": "2026-02-01", "ref": "Mrs Jones"},
        headers=h,
    )
    assert named.status_code == 422
    ended = post(
        f"/v1/housing/tenancies/{ref}/end", json={"end": "2026-03-01T00:00:00Z"}, headers=h
    )
    assert ended.status_code == 200 and ended.json()["end"].startswith("2026-03-01")
    assert (
        post(f"/v1/housing/tenancies/{ref}/end", json={"end": "2026-04-01"}, headers=h).status_code
        == 409
    )
    assert harness.get("/v1/housing/tenancies/TEN-404", "housing").status_code == 404
    prop = harness.get("/v1/housing/properties/P-200", "housing").json()
    assert [t["ref"] for t in prop["tenancies"]] == [ref]
    assert [d["dev_eui"] for d in prop["devices"]] == ["d0000000000000d4"]
    public = {"X-API-Key": harness.keys.public}
    assert post("/v1/housing/properties", json={"ref": "P-300"}, headers=public).status_code == 403
    assert harness.get("/v1/housing/properties/P-200", "public").status_code == 403


@pytest.mark.parametrize(
    "start", ["0001-01-01T00:00:00+00:01", "9999-12-31T23:59:59-01:00", "1969-12-31T23:00:00Z"]
)
def test_times_the_stores_cannot_hold_are_a_typed_422(harness: ApiHarness, start: str) -> None:
    h = {"X-API-Key": harness.keys.housing}
    post = harness.client.post
    for path, body in (
        ("/v1/housing/properties/P-100/tenancies", {"start": start, "ref": "TY-9"}),
        ("/v1/housing/properties/P-100/devices", {"dev_eui": DEV, "start": start}),
        ("/v1/housing/tenancies/TEN-NEW2/end", {"end": start}),
    ):
        response = post(path, json=body, headers=h)
        assert response.status_code == 422, (path, response.text)
    assert harness.get("/v1/housing/properties/P-100", "housing").status_code == 200


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/housing/properties", {"ref": "P-300", "adress": "1 High St"}),
        ("/v1/housing/properties/P-100/devices", {"dev_eui": DEV, "start": "2026-01-01", "x": 1}),
        ("/v1/housing/properties/P-100/tenancies", {"start": "2026-01-01", "refs": "TY-3"}),
        ("/v1/housing/tenancies/TEN-NEW2/end", {"end": "2026-01-01", "force": True}),
        ("/v1/housing/devices/D0000000000000C3/end", {"end": "2026-01-01", "at": "now"}),
    ],
)
def test_unknown_body_keys_are_refused(harness: ApiHarness, path: str, body: object) -> None:
    response = harness.client.post(path, json=body, headers={"X-API-Key": harness.keys.housing})
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["type"] == "extra_forbidden"


def test_a_device_the_registry_marks_public_is_not_placed_in_a_home(harness: ApiHarness) -> None:
    h = {"X-API-Key": harness.keys.housing}
    path = "/v1/housing/properties/P-100/devices"
    refused = harness.client.post(
        path, json={"dev_eui": PUBLIC.upper(), "start": "2026-01-01"}, headers=h
    )
    assert refused.status_code == 409 and "public" in refused.json()["detail"]
    assert all(
        d["dev_eui"] != PUBLIC
        for d in harness.get("/v1/housing/properties/P-100", "housing").json()["devices"]
    )
    # A device the registry does not know is treated as a home: it may be placed.
    unknown = harness.client.post(
        path, json={"dev_eui": "d0000000000000c8", "start": "2026-01-01"}, headers=h
    )
    assert unknown.status_code == 201, unknown.text
