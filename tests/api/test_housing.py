"""Housing routes: homes by risk, evidence, Awaab's Law alerts and actions — housing keys only."""

from __future__ import annotations

import time
import typing
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from api.main import create_app
from api.routes.housing import Action
from core.settings import InsightsSettings
from insights.alerts import ACTIONS, AlertStore
from insights.jobs import InsightsJobs, floor_hour
from leedswin.services import LocalInfluxDB, LocalMosquitto
from storage.influx import V1Sink
from storage.points import encode
from storage.query import InfluxQL
from storage.registry import open_registry
from tests.api.conftest import ApiHarness, Dataset, make_keys, make_settings, serve
from tests.insights.test_jobs_integration import climate

pytestmark = pytest.mark.integration

DAMP = "d0000000000000a1"
DRY = "d0000000000000b2"
SPARSE = "d0000000000000c3"  # dry, but only its last 2 days reported


@pytest.fixture(scope="module")
def housing_api(
    tmp_path_factory: pytest.TempPathFactory, influxdb: LocalInfluxDB, mosquitto: LocalMosquitto
) -> Iterator[ApiHarness]:
    tmp_path = tmp_path_factory.mktemp("housing")
    settings = make_settings(tmp_path, influxdb, mosquitto, f"housing_{time.time_ns()}")
    api_settings, influx_settings, _ = settings
    until = floor_hour(datetime.now(UTC))
    start = until - timedelta(days=9)
    sink = V1Sink(influx_settings)
    sink.ensure_database()
    sink.write(encode(climate(DAMP, start, 9 * 24, 19.0, 80.0)))
    sink.write(encode(climate(DRY, start, 9 * 24, 20.5, 45.0)))
    sink.write(encode(climate(SPARSE, until - timedelta(days=2), 2 * 24, 20.5, 45.0)))
    conn = open_registry(api_settings.registry)
    with InfluxQL(influx_settings) as query:
        InsightsJobs(InsightsSettings(), query, sink, AlertStore(conn)).run(start, until)
    conn.close()
    sink.close()
    keys = make_keys(api_settings.registry)
    with serve(create_app(*settings)) as base_url, httpx.Client(base_url=base_url) as client:
        yield ApiHarness(client, keys, Dataset({}, 0, 0), api_settings)


@pytest.mark.parametrize(
    "path",
    [
        "/v1/housing/homes",
        f"/v1/housing/homes/{DAMP}",
        "/v1/housing/alerts",
        "/v1/housing/alerts/1",
    ],
)
def test_public_keys_and_anonymous_get_nothing(housing_api: ApiHarness, path: str) -> None:
    assert housing_api.get(path, "public").status_code == 403
    assert housing_api.get(path, None).status_code == 401
    response = housing_api.client.post(
        "/v1/housing/alerts/1/actions",
        json={"action": "acknowledged"},
        headers={"X-API-Key": housing_api.keys.public},
    )
    assert response.status_code == 403


def test_homes_listed_by_risk(housing_api: ApiHarness) -> None:
    body = housing_api.get("/v1/housing/homes", "housing").json()
    homes = [(h["dev_eui"], h["risk"], h["assessment"]) for h in body["data"]]
    assert homes[0] == (DAMP, "high", "complete")
    # A home rated low for lack of data says so; a dry one with a full week does not.
    assert sorted(homes[1:]) == [(DRY, "low", "complete"), (SPARSE, "low", "insufficient_data")]
    assert body["data"][0]["open_alert"] is not None
    assert body["data"][1]["open_alert"] is None
    assert body["data"][0]["evidence"]["surface80_7d"] == 1.0


def test_home_evidence(housing_api: ApiHarness) -> None:
    body = housing_api.get(f"/v1/housing/homes/{DAMP}", "housing", days=2).json()
    assert body["home"]["risk"] == "high"
    assert 47 <= len(body["series"]) <= 48
    assert {"surface_rh", "mould_index", "dew_point", "risk"} <= set(body["series"][-1])
    assert [a["level"] for a in body["alerts"]] == ["high"]
    assert housing_api.get("/v1/housing/homes/ffffffffffffffff", "housing").status_code == 404


def test_alert_deadlines_and_audit_trail(housing_api: ApiHarness) -> None:
    body = housing_api.get("/v1/housing/alerts", "housing").json()
    assert body["count"] == 1 and body["any_overdue"] is False
    alert = body["data"][0]
    steps = {s["step"]: s for s in alert["steps"]}
    assert set(steps) == {
        "emergency",
        "investigation",
        "written_summary",
        "safety_work",
        "preventative_work_start",
        "preventative_work_latest",
    }
    assert steps["emergency"]["applies"] is False  # high, not severe
    opened = datetime.fromisoformat(alert["opened_at"])
    assert datetime.fromisoformat(steps["investigation"]["deadline"]) > opened + timedelta(days=13)
    assert [e["action"] for e in alert["events"]] == ["opened"]

    response = housing_api.client.post(
        f"/v1/housing/alerts/{alert['id']}/actions",
        json={"action": "acknowledged", "note": "surveyor booked"},
        headers={"X-API-Key": housing_api.keys.housing},
    )
    assert response.status_code == 200
    events = response.json()["events"]
    assert [(e["action"], e["actor"], e["note"]) for e in events][-1] == (
        "acknowledged",
        "housing team",
        "surveyor booked",
    )
    investigated = housing_api.client.post(
        f"/v1/housing/alerts/{alert['id']}/actions",
        json={"action": "investigated"},
        headers={"X-API-Key": housing_api.keys.housing},
    ).json()
    steps = {s["step"]: s for s in investigated["steps"]}
    assert steps["investigation"]["done_at"] is not None
    # The written summary now counts from the real investigation: three working days away.
    assert datetime.fromisoformat(steps["written_summary"]["deadline"]) < datetime.now(
        UTC
    ) + timedelta(days=6)


def test_bad_actions_are_refused(housing_api: ApiHarness) -> None:
    headers = {"X-API-Key": housing_api.keys.housing}
    bad = housing_api.client.post(
        "/v1/housing/alerts/1/actions", json={"action": "ignored"}, headers=headers
    )
    assert bad.status_code == 422
    missing = housing_api.client.post(
        "/v1/housing/alerts/999/actions", json={"action": "note"}, headers=headers
    )
    assert missing.status_code == 404
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    later = housing_api.client.post(
        "/v1/housing/alerts/1/actions", json={"action": "note", "at": future}, headers=headers
    )
    assert later.status_code == 422


def test_route_actions_match_the_store() -> None:
    assert set(typing.get_args(Action)) == set(ACTIONS)


def test_actions_are_validated_before_they_are_stored(housing_api: ApiHarness) -> None:
    headers = {"X-API-Key": housing_api.keys.housing}
    alert = housing_api.get("/v1/housing/alerts", "housing", status="all").json()["data"][0]
    url = f"/v1/housing/alerts/{alert['id']}/actions"
    before = len(alert["events"])
    for at in ("0001-01-01T00:00:00Z", "1970-01-01T00:00:00Z", "9999-12-31T23:59:59Z"):
        response = housing_api.client.post(url, json={"action": "note", "at": at}, headers=headers)
        assert response.status_code == 422, (at, response.text)
    huge = "x" * 2_000_000
    response = housing_api.client.post(url, json={"action": "note", "note": huge}, headers=headers)
    assert response.status_code == 413 and len(response.content) < 1000
    long = "y" * 5000  # under the body limit, over the note's: refused without the echo
    response = housing_api.client.post(url, json={"action": "note", "note": long}, headers=headers)
    assert response.status_code == 422 and long not in response.text
    surrogate = '{"action":"note","note":"\\ud800"}'  # JSON escaping a lone surrogate
    response = housing_api.client.post(
        url, content=surrogate, headers={**headers, "Content-Type": "application/json"}
    )
    assert response.status_code == 422 and "surrogate" in response.text, response.text
    after = housing_api.get(f"/v1/housing/alerts/{alert['id']}", "housing").json()
    assert len(after["events"]) == before
    assert housing_api.get("/v1/housing/alerts", "housing").status_code == 200


def test_closing_twice_keeps_the_first_closed_at(housing_api: ApiHarness) -> None:
    headers = {"X-API-Key": housing_api.keys.housing}
    alert = housing_api.get("/v1/housing/alerts", "housing", status="all").json()["data"][0]
    url = f"/v1/housing/alerts/{alert['id']}/actions"
    first = housing_api.client.post(url, json={"action": "closed"}, headers=headers)
    assert first.status_code == 200
    closed_at = first.json()["closed_at"]
    again = housing_api.client.post(url, json={"action": "closed"}, headers=headers)
    assert again.status_code == 409
    now = housing_api.get(f"/v1/housing/alerts/{alert['id']}", "housing").json()
    assert now["closed_at"] == closed_at and now["status"] == "closed"


def test_a_record_that_cannot_be_rendered_never_takes_a_listing_down(
    housing_api: ApiHarness,
) -> None:
    """Written past the API (an old release, a hand edit): the rest of the list still shows."""
    conn = open_registry(housing_api.settings.registry)
    conn.execute(
        "INSERT INTO damp_alert_events (alert_id, at, actor, action, note)"
        " VALUES (1, '0001-01-01T00:00:00+00:00', 'legacy', 'investigated', '')"
    )
    conn.execute(
        "INSERT INTO damp_alerts (dev_eui, site, level, status, opened_at, evidence)"
        " SELECT dev_eui, site, level, 'open', 'not a time', evidence FROM damp_alerts WHERE id = 1"
    )
    conn.close()
    for status in ("open", "closed", "all"):
        response = housing_api.get("/v1/housing/alerts", "housing", status=status)
        assert response.status_code == 200, response.text
    listing = housing_api.get("/v1/housing/alerts", "housing", status="all").json()
    assert listing["skipped"] >= 1
    assert housing_api.get(f"/v1/housing/homes/{DAMP}", "housing").status_code == 200
